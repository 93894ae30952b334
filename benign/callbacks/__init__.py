"""Callbacks: robustness evaluation over eps, memorisation of noisy labels, run artefacts."""

from benign.callbacks.coarse import CoarseLogits
from benign.callbacks.fault_tolerance import EpochSeed, PreemptionCheckpoint
from benign.callbacks.memorization import Memorization, memorization_counts, memorization_rates
from benign.callbacks.noise_manifest import NoiseManifest
from benign.callbacks.prediction_writer import PredictionWriter
from benign.callbacks.robustness_eval import RobustnessEval, eps_key, validate_eps_list
from benign.callbacks.sanity import SanityCheckError, SanityReport
from benign.callbacks.wandb_artifacts import WandbRunArtifacts

__all__ = [
    "CoarseLogits",
    "EpochSeed",
    "Memorization",
    "NoiseManifest",
    "PredictionWriter",
    "PreemptionCheckpoint",
    "RobustnessEval",
    "SanityCheckError",
    "SanityReport",
    "eps_key",
    "memorization_counts",
    "memorization_rates",
    "validate_eps_list",
    "WandbRunArtifacts",
]
