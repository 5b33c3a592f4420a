"""Element-wise activations, the inference softmax and the perceptron's step.

Each keeps one cache (the input's mask or the output) from the last forward
and never writes into the arrays it is given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layers.base import FLOAT_DTYPES, Layer, check_array
from layers.device import array_module


class Activation(Layer):
    """Shared checks for parameter-free layers whose output has the input's shape.

    A subclass implements ``_forward(x)`` and ``_backward(dout)``; this class
    validates the arrays and guards against backward-before-forward.
    """

    def __init__(self) -> None:
        super().__init__()
        self.out_shape: tuple[int, ...] | None = None  # set by each forward
        self.in_dtype: np.dtype | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if type(x) is not np.ndarray or x.dtype not in FLOAT_DTYPES:
            check_array(self, x)
        out = self._forward(x)
        self.out_shape, self.in_dtype = out.shape, x.dtype
        return out

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.out_shape is None:
            raise self._missing_forward()
        if type(dout) is not np.ndarray or dout.dtype != self.in_dtype or dout.shape != self.out_shape:
            self._check_dout(dout, self.out_shape, self.in_dtype)
        if not input_grad:
            return None
        return self._backward(dout)

    def _forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError


_ZEROS: dict[np.dtype, np.ndarray] = {}


def zeros_shaped_like(x: np.ndarray) -> np.ndarray | None:
    """A read-only array of zeros with the shape and dtype of a C-contiguous NumPy ``x``, else None.

    ``np.maximum(x, 0)`` broadcasts the scalar and, in NumPy 2.4, runs a
    scalar loop; ``np.maximum(x, zeros)`` on two contiguous arrays runs a
    SIMD loop.  One zero buffer per dtype serves every layer, grown when a
    larger batch comes.
    """
    if type(x) is not np.ndarray or not x.flags.c_contiguous:
        return None
    zeros = _ZEROS.get(x.dtype)
    if zeros is None or zeros.size < x.size:
        zeros = np.zeros(max(x.size, 2 * (0 if zeros is None else zeros.size)), dtype=x.dtype)
        zeros.flags.writeable = False
        _ZEROS[x.dtype] = zeros
    return zeros[:x.size].reshape(x.shape)


class ReLU(Activation):
    """max(0, x); the gradient passes where x > 0 (a fresh array, ``dout`` untouched)."""

    def __init__(self) -> None:
        super().__init__()
        self.mask: np.ndarray | None = None  # x > 0 of the last forward

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        zeros = zeros_shaped_like(x)
        return array_module(x).maximum(x, 0 if zeros is None else zeros)

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        # float * float is a SIMD loop; float * bool casts element by element
        return array_module(dout).multiply(dout, self.mask.astype(dout.dtype))


class LeakyReLU(Activation):
    """x for x > 0, alpha * x otherwise.

    Args:
        alpha: slope for negative inputs, in [0, 1).
    """

    def __init__(self, alpha: float = 0.01) -> None:
        super().__init__()
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
            raise ValueError(f"LeakyReLU alpha must be a number in [0, 1), got {alpha!r}")
        self.alpha = float(alpha)
        self.mask: np.ndarray | None = None

    def config(self) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return array_module(x).where(self.mask, x, x * x.dtype.type(self.alpha))

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        return array_module(dout).where(self.mask, dout, dout * dout.dtype.type(self.alpha))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in x's dtype, accurate in both tails and without warnings.

    For x below about -88 (float32) exp(-x) overflows to inf and 1 / inf is
    the correct limit 0, so the overflow is silenced rather than avoided; for
    moderately negative x the tiny result keeps its relative precision.  Four
    NumPy passes, which run as SIMD loops; ``scipy.special.expit``'s float32
    loop is scalar and slower.
    """
    xp = array_module(x)
    y = xp.negative(x)
    with np.errstate(over="ignore"):
        xp.exp(y, out=y)
    y += 1
    return xp.reciprocal(y, out=y)


class Sigmoid(Activation):
    """1 / (1 + exp(-x)), computed without overflow for large |x|; dy/dx = y (1 - y)."""

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        y = self.out
        dx = 1 - y
        dx *= y
        dx *= dout
        return dx


class Tanh(Activation):
    """tanh(x); dy/dx = 1 - y²."""

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def _forward(self, x: np.ndarray) -> np.ndarray:
        self.out = array_module(x).tanh(x)
        return self.out

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        xp = array_module(dout)
        dx = xp.square(self.out)
        xp.subtract(1, dx, out=dx)
        dx *= dout
        return dx


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum so exp never overflows."""
    e = x - x.max(axis=axis, keepdims=True)
    array_module(e).exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


class Softmax(Activation):
    """Row-wise softmax over the last axis, for turning scores into probabilities.

    For training use ``losses.SoftmaxWithLoss``, which fuses softmax and
    cross-entropy; this layer's backward is the full Jacobian-vector product
    dx = y * (dout - sum(dout * y)).
    """

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if x.ndim < 1 or x.shape[-1] == 0:
            raise ValueError(f"Softmax: expected input of shape (N, C) with C >= 1, got {x.shape}")
        self.out = softmax(x)
        return self.out

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        y = self.out
        dx = dout * y
        dx -= y * dx.sum(axis=-1, keepdims=True)
        return dx


class Step(Activation):
    """The perceptron's threshold: ``high`` where x > 0, ``low`` elsewhere.

    Its derivative is zero almost everywhere, so backpropagation through it
    cannot learn anything: ``backward`` raises instead of returning zeros.

    Args:
        low: output for x <= 0 (0 for the textbook's step, -1 for a bipolar perceptron).
        high: output for x > 0.
    """

    def __init__(self, low: float = 0.0, high: float = 1.0) -> None:
        super().__init__()
        for name, value in (("low", low), ("high", high)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"Step {name} must be a finite number, got {value!r}")
        self.low, self.high = float(low), float(high)

    def config(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high}

    def _forward(self, x: np.ndarray) -> np.ndarray:
        return array_module(x).where(x > 0, x.dtype.type(self.high), x.dtype.type(self.low))

    def _backward(self, dout: np.ndarray) -> np.ndarray:
        raise RuntimeError(
            "Step has no useful gradient: its derivative is 0 everywhere except at 0, "
            "where it is undefined, so backpropagation cannot train through it. Use "
            "Sigmoid, Tanh or ReLU for a trainable network, or nn.Perceptron's learning rule."
        )
