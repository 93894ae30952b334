"""Training methods as LightningModules sharing one backbone and one attack interface."""

from benign.methods.adversarial_training import AdversarialTraining
from benign.methods.base import BenignModule, default_optimizer
from benign.methods.erm import ERM
from benign.methods.trades import TRADES, trades_loss

__all__ = [
    "ERM",
    "AdversarialTraining",
    "TRADES",
    "BenignModule",
    "default_optimizer",
    "trades_loss",
]
