"""Batch normalisation for ``(N, D)`` features and ``(N, C, H, W)`` feature maps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layers.base import (Layer, Parameter, as_float_dtype, check_array, check_device_matches,
                         check_dtype_matches, check_positive_int)
from layers.device import array_module


class BatchNorm(Layer):
    """Normalise each feature (channel) to zero mean and unit variance, then scale and shift.

    ``out = gamma * (x - mean) / sqrt(var + eps) + beta``, with statistics per
    feature of a ``(N, D)`` input, or per channel over ``N, H, W`` of a
    ``(N, C, H, W)`` input.

    * Train mode uses the batch's mean and biased variance (divided by ``n``,
      the values per feature) and updates the running statistics
      ``running = momentum * running + (1 - momentum) * batch_stat``, where the
      running variance takes the **unbiased** batch variance (divided by
      ``n - 1``), as PyTorch does.  PyTorch's ``momentum`` is the complement
      of ours: ``BatchNorm(momentum=0.9)`` matches ``torch.nn.BatchNorm1d(momentum=0.1)``.
      A batch with one value per feature (``N == 1``, or ``N*H*W == 1`` for
      images) has no variance and is refused with a ValueError.  A batch whose
      mean or variance is not finite (NaN or infinity in it, or an overflow)
      leaves the running statistics unchanged; NaN in the batch shows in the
      output, and so in the loss, which the trainer reports.
    * Eval mode normalises with ``running_mean`` and ``running_var``, which
      start at zeros and ones (so a fresh layer in eval mode is the identity
      up to eps), and its backward is that of the fixed affine map.

    ``running_mean`` and ``running_var`` are buffers: ``buffers()`` returns
    them, so checkpoints keep them.

    Args:
        num_features: ``D`` of a ``(N, D)`` input or ``C`` of a ``(N, C, H, W)`` input.
        momentum: weight of the old running statistics, in [0, 1].
        eps: added to the variance before the square root, > 0.
        dtype: float32 (default) or float64, for parameters, buffers and computation.

    Shape:
        input ``(N, D)`` or ``(N, C, H, W)``; output the same.

    >>> bn = BatchNorm(3)
    >>> out = bn(np.array([[1, 2, 3], [3, 6, 9]], dtype=np.float32))
    >>> out.round(3)
    array([[-1., -1., -1.],
           [ 1.,  1.,  1.]], dtype=float32)
    >>> bn.running_mean, bn.running_var
    (array([0.2, 0.4, 0.6], dtype=float32), array([1.1, 1.7, 2.7], dtype=float32))
    """

    def __init__(self, num_features: int, momentum: float = 0.9, eps: float = 1e-5,
                 dtype: Any = np.float32) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) \
                or not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm momentum must be a number in [0, 1], got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) \
                or not math.isfinite(eps) or eps <= 0:
            raise ValueError(f"BatchNorm eps must be a positive number, got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.dtype = as_float_dtype(dtype)
        self.gamma = Parameter(np.ones(self.num_features, dtype=self.dtype), name="gamma")
        self.beta = Parameter(np.zeros(self.num_features, dtype=self.dtype), name="beta")
        self.running_mean = np.zeros(self.num_features, dtype=self.dtype)
        self.running_var = np.ones(self.num_features, dtype=self.dtype)
        self.xhat: np.ndarray | None = None     # the normalised input of the last forward
        self.inv_std: np.ndarray | None = None  # 1 / sqrt(var + eps), broadcastable to x
        self.used_batch_stats: bool | None = None  # train mode (batch statistics) last forward?

    def describe(self) -> str:
        return f"BatchNorm({self.num_features})"

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "momentum": self.momentum,
                "eps": self.eps, "dtype": self.dtype.name}

    def buffers(self) -> dict[str, np.ndarray]:
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        d = (check_positive_int(config.get("num_features"), "num_features"),)
        return {"gamma": d, "beta": d, "running_mean": d, "running_var": d}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check_shape(tuple(input_shape))
        return tuple(input_shape)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) not in (2, 4) or shape[1] != self.num_features:
            d = self.num_features
            raise ValueError(f"{self.describe()}: expected input of shape (N, {d}) or "
                             f"(N, {d}, H, W), got {shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        self._check_shape(x.shape)
        check_dtype_matches(self, x, self.dtype)
        check_device_matches(self, x, self.gamma.data)
        xp = array_module(x)
        axes, shape = self._axes(x.ndim)
        dt = self.dtype.type
        if self.training:
            n = x.size // self.num_features
            if n < 2:
                raise ValueError(
                    f"{self.describe()}: a training batch needs at least 2 values per feature "
                    f"to estimate a variance, got input of shape {x.shape}; use a larger batch, "
                    f"or call .eval() to normalise with the running statistics"
                )
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = xp.square(xc).mean(axis=axes)
            # A batch holding NaN or infinity (diverged weights, bad data) would make the
            # running statistics NaN for good: they keep their last finite values instead.
            if bool(xp.isfinite(mean).all()) and bool(xp.isfinite(var).all()):
                keep, blend = dt(self.momentum), dt(1 - self.momentum)
                self.running_mean *= keep
                self.running_mean += blend * mean
                self.running_var *= keep
                self.running_var += dt((1 - self.momentum) * n / (n - 1)) * var  # unbiased
        else:
            xc = x - self.running_mean.reshape(shape)
            var = self.running_var
        inv_std = 1 / xp.sqrt(var + dt(self.eps))
        xc *= inv_std.reshape(shape)  # xc is our own array: it becomes xhat
        self.xhat, self.inv_std, self.used_batch_stats = xc, inv_std.reshape(shape), self.training
        out = xc * self.gamma.data.reshape(shape)
        out += self.beta.data.reshape(shape)
        return out

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.xhat is None:
            raise self._missing_forward()
        self._check_dout(dout, self.xhat.shape, self.dtype)
        axes, shape = self._axes(dout.ndim)
        dbeta = dout.sum(axis=axes)
        dgamma = (dout * self.xhat).sum(axis=axes)
        self.beta.grad += dbeta
        self.gamma.grad += dgamma
        if not input_grad:
            return None
        scale = self.gamma.data.reshape(shape) * self.inv_std
        if not self.used_batch_stats:
            return dout * scale
        # The compact form of the batch-statistics gradient:
        # dx = gamma / sigma * (dout - mean(dout) - xhat * mean(dout * xhat)).
        n = dout.size // self.num_features
        dt = self.dtype.type
        dx = self.xhat * (dgamma * dt(1 / n)).reshape(shape)
        array_module(dx).subtract(dout, dx, out=dx)
        dx -= (dbeta * dt(1 / n)).reshape(shape)
        dx *= scale
        return dx

    @staticmethod
    def _axes(ndim: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Reduction axes and the broadcast shape of per-feature statistics."""
        return ((0,), (1, -1)) if ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))
