"""AdaGrad: per-coordinate step sizes from the running sum of squared gradients."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np

from layers.base import Parameter
from layers.device import array_module
from optimizers.base import Optimizer, add_scaled, positive

__all__ = ["AdaGrad"]


class AdaGrad(Optimizer):
    """AdaGrad, as ``torch.optim.Adagrad`` (no lr decay, accumulator starts at 0).

    Update, with g = grad + weight_decay * p::

        h <- h + g * g
        p <- p - lr * g / (sqrt(h) + eps)

    Args:
        params: the parameters to optimise, e.g. ``model.parameters()``.
        lr: learning rate, > 0.
        eps: added to the denominator, > 0.
        weight_decay: L2 penalty added to the gradient, >= 0.

    >>> p = Parameter(np.array([1.0, 1.0]))
    >>> p.grad[...] = [2.0, -0.5]
    >>> opt = AdaGrad([p], lr=0.1)
    >>> opt.step()
    >>> p.data  # the first step moves every coordinate by lr * sign(g)
    array([0.9, 1.1])
    """

    state_keys = ("sum",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, eps=eps, weight_decay=weight_decay)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        hyper = super()._check_hyperparameters(hyper)
        hyper["eps"] = positive("eps", hyper["eps"])
        return hyper

    def _init_state(self, w: np.ndarray) -> dict[str, np.ndarray]:
        xp = array_module(w)
        return {"sum": xp.zeros_like(w)}

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                h: SimpleNamespace, tmp: np.ndarray) -> None:
        xp = array_module(w)
        total = state["sum"]
        total += xp.multiply(g, g, out=tmp)                # h <- h + g²
        d = xp.sqrt(total, out=tmp)                        # w <- w - lr g / (sqrt(h) + eps)
        d += h.eps
        xp.divide(g, d, out=d)
        add_scaled(w, -h.lr, d, tmp)
