"""Adam and AdamW: bias-corrected moving averages of the gradient and its square."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np

from layers.base import Parameter
from layers.device import array_module
from optimizers.base import Optimizer, add_scaled, blend, fraction, positive

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (weight decay is an L2 term in the gradient).

    Update at step t = 1, 2, ..., with g = grad + weight_decay * p::

        m <- beta1 * m + (1 - beta1) * g                  (m, v start at 0)
        v <- beta2 * v + (1 - beta2) * g * g
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: the parameters to optimise, e.g. ``model.parameters()``.
        lr: learning rate, > 0.
        betas: decay rates (beta1, beta2) of the two averages, each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: L2 penalty added to the gradient, >= 0.

    >>> p = Parameter(np.array([1.0, 1.0]))
    >>> p.grad[...] = [4.0, -0.01]
    >>> opt = Adam([p], lr=0.1)
    >>> opt.step()
    >>> p.data.round(6)  # the first step moves every coordinate by about lr
    array([0.9, 1.1])
    """

    state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        hyper = super()._check_hyperparameters(hyper)
        betas = hyper["betas"]
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        hyper["betas"] = (fraction("betas[0]", betas[0]), fraction("betas[1]", betas[1]))
        hyper["eps"] = positive("eps", hyper["eps"])
        return hyper

    def _scalars(self, dtype: np.dtype) -> SimpleNamespace:
        # The bias corrections fold into two scalars, formed in float64 and cast
        # once (as torch does): with c = sqrt(1 - beta2**t),
        #   lr / (1 - beta1**t) * m / (sqrt(v) / c + eps) = step_size * m / (sqrt(v) + eps_hat)
        # for step_size = lr / (1 - beta1**t) * c and eps_hat = eps * c: two passes fewer.
        h = super()._scalars(dtype)
        (beta1, beta2), t, cast = self.betas, self.steps, dtype.type
        c = math.sqrt(1.0 - beta2**t)
        h.beta1, h.beta2 = cast(beta1), cast(beta2)
        h.one_minus_beta1, h.one_minus_beta2 = cast(1.0 - beta1), cast(1.0 - beta2)
        h.step_size = cast(self.lr / (1.0 - beta1**t) * c)
        h.eps_hat = cast(self.eps * c)
        h.decay = cast(1.0 - self.lr * self.weight_decay)
        return h

    def _init_state(self, w: np.ndarray) -> dict[str, np.ndarray]:
        xp = array_module(w)
        return {"exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)}

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                h: SimpleNamespace, tmp: np.ndarray) -> None:
        xp = array_module(w)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        blend(m, h.beta1, h.one_minus_beta1, g, tmp)       # m <- beta1 m + (1 - beta1) g
        g2 = xp.multiply(g, g, out=tmp)
        blend(v, h.beta2, h.one_minus_beta2, g2, tmp)      # v <- beta2 v + (1 - beta2) g²
        step = xp.sqrt(v, out=tmp)                         # w <- w - step_size m / (sqrt(v) + eps_hat)
        step += h.eps_hat
        xp.divide(m, step, out=step)
        add_scaled(w, -h.step_size, step, tmp)


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay.

    Update at step t = 1, 2, ..., with g = grad (no L2 term)::

        p <- p * (1 - lr * weight_decay)
        m <- beta1 * m + (1 - beta1) * g                  (m, v start at 0)
        v <- beta2 * v + (1 - beta2) * g * g
        p <- p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Args:
        params: the parameters to optimise, e.g. ``model.parameters()``.
        lr: learning rate, > 0.
        betas: decay rates (beta1, beta2) of the two averages, each in [0, 1).
        eps: added to the denominator, > 0.
        weight_decay: decoupled decay rate, >= 0.

    >>> p = Parameter(np.array([1.0]))
    >>> opt = AdamW([p], lr=0.1, weight_decay=0.5)
    >>> opt.step()  # zero gradient: only the decay acts
    >>> p.data
    array([0.95])
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _gradient(self, i: int, p: Parameter, h: SimpleNamespace) -> np.ndarray:
        return p.grad  # the decay acts on w directly, not through the gradient

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                h: SimpleNamespace, tmp: np.ndarray) -> None:
        if self.weight_decay:
            w *= h.decay                                   # w <- w (1 - lr weight_decay)
        super()._update(w, g, state, h, tmp)
