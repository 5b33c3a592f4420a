"""The optimizers' one-pass BLAS updates (optimizers/blas.py): same results as NumPy,
declines what it cannot take, found on first use and never on import."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from layers import Parameter
from optimizers import SGD, blas

BIG = blas.MIN_SIZE * 3 + 5  # above the size threshold, and not a multiple of any SIMD width


def numpy_bundles_openblas() -> bool:
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return bool(glob.glob(os.path.join(libs, "libscipy_openblas*")))


def test_numpy_wheels_openblas_is_found():
    if not numpy_bundles_openblas():
        pytest.skip("this NumPy is not a wheel with its own OpenBLAS; the NumPy route is used")
    assert blas.library() is not None
    assert "openblas" in os.path.basename(blas.library())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(BIG).astype(dtype)
    y = rng.standard_normal(BIG).astype(dtype)
    expected = y - dtype(0.3) * x
    done = blas.axpy(-0.3, x, y)
    assert done == (blas.library() is not None)
    if done:
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
        assert y.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpby_matches_numpy(dtype):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(BIG).astype(dtype)
    y = rng.standard_normal(BIG).astype(dtype)
    expected = dtype(0.1) * x + dtype(0.9) * y
    done = blas.axpby(0.1, x, 0.9, y)
    assert done == (blas.library() is not None)
    if done:
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


class NotQuiteNumPy(np.ndarray):
    """Stands for another library's array type: not ``np.ndarray`` itself."""


@pytest.mark.parametrize("case", ["small", "strided", "dtypes", "shapes", "readonly", "2-D F",
                                  "subclass x", "subclass y", "list"])
def test_blas_declines_and_leaves_y_alone(case):
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
    elif case == "2-D F":
        x, y = x[:BIG - 5].reshape(-1, 8).T, np.asfortranarray(y[:BIG - 5].reshape(-1, 8).T)
    elif case == "subclass x":
        x = x.view(NotQuiteNumPy)
    elif case == "subclass y":
        y = y.view(NotQuiteNumPy)
    elif case == "list":
        x = x.tolist()
    before = np.array(y, copy=True)
    assert blas.axpy(-0.5, x, y) is False
    assert blas.axpby(-0.5, x, 2.0, y) is False
    np.testing.assert_array_equal(y, before)


def test_axpy_on_a_2d_parameter():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 100)).astype(np.float32)
    y = rng.standard_normal((300, 100)).astype(np.float32)
    expected = y + np.float32(2.0) * x
    if blas.axpy(2.0, x, y):
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
    blas.library()  # loaded, so that emptying the routines sticks
    monkeypatch.setattr(blas._BLAS, "routines", {})
    without = run()
    np.testing.assert_allclose(with_blas, without, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["C", "1-D", "read-only", "empty"])
def test_address_is_numpys_data_pointer(case):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    m = {"C": a, "1-D": a[1], "read-only": a.copy(), "empty": a[:0]}[case]
    if case == "read-only":
        m.flags.writeable = False
    assert blas._address(m) == m.ctypes.data


def run_python(code: str, **env: str) -> str:
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_environment_variable_turns_the_direct_calls_off():
    assert run_python("from optimizers import blas; print(blas.library())",
                      NN_NO_DIRECT_BLAS="1") == "None"


def test_importing_the_framework_looks_up_no_blas_and_runs_no_product():
    code = ("import nn, optimizers, layers, losses, datasets\n"
            "from optimizers import blas\n"
            "print(blas._BLAS.loaded)\n")
    assert run_python(code) == "False"


def test_the_first_large_update_loads_the_routines():
    code = ("import numpy as np\n"
            "from layers import Parameter\n"
            "from optimizers import SGD, blas\n"
            f"p = Parameter(np.ones({BIG}))\n"
            "opt = SGD([p], lr=0.1)\n"
            "print(blas._BLAS.loaded)\n"
            "opt.step()\n"
            "print(blas._BLAS.loaded)\n")
    assert run_python(code).split() == ["False", "True"]
