"""RMSprop: steps scaled by a moving average of squared gradients."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np

from layers.base import Parameter
from layers.device import array_module
from optimizers.base import Optimizer, add_scaled, blend, fraction, non_negative, positive

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop`` (not centered).

    Update, with g = grad + weight_decay * p::

        s <- alpha * s + (1 - alpha) * g * g           (s starts at 0)
        plain:     p <- p - lr * g / (sqrt(s) + eps)
        momentum:  b <- momentum * b + g / (sqrt(s) + eps)   (b starts at 0)
                   p <- p - lr * b

    Args:
        params: the parameters to optimise, e.g. ``model.parameters()``.
        lr: learning rate, > 0.
        alpha: decay rate of the squared-gradient average, in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        momentum: momentum factor, >= 0 (0 turns momentum off).

    >>> p = Parameter(np.array([1.0]))
    >>> p.grad[...] = 3.0
    >>> opt = RMSprop([p], lr=0.01, alpha=0.75, eps=1e-8)
    >>> opt.step()
    >>> round(float(p.data[0]), 6)  # 1 - 0.01 * 3 / sqrt(0.25 * 9)
    0.98
    """

    state_keys = ("square_avg", "momentum_buffer")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum
        )

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        hyper = super()._check_hyperparameters(hyper)
        hyper["alpha"] = fraction("alpha", hyper["alpha"])
        hyper["eps"] = positive("eps", hyper["eps"])
        hyper["momentum"] = non_negative("momentum", hyper["momentum"])
        return hyper

    def _scalars(self, dtype: np.dtype) -> SimpleNamespace:
        h = super()._scalars(dtype)
        h.one_minus_alpha = dtype.type(1.0 - self.alpha)
        return h

    def _init_state(self, w: np.ndarray) -> dict[str, np.ndarray]:
        xp = array_module(w)
        state = {"square_avg": xp.zeros_like(w)}
        if self.momentum:
            state["momentum_buffer"] = xp.zeros_like(w)
        return state

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                h: SimpleNamespace, tmp: np.ndarray) -> None:
        xp = array_module(w)
        s = state["square_avg"]
        g2 = xp.multiply(g, g, out=tmp)
        blend(s, h.alpha, h.one_minus_alpha, g2, tmp)      # s <- alpha s + (1 - alpha) g²
        d = xp.sqrt(s, out=tmp)                            # d <- g / (sqrt(s) + eps)
        d += h.eps
        xp.divide(g, d, out=d)
        if self.momentum:
            b = state["momentum_buffer"]
            blend(b, h.momentum, 1, d, tmp)                # b <- momentum b + d
            d = b
        add_scaled(w, -h.lr, d, tmp)                       # w <- w - lr d
