"""Where the pieces are put together: Sequential, gradient checking, training, checkpoints.

>>> import nn
>>> from layers import Affine, ReLU
>>> model = nn.Sequential([Affine(784, 100), ReLU(), Affine(100, 10)])
"""

from nn._packages import check_packages
from nn._version import __version__

check_packages()  # before anything imports `layers` or `datasets`: a namesake would win silently

from layers import Parameter
from nn.checkpoint import (CheckpointError, load_metadata, load_model, load_optimizer_state,
                           load_weights, save_model)
from nn.gradcheck import GradCheckReport, gradcheck, numerical_gradient
from nn.history import History
from nn.models import mlp, simple_convnet
from nn.perceptron import Perceptron, PerceptronRecord
from nn.restarts import RestartResult, Restarts, best_of_restarts
from nn.search import SearchResult, Trial, random_search
from nn.sequential import Sequential
from nn.trainer import DivergenceError, Trainer, TrainingInterrupted, count_correct, evaluate

__all__ = [
    "CheckpointError", "DivergenceError", "GradCheckReport", "History", "Parameter", "Sequential",
    "Trainer", "TrainingInterrupted", "count_correct", "evaluate", "gradcheck", "load_metadata",
    "load_model", "load_optimizer_state", "load_weights", "mlp", "numerical_gradient", "save_model",
    "simple_convnet", "Perceptron", "PerceptronRecord", "RestartResult", "Restarts", "best_of_restarts",
    "__version__", "SearchResult", "Trial", "random_search",
]

# Loaded on first use, and left out of __all__: each needs an optional extra
# (scikit-learn) that `import nn` must not import.
_LAZY = {"MLPClassifier": "nn.estimators", "ConvNetClassifier": "nn.estimators"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nn' has no attribute {name!r}")
