"""Training methods as LightningModules sharing one backbone and one attack interface."""

from benign.methods.adversarial_training import AdversarialTraining
from benign.methods.base import BenignModule, default_optimizer
from benign.methods.erm import ERM
from benign.methods.trades import TRADES, trades_loss
from benign.registry import Registry

#: Short names of the methods (``--model at``); class names (``--model TRADES``) work as well.
METHODS = Registry(
    "method",
    {
        "erm": "benign.methods.ERM",
        "at": "benign.methods.AdversarialTraining",
        "trades": "benign.methods.TRADES",
    },
)

__all__ = [
    "METHODS",
    "ERM",
    "AdversarialTraining",
    "TRADES",
    "BenignModule",
    "default_optimizer",
    "trades_loss",
]
