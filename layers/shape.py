"""Layers that only change the shape of a batch."""

from __future__ import annotations

import math

import numpy as np

from layers.base import Layer, check_array


class Flatten(Layer):
    """``(N, d1, d2, ...)`` -> ``(N, d1*d2*...)``; backward reshapes the gradient back.

    ``forward`` returns a view of ``x`` when ``x`` is contiguous (layers never
    write into their inputs); ``backward`` returns a new array, so a caller may
    change ``dx`` without touching ``dout``.

    Shape:
        input ``(N, *dims)`` with at least one dim; output ``(N, prod(dims))``.

    >>> Flatten()(np.zeros((32, 30, 12, 12), dtype=np.float32)).shape
    (32, 4320)
    """

    def __init__(self) -> None:
        super().__init__()
        self.x_shape: tuple[int, ...] | None = None  # input shape of the last forward
        self.in_dtype: np.dtype | None = None

    def describe(self) -> str:
        return "Flatten()"

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) < 2:
            raise ValueError(f"Flatten: expected input of shape (N, ...) with at least 2 "
                             f"dimensions, got {tuple(input_shape)}")
        return (input_shape[0], math.prod(input_shape[1:]))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        out_shape = self.output_shape(x.shape)
        self.x_shape, self.in_dtype = x.shape, x.dtype
        return x.reshape(out_shape)

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.x_shape is None:
            raise self._missing_forward()
        self._check_dout(dout, self.output_shape(self.x_shape), self.in_dtype)
        if not input_grad:
            return None
        return dout.reshape(self.x_shape).copy()
