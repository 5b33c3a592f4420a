"""Checks every layer's tests share: one gradient checker, dtype and no-mutation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from layers import Layer
from layers.device import device_of, get_device, to_numpy
from nn import gradcheck


def away_from_zero(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """float64 standard normals with |x| >= 0.1, so h = 1e-4 never crosses a kink at 0."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.copysign(0.1, x) + x, x)


def assert_gradients_match(layer: Layer, x: np.ndarray, device: str = "cpu", **kwargs) -> None:
    """The shared float64 gradient check for the input and every parameter, on ``device``."""
    report = gradcheck(layer.to(device), x, **kwargs)
    assert report.passed, str(report)
    assert report.max_norm_rel < 1e-6, str(report)


def assert_dtype_preserved(make: Callable[[np.dtype], Layer], shape: tuple[int, ...],
                           dtype: np.dtype, device: str = "cpu") -> None:
    """float32 in -> float32 out, parameters and gradients (likewise float64), on ``device``."""
    on = get_device(device)
    layer = make(dtype).to(on)
    x = on.asarray(away_from_zero(shape).astype(dtype))
    out = layer.forward(x)
    assert out.dtype == dtype and device_of(out) is on
    dx = layer.backward(on.xp.ones_like(out))
    assert dx.dtype == dtype and device_of(dx) is on
    for p in layer.parameters():
        assert p.data.dtype == dtype and p.grad.dtype == dtype
        assert p.device is on and device_of(p.grad) is on


def assert_inputs_unchanged(layer: Layer, x: np.ndarray, device: str = "cpu") -> None:
    """Neither forward's x nor backward's dout is written into (on ``device``)."""
    on = get_device(device)
    layer.to(on)
    x_dev = on.asarray(x.copy())
    out = layer.forward(x_dev)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    dout_dev = on.asarray(dout.copy())
    dx = layer.backward(dout_dev)
    np.testing.assert_array_equal(to_numpy(x_dev), x)
    np.testing.assert_array_equal(to_numpy(dout_dev), dout)
    assert dx is not dout_dev
    dx_host = to_numpy(dx)
    dx_host_before = dx_host.copy()
    dout_dev[...] = 0  # dx must not be a view of dout: changing dout leaves dx alone
    np.testing.assert_array_equal(to_numpy(dx), dx_host_before)
