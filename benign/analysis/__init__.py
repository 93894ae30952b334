"""Measurements of trained models beyond accuracy (pure torch): decision-boundary complexity."""
