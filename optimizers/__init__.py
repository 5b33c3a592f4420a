"""Optimizers that update a list of ``Parameter`` objects, and lr schedules.

>>> import numpy as np
>>> from layers import Parameter
>>> p = Parameter(np.ones(3))
>>> opt = get_optimizer("adam", [p], lr=0.01)
>>> opt
Adam(lr=0.01, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.0; 1 parameter)
"""

from __future__ import annotations

from typing import Any, Iterable

from layers.base import Parameter
from optimizers.adagrad import AdaGrad
from optimizers.adam import Adam, AdamW
from optimizers.base import Optimizer
from optimizers.rmsprop import RMSprop
from optimizers.schedules import CosineAnnealingLR, ExponentialLR, LRScheduler, StepLR
from optimizers.sgd import SGD, Momentum, Nesterov

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "Nesterov",
    "AdaGrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "LRScheduler",
    "StepLR",
    "CosineAnnealingLR",
    "ExponentialLR",
    "OPTIMIZERS",
    "get_optimizer",
]

#: command-line names of the optimizers.
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def get_optimizer(name: str, params: Iterable[Parameter], **kwargs: Any) -> Optimizer:
    """Build the optimizer called ``name`` (case-insensitive) with ``kwargs``.

    Args:
        name: one of ``OPTIMIZERS``: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw.
        params: the parameters to optimise.
        **kwargs: the optimizer's hyperparameters (``lr`` is required for sgd).
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[key](params, **kwargs)
