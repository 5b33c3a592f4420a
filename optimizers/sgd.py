"""Stochastic gradient descent, with optional (Nesterov) momentum."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np

from layers.base import Parameter
from layers.device import array_module
from optimizers.base import Optimizer, add_scaled, blend, non_negative

__all__ = ["SGD", "Momentum", "Nesterov"]


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` with dampening 0.

    Update, with g = grad + weight_decay * p::

        plain:     p <- p - lr * g
        momentum:  v <- momentum * v + g     (v = g on the first step)
                   p <- p - lr * v
        nesterov:  p <- p - lr * (g + momentum * v)

    Args:
        params: the parameters to optimise, e.g. ``model.parameters()``.
        lr: learning rate, > 0.
        momentum: momentum factor, >= 0 (0 turns momentum off).
        nesterov: use Nesterov momentum; needs ``momentum > 0``.
        weight_decay: L2 penalty added to the gradient, >= 0.

    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad[...] = [0.5, -1.0]
    >>> opt = SGD([p], lr=0.1)
    >>> opt.step()
    >>> p.data
    array([0.95, 2.1 ])
    """

    state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        hyper = super()._check_hyperparameters(hyper)
        hyper["momentum"] = non_negative("momentum", hyper["momentum"])
        if not isinstance(hyper["nesterov"], (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False, got {hyper['nesterov']!r}")
        hyper["nesterov"] = bool(hyper["nesterov"])
        if hyper["nesterov"] and hyper["momentum"] == 0:
            raise ValueError(
                f"nesterov momentum requires momentum > 0, got momentum={hyper['momentum']}"
            )
        return hyper

    def _init_state(self, w: np.ndarray) -> dict[str, np.ndarray]:
        xp = array_module(w)
        # v = 0 makes the first step's v = momentum * 0 + g = g exactly
        return {"momentum_buffer": xp.zeros_like(w)} if self.momentum else {}

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                h: SimpleNamespace, tmp: np.ndarray) -> None:
        xp = array_module(w)
        d = g
        if self.momentum:
            v = state["momentum_buffer"]
            blend(v, h.momentum, 1, g, tmp)              # v <- momentum v + g
            if self.nesterov:
                d = xp.multiply(v, h.momentum, out=tmp)  # d <- g + momentum v
                d += g
            else:
                d = v
        add_scaled(w, -h.lr, d, tmp)                     # w <- w - lr d


class Momentum(SGD):
    """SGD with classical momentum (``SGD(momentum=0.9)``).

    Update, with g = grad + weight_decay * p::

        v <- momentum * v + g        (v = g on the first step)
        p <- p - lr * v

    The textbook form ``v <- momentum * v - lr * g; p <- p + v`` (v starting
    at 0) keeps ``-lr`` times this velocity, so it follows the same trajectory
    for a constant lr; they differ only once a schedule changes lr, where this
    form (PyTorch's) rescales the accumulated velocity too.

    Args:
        params: the parameters to optimise.
        lr: learning rate, > 0.
        momentum: momentum factor, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.

    >>> p = Parameter(np.array([1.0]))
    >>> opt = Momentum([p], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     p.grad[...] = 1.0
    ...     opt.step()
    >>> p.data  # 1 - 0.1 * 1 - 0.1 * (0.9 + 1)
    array([0.71])
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


class Nesterov(SGD):
    """SGD with Nesterov momentum (``SGD(momentum=0.9, nesterov=True)``).

    Update, with g = grad + weight_decay * p::

        v <- momentum * v + g        (v = g on the first step)
        p <- p - lr * (g + momentum * v)

    In the textbook's velocity form this is ``v <- momentum * v - lr * g;
    p <- p + momentum * v - lr * g``, i.e. ``p += momentum**2 * v_old -
    (1 + momentum) * lr * g`` with the velocity from *before* the update: the
    same trajectory for a constant lr.  (Code that adds ``momentum**2 * v``
    after updating v follows a different rule.)

    Args:
        params: the parameters to optimise.
        lr: learning rate, > 0.
        momentum: momentum factor, > 0.
        weight_decay: L2 penalty added to the gradient, >= 0.

    >>> p = Parameter(np.array([1.0]))
    >>> p.grad[...] = 1.0
    >>> opt = Nesterov([p], lr=0.1, momentum=0.5)
    >>> opt.step()
    >>> p.data  # 1 - 0.1 * (1 + 0.5 * 1)
    array([0.85])
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay
        )
