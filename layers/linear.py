"""The fully connected layer and the weight initialisations it offers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layers.base import (Init, Layer, Parameter, as_float_dtype, check_array, check_device_matches,
                         check_dtype_matches, check_positive_int, init_std, make_rng)
from layers.device import array_module, sum_over

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
        # x.T @ dout lands here when it must be added to gradients already accumulated:
        # one reused buffer instead of an (in, out) allocation per backward.
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
        if (type(x) is not type(self.W.data) or x.dtype != self.dtype or x.ndim != 2
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
        check_device_matches(self, x, self.W.data)
        return x.reshape(x.shape[0], self.in_features)

    def _scratch(self) -> np.ndarray:
        """An (in, out) array reused across backward passes for x.T @ dout."""
        if self._dW is None or self._dW.dtype != self.W.data.dtype or type(self._dW) is not type(self.W.data):
            self._dW = array_module(self.W.data).empty_like(self.W.data)
        return self._dW

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.x is None:
            raise self._missing_forward()
        if (type(dout) is not type(self.W.data) or dout.dtype != self.dtype
                or dout.shape != (self.x.shape[0], self.out_features)):
            self._check_dout(dout, (self.x.shape[0], self.out_features), self.dtype)
        xp = array_module(dout)
        dx = (dout @ self.W.data.T).reshape(self.x_shape) if input_grad else None
        grad_w = self.W.grad_to_overwrite()
        if grad_w is not None:  # right after zero_grad(): no temporary, no addition
            xp.matmul(self.x.T, dout, out=grad_w)
        else:
            self.W.grad += xp.matmul(self.x.T, dout, out=self._scratch())
        grad_b = self.b.grad_to_overwrite()
        if grad_b is not None:
            sum_over(dout, axis=0, out=grad_b)
        else:
            self.b.grad += sum_over(dout, axis=0)
        return dx
