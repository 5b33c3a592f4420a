"""The fully connected layer and the weight initialisations it offers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layers.base import Layer, Parameter, as_float_dtype, check_array, check_dtype_matches
from layers.blas import blas_gemm_update

Init = str | float


def init_std(init: Init, fan_in: int) -> float:
    """Standard deviation of the initial weights for ``init``.

    ``"he"`` gives sqrt(2 / fan_in) (for ReLU), ``"xavier"`` gives
    sqrt(1 / fan_in) (the textbook's form, for sigmoid and tanh), and a
    positive number is used as the standard deviation itself (e.g. 0.01).
    """
    if isinstance(init, str):
        if init == "he":
            return math.sqrt(2.0 / fan_in)
        if init == "xavier":
            return math.sqrt(1.0 / fan_in)
        raise ValueError(f'init must be "he", "xavier" or a positive std, got {init!r}')
    if isinstance(init, bool) or not isinstance(init, (int, float)):
        raise ValueError(f'init must be "he", "xavier" or a positive std, got {init!r}')
    if not math.isfinite(init) or init <= 0:
        raise ValueError(f"init std must be a positive finite number, got {init!r}")
    return float(init)


def make_rng(rng: Any) -> np.random.Generator:
    """Accept a Generator, a seed or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Affine(Layer):
    """Fully connected layer: ``out = x @ W + b``.

    Input of higher rank, such as images of shape ``(N, 1, 28, 28)``, is
    flattened to ``(N, in_features)``; the gradient is reshaped back.

    Args:
        in_features: size of each input sample (after flattening).
        out_features: size of each output sample.
        init: ``"he"``, ``"xavier"`` or a standard deviation such as 0.01.
        rng: a ``np.random.Generator`` or an int seed for the initial weights.
        dtype: float32 (default) or float64, for parameters and computation.

    Shape:
        input ``(N, in_features)`` or ``(N, *dims)`` with ``prod(dims) == in_features``;
        output ``(N, out_features)``.

    >>> layer = Affine(784, 100, rng=0)
    >>> layer(np.zeros((32, 784), dtype=np.float32)).shape
    (32, 100)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init: Init = "he",
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        self.out_features = check_positive_int(out_features, "out_features")
        self.init = init
        self.dtype = as_float_dtype(dtype)
        std = init_std(init, self.in_features)
        weights = make_rng(rng).standard_normal((self.in_features, self.out_features), dtype=self.dtype)
        weights *= self.dtype.type(std)
        self.W = Parameter(weights, name="W")
        self.b = Parameter(np.zeros(self.out_features, dtype=self.dtype), name="b")
        self.x: np.ndarray | None = None  # input of the last forward, flattened to 2-D
        self.x_shape: tuple[int, ...] | None = None
        # x.T @ dout lands here before it is added to W.grad or W: reusing one buffer
        # spares an (in, out) allocation per backward, which the profile showed to be costly.
        self._dW: np.ndarray | None = None

    def describe(self) -> str:
        return f"Affine({self.in_features} -> {self.out_features})"

    def config(self) -> dict[str, Any]:
        init = self.init if isinstance(self.init, str) else float(self.init)
        return {"in_features": self.in_features, "out_features": self.out_features,
                "init": init, "dtype": self.dtype.name}

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        n_in = check_positive_int(config.get("in_features"), "in_features")
        n_out = check_positive_int(config.get("out_features"), "out_features")
        return {"W": (n_in, n_out), "b": (n_out,)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0], self.out_features)

    def forward(self, x: np.ndarray) -> np.ndarray:
        # The common case, a (N, in_features) array of the right dtype, passes one
        # test; anything else gets the full checks and their messages.
        if (type(x) is not np.ndarray or x.dtype != self.dtype or x.ndim != 2
                or x.shape[1] != self.in_features):
            x2 = self._flatten_input(x)
        else:
            x2 = x
        self.x, self.x_shape = x2, x.shape
        out = x2 @ self.W.data
        out += self.b.data
        return out

    def _flatten_input(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        if x.ndim < 2 or math.prod(x.shape[1:]) != self.in_features:
            raise ValueError(
                f"{self.describe()}: expected input of shape (N, {self.in_features}) "
                f"or (N, ...) with {self.in_features} values per sample, got {x.shape}"
            )
        check_dtype_matches(self, x, self.dtype)
        return x.reshape(x.shape[0], self.in_features)

    def _scratch(self) -> np.ndarray:
        """A (in, out) array reused across backward passes for x.T @ dout."""
        if self._dW is None or self._dW.dtype != self.W.data.dtype:
            self._dW = np.empty_like(self.W.data)
        return self._dW

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.x is None:
            raise self._missing_forward()
        if (type(dout) is not np.ndarray or dout.dtype != self.dtype
                or dout.shape != (self.x.shape[0], self.out_features)):
            self._check_dout(dout, (self.x.shape[0], self.out_features), self.dtype)
        # dL/dx first: a step applied below changes W.
        dx = (dout @ self.W.data.T).reshape(self.x_shape) if input_grad else None
        lr = self.W.step_in_backward_lr()
        if lr is not None:  # the optimizer's plain SGD step, applied here (see Parameter)
            if not blas_gemm_update(-lr, self.x, dout, self.W.data):  # one GEMM, beta = 1
                step = np.matmul(self.x.T, dout, out=self._scratch())
                step *= lr
                self.W.data -= step
            self.W.mark_stepped()
        else:
            grad_w = self.W.grad_to_overwrite()
            if grad_w is not None:  # right after zero_grad(): no temporary, no addition
                np.matmul(self.x.T, dout, out=grad_w)
            else:
                self.W.grad += np.matmul(self.x.T, dout, out=self._scratch())
        lr = self.b.step_in_backward_lr()
        if lr is not None:
            self.b.data -= lr * np.add.reduce(dout, axis=0)
            self.b.mark_stepped()
        else:
            grad_b = self.b.grad_to_overwrite()
            if grad_b is not None:
                np.add.reduce(dout, axis=0, out=grad_b)
            else:
                self.b.grad += np.add.reduce(dout, axis=0)
        return dx
