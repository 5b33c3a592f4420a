"""Adam and AdamW: bias-corrected moving averages of the gradient and its square."""

from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from layers.base import Parameter
from layers.blas import blas_axpby, blas_axpy
from optimizers.base import Optimizer, fraction, positive

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
    #: AdamW shrinks p directly instead of adding weight_decay * p to g.
    decoupled_weight_decay = False

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

    def _scalars(self, dtype: np.dtype) -> dict[str, np.floating]:
        # Step-dependent factors are formed in float64 and cast once, as torch does.
        h = super()._scalars(dtype)
        beta1, beta2 = self.betas
        t = self.steps
        cast = dtype.type
        h.update(
            beta1=cast(beta1),
            one_minus_beta1=cast(1.0 - beta1),
            beta2=cast(beta2),
            one_minus_beta2=cast(1.0 - beta2),
            step_size_c2=cast(self.lr / (1.0 - beta1**t) * math.sqrt(1.0 - beta2**t)),
            eps_c2=cast(self.eps * math.sqrt(1.0 - beta2**t)),
            decay=cast(1.0 - self.lr * self.weight_decay),
        )
        return h

    def _init_state(self, p: Parameter) -> dict[str, np.ndarray]:
        return {"exp_avg": np.zeros_like(p.data), "exp_avg_sq": np.zeros_like(p.data)}

    def _update(
        self, i: int, p: Parameter, state: dict[str, np.ndarray], h: dict[str, np.floating]
    ) -> None:
        if self.decoupled_weight_decay:
            g = p.grad
            if self.weight_decay:
                p.data *= h["decay"]
        else:
            g = self._decayed_grad(i, p, h)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        tmp = self._buffer(i, p, 1)
        # m <- beta1 m + (1 - beta1) g  and  v <- beta2 v + (1 - beta2) g², one BLAS pass each
        if not blas_axpby(h["one_minus_beta1"], g, h["beta1"], m):
            m *= h["beta1"]
            m += np.multiply(g, h["one_minus_beta1"], out=tmp)
        np.multiply(g, g, out=tmp)
        if not blas_axpby(h["one_minus_beta2"], tmp, h["beta2"], v):
            v *= h["beta2"]
            tmp *= h["one_minus_beta2"]
            v += tmp
        # p <- p - step_size m / (sqrt(v) / c2 + eps), written as
        # p <- p - (step_size c2) m / (sqrt(v) + eps c2): two passes fewer.
        np.sqrt(v, out=tmp)
        tmp += h["eps_c2"]
        np.divide(m, tmp, out=tmp)
        if not blas_axpy(-h["step_size_c2"], tmp, p.data):
            tmp *= h["step_size_c2"]
            p.data -= tmp


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

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
