"""Checks every layer's tests share: one gradient checker, dtype and no-mutation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from layers import Layer
from nn import gradcheck


def away_from_zero(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """float64 standard normals with |x| >= 0.1, so h = 1e-4 never crosses a kink at 0."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.copysign(0.1, x) + x, x)


def assert_gradients_match(layer: Layer, x: np.ndarray, **kwargs) -> None:
    """The shared float64 gradient check for the input and every parameter."""
    report = gradcheck(layer, x, **kwargs)
    assert report.passed, str(report)
    assert report.max_norm_rel < 1e-6, str(report)


def assert_dtype_preserved(make: Callable[[np.dtype], Layer], shape: tuple[int, ...],
                           dtype: np.dtype) -> None:
    """float32 in -> float32 out, parameters and gradients (likewise float64)."""
    layer = make(dtype)
    x = away_from_zero(shape).astype(dtype)
    out = layer.forward(x)
    assert out.dtype == dtype
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == dtype
    for p in layer.parameters():
        assert p.data.dtype == dtype and p.grad.dtype == dtype


def assert_inputs_unchanged(layer: Layer, x: np.ndarray) -> None:
    """Neither forward's x nor backward's dout is written into."""
    x_before = x.copy()
    out = layer.forward(x)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    dout_before = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(dout, dout_before)
    assert dx is not dout and not np.shares_memory(dx, dout)
