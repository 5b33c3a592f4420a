"""Computational-graph nodes with two inputs: the chain rule in its smallest form.

These are the textbook's ``AddLayer`` and ``MulLayer``: they work on plain
numbers or on arrays of one shape, and their ``backward`` returns the pair
``(dx, dy)``. They are for building graphs by hand, not for ``Sequential``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layers.base import Layer

Value = float | np.ndarray


def _as_operands(node: Layer, x: Any, y: Any) -> tuple[Value, Value]:
    for name, v in (("x", x), ("y", y)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number, np.ndarray)):
            raise TypeError(f"{type(node).__name__}: expected {name} as a number or a NumPy "
                            f"array, got {type(v).__name__}")
    if np.shape(x) != np.shape(y):
        raise ValueError(f"{type(node).__name__}: expected x and y of the same shape, "
                         f"got {np.shape(x)} and {np.shape(y)}")
    return x, y


def _result(v: Any) -> Value:
    """Keep plain numbers plain, so the shopping example prints 715.0, not array(715.)."""
    return v.item() if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0) else v


class Add(Layer):
    """out = x + y; backward passes the upstream gradient to both inputs unchanged.

    >>> node = Add()
    >>> node.forward(200.0, 450.0)
    650.0
    >>> node.backward(1.1)
    (1.1, 1.1)
    """

    def __init__(self) -> None:
        super().__init__()
        self.shape: tuple[int, ...] | None = None  # shape of the last forward's inputs

    def forward(self, x: Value, y: Value) -> Value:  # type: ignore[override]
        x, y = _as_operands(self, x, y)
        self.shape = np.shape(x)
        return _result(x + y)

    def backward(self, dout: Value, *, input_grad: bool = True) -> tuple[Value, Value]:  # type: ignore[override]
        if self.shape is None:
            raise self._missing_forward()
        if np.shape(dout) != self.shape:
            raise ValueError(f"Add: expected dout of shape {self.shape}, got {np.shape(dout)}")
        dx = dout.copy() if isinstance(dout, np.ndarray) else dout
        dy = dout.copy() if isinstance(dout, np.ndarray) else dout
        return dx, dy


class Mul(Layer):
    """out = x * y; backward swaps the inputs: dx = dout * y, dy = dout * x.

    >>> node = Mul()
    >>> node.forward(100.0, 2.0)
    200.0
    >>> node.backward(1.0)
    (2.0, 100.0)
    """

    def __init__(self) -> None:
        super().__init__()
        self.x: Value | None = None
        self.y: Value | None = None

    def forward(self, x: Value, y: Value) -> Value:  # type: ignore[override]
        self.x, self.y = _as_operands(self, x, y)
        return _result(x * y)

    def backward(self, dout: Value, *, input_grad: bool = True) -> tuple[Value, Value]:  # type: ignore[override]
        if self.x is None:
            raise self._missing_forward()
        if np.shape(dout) != np.shape(self.x):
            raise ValueError(f"Mul: expected dout of shape {np.shape(self.x)}, got {np.shape(dout)}")
        return _result(dout * self.y), _result(dout * self.x)
