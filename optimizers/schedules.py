"""Learning-rate schedules: called once per epoch, they set ``optimizer.lr``.

Each schedule records the optimizer's lr when it is created as ``base_lr``
and computes the lr of epoch ``t`` in closed form (the same values as
``torch.optim.lr_scheduler``).  Epoch 0 uses ``base_lr``; ``step()`` at the
end of an epoch moves to the next one.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from optimizers.base import Optimizer, non_negative, positive

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "ExponentialLR"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


class LRScheduler:
    """Base class: ``epoch`` counts calls to ``step()``; subclasses give ``_lr_at``."""

    hyper_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, optimizer: Optimizer, **hyper: Any) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__} expects an Optimizer, got {type(optimizer).__name__}"
            )
        for name, value in self._check_hyperparameters(hyper).items():
            setattr(self, name, value)
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0
        optimizer.lr = self.get_lr()

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def get_lr(self) -> float:
        """The learning rate for the current epoch."""
        return self._lr_at(self.epoch)

    @property
    def lr(self) -> float:
        return self.get_lr()

    def step(self) -> float:
        """Advance one epoch, set and return the optimizer's new lr."""
        self.epoch += 1
        self.optimizer.lr = lr = self.get_lr()
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "base_lr": self.base_lr,
            "epoch": self.epoch,
            "hyperparameters": {name: getattr(self, name) for name in self.hyper_names},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()`` and set the optimizer's lr for that epoch."""
        name = type(self).__name__
        if state_dict.get("type") != name:
            raise ValueError(
                f"{name}: state dict was saved from {state_dict.get('type')}, not {name}"
            )
        hyper = dict(state_dict["hyperparameters"])
        if set(hyper) != set(self.hyper_names):
            raise ValueError(
                f"{name}: state dict has hyperparameters {sorted(hyper)}, "
                f"expected {sorted(self.hyper_names)}"
            )
        hyper = self._check_hyperparameters(hyper)
        base_lr = non_negative("base_lr", state_dict["base_lr"])
        epoch = state_dict["epoch"]
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"{name}: epoch must be a non-negative integer, got {epoch!r}")
        for key, value in hyper.items():
            setattr(self, key, value)
        self.base_lr, self.epoch = base_lr, int(epoch)
        self.optimizer.lr = self.get_lr()

    def __repr__(self) -> str:
        args = "".join(f", {n}={getattr(self, n)!r}" for n in self.hyper_names)
        return f"{type(self).__name__}(base_lr={self.base_lr!r}{args}, epoch={self.epoch})"


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs.

    ``lr(t) = base_lr * gamma ** (t // step_size)``

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        step_size: epochs between decays, a positive integer.
        gamma: decay factor, > 0.

    >>> from layers import Parameter
    >>> from optimizers import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> schedule = StepLR(opt, step_size=2, gamma=0.5)
    >>> [schedule.step() for _ in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    hyper_names = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer, step_size=step_size, gamma=gamma)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return {
            "step_size": _positive_int("step_size", hyper["step_size"]),
            "gamma": positive("gamma", hyper["gamma"]),
        }

    def _lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the lr by ``gamma`` every epoch.

    ``lr(t) = base_lr * gamma ** t``

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        gamma: decay factor, > 0.

    >>> from layers import Parameter
    >>> from optimizers import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> schedule = ExponentialLR(opt, gamma=0.5)
    >>> schedule.step(), opt.lr
    (0.5, 0.5)
    """

    hyper_names = ("gamma",)

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer, gamma=gamma)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return {"gamma": positive("gamma", hyper["gamma"])}

    def _lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Anneal the lr from ``base_lr`` to ``eta_min`` along half a cosine over ``t_max`` epochs.

    ``lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2``

    Past ``t_max`` the formula keeps going (the lr rises again, reaching
    ``base_lr`` at ``2 * t_max``), as torch's scheduler does; size ``t_max``
    to the number of epochs.

    Args:
        optimizer: the optimizer whose ``lr`` is scheduled.
        t_max: epochs to go from ``base_lr`` down to ``eta_min``, a positive integer.
        eta_min: the smallest lr, >= 0.

    >>> from layers import Parameter
    >>> from optimizers import SGD
    >>> opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    >>> schedule = CosineAnnealingLR(opt, t_max=2)
    >>> [round(schedule.step(), 12) for _ in range(2)]
    [0.5, 0.0]
    """

    hyper_names = ("t_max", "eta_min")

    def __init__(self, optimizer: Optimizer, t_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer, t_max=t_max, eta_min=eta_min)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        return {
            "t_max": _positive_int("t_max", hyper["t_max"]),
            "eta_min": non_negative("eta_min", hyper["eta_min"]),
        }

    def _lr_at(self, epoch: int) -> float:
        cosine = (1.0 + math.cos(math.pi * epoch / self.t_max)) / 2.0
        return self.eta_min + (self.base_lr - self.eta_min) * cosine
