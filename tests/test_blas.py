"""The BLAS fast path (layers/blas.py): same results as NumPy, declines what it cannot take."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from layers import Parameter, blas
from optimizers import SGD

BIG = blas.MIN_SIZE * 3 + 5  # above the size threshold, and not a multiple of any SIMD width


def numpy_bundles_openblas() -> bool:
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return bool(glob.glob(os.path.join(libs, "libscipy_openblas*")))


def test_numpy_wheels_openblas_is_found():
    if not numpy_bundles_openblas():
        pytest.skip("this NumPy is not a wheel with its own OpenBLAS; the NumPy route is used")
    assert blas.blas_axpy_library() is not None
    assert "openblas" in os.path.basename(blas.blas_axpy_library())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(BIG).astype(dtype)
    y = rng.standard_normal(BIG).astype(dtype)
    expected = y - dtype(0.3) * x
    done = blas.blas_axpy(-0.3, x, y)
    assert done == (blas.blas_axpy_library() is not None)
    if done:
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
        assert y.dtype == dtype


@pytest.mark.parametrize("case", ["small", "strided", "dtypes", "shapes", "readonly"])
def test_axpy_declines_and_leaves_y_alone(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(BIG).astype(np.float32)
    y = rng.standard_normal(BIG).astype(np.float32)
    if case == "small":
        x, y = x[:10].copy(), y[:10].copy()
    elif case == "strided":
        x = np.repeat(x, 2)[::2]
    elif case == "dtypes":
        x = x.astype(np.float64)
    elif case == "shapes":
        y = y[:-1].copy()
    elif case == "readonly":
        y.flags.writeable = False
    before = y.copy()
    assert blas.blas_axpy(-0.5, x, y) is False
    np.testing.assert_array_equal(y, before)


def test_axpy_on_a_2d_parameter():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 100)).astype(np.float32)
    y = rng.standard_normal((300, 100)).astype(np.float32)
    expected = y + np.float32(2.0) * x
    if blas.blas_axpy(2.0, x, y):
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                                    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)])
def test_sgd_same_trajectory_with_and_without_blas(monkeypatch, kwargs):
    rng = np.random.default_rng(3)
    start = rng.standard_normal((200, 100)).astype(np.float32)
    grads = [rng.standard_normal((200, 100)).astype(np.float32) for _ in range(5)]

    def run() -> np.ndarray:
        p = Parameter(start)
        opt = SGD([p], **kwargs)
        for g in grads:
            opt.zero_grad()
            p.grad[...] = g
            opt.step()
            np.testing.assert_array_equal(p.grad, g)  # the optimizer never writes p.grad
        return p.data

    with_blas = run()
    monkeypatch.setattr(blas, "_ROUTINES", {})
    without = run()
    np.testing.assert_allclose(with_blas, without, rtol=1e-5, atol=1e-6)
