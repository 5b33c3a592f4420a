"""One-pass in-place updates through the BLAS NumPy itself uses: ``axpy`` and ``axpby``.

NumPy has no fused multiply-add for arrays: ``w -= lr * d`` reads ``d``,
writes a temporary, then reads it and ``w`` again.  BLAS's ``axpy``
(``y += a x``) and OpenBLAS's ``axpby`` (``y = a x + b y``) do it in one
pass, on BLAS's own threads, which is why the optimizers' update rules
use them for large parameters.

The routines are called through ``ctypes`` from the very library NumPy
loaded (found with threadpoolctl), so they share NumPy's thread pool and
thread limit; a second BLAS, such as SciPy's own copy, would start a second
pool competing for the same cores.  The library is looked up and checked
against NumPy the first time an update asks for it, never on import.
Where it cannot be found (NumPy built against another BLAS, threadpoolctl
missing) or fails the check, when ``NN_NO_DIRECT_BLAS=1`` is set, or when
an array is not a NumPy array (a CuPy array, say), the functions decline
and the caller does the work with its array library.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["axpy", "axpby", "library", "warm_up", "MIN_SIZE", "DISABLE_ENV"]

_Routine = Callable[..., None]

#: set to 1 to keep every update in NumPy (to compare, or if a BLAS misbehaves).
DISABLE_ENV = "NN_NO_DIRECT_BLAS"

#: below this many elements NumPy's way costs less than a call through ctypes.
MIN_SIZE = 8192


class _Blas:
    """The routines, found on first use: ``routines[dtype] = (axpy, axpby)``."""

    def __init__(self) -> None:
        self.loaded = False
        self.path: str | None = None
        self.routines: dict[np.dtype, tuple[_Routine, _Routine]] = {}

    def load(self) -> None:
        self.loaded = True
        found = _numpy_openblas()
        if found is not None and _self_test(found[1]):
            self.path, self.routines = found
        warm_up()


_BLAS = _Blas()


def _numpy_openblas() -> tuple[str, dict[np.dtype, tuple[_Routine, _Routine]]] | None:
    """(path, routines per dtype) of the OpenBLAS bundled with NumPy's wheel, or None."""
    if os.environ.get(DISABLE_ENV, "").strip() not in ("", "0"):
        return None
    try:
        from threadpoolctl import threadpool_info
        libraries = threadpool_info()
    except Exception:  # threadpoolctl missing or unable to inspect this process
        return None
    numpy_dir = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    for info in libraries:
        path = info.get("filepath") or ""
        # A wheel keeps its BLAS beside the package: numpy.libs/ (Linux,
        # Windows) or numpy/.dylibs/ (macOS); SciPy's copy lives elsewhere.
        inside_numpy = os.path.basename(os.path.dirname(path)) in ("numpy.libs", ".dylibs") \
            and os.path.abspath(path).startswith(numpy_dir)
        if info.get("internal_api") != "openblas" or not inside_numpy:
            continue
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, the same thread pool
        except OSError:
            return None
        routines = {}
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        for prec, real, dtype in (("s", ctypes.c_float, np.float32), ("d", ctypes.c_double, np.float64)):
            # scipy-openblas names its ILP64 build's symbols scipy_cblas_?axpy64_.
            axpy_ = getattr(lib, f"scipy_cblas_{prec}axpy64_", None)
            axpby_ = getattr(lib, f"scipy_cblas_{prec}axpby64_", None)  # an OpenBLAS extension
            if axpy_ is None or axpby_ is None:
                return None
            axpy_.argtypes = [i64, real, ptr, i64, ptr, i64]
            axpby_.argtypes = [i64, real, ptr, i64, real, ptr, i64]
            axpy_.restype = axpby_.restype = None
            routines[np.dtype(dtype)] = (axpy_, axpby_)
        return path, routines
    return None


def _self_test(routines: dict[np.dtype, tuple[_Routine, _Routine]]) -> bool:
    """Run each routine on small arrays and compare with NumPy."""
    for dtype, (axpy_, axpby_) in routines.items():
        x = np.arange(1, 40, dtype=dtype)
        y = np.linspace(-1, 1, 39, dtype=dtype)
        z = y.copy()
        axpy_(x.size, -0.5, x.ctypes.data, 1, y.ctypes.data, 1)
        axpby_(x.size, 0.25, x.ctypes.data, 1, 3.0, z.ctypes.data, 1)
        base = np.linspace(-1, 1, 39)
        if not (np.allclose(y, base - 0.5 * x, rtol=1e-6, atol=0)
                and np.allclose(z, 0.25 * x + 3.0 * base, rtol=1e-6, atol=0)):
            return False
    return True


#: (m, k, n) of the warm-up product; see warm_up.
WARMUP_SHAPE = (256, 512, 2048)


def warm_up() -> None:
    """Run one float32 product of ``WARMUP_SHAPE`` through NumPy's BLAS.

    On some processors OpenBLAS ran the small products of a training step
    slowly until one product large enough to write its whole work buffer
    had run in the process (benchmarks/README.md has the measurements and
    ``benchmarks/roofline.py`` measures it).  One such product, once per
    process on first use of these routines, costs milliseconds and changes
    nothing where the effect does not occur.
    """
    m, k, n = WARMUP_SHAPE
    np.matmul(np.zeros((m, k), dtype=np.float32), np.zeros((k, n), dtype=np.float32))


def library() -> str | None:
    """Path of the BLAS library the updates call, or None when they decline (NumPy does the work)."""
    if not _BLAS.loaded:
        _BLAS.load()
    return _BLAS.path


def _address(m: np.ndarray) -> int:
    """Address of the first element of a C-contiguous array.

    ``m.ctypes.data`` builds a helper object at every access; a ctypes view
    of the array's buffer gives the same address faster.  An array without a
    writable buffer (read-only, or empty) takes the slow path.
    """
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(m))
    except (TypeError, ValueError, BufferError):
        return m.ctypes.data


def _routines(x: Any, y: Any) -> tuple[_Routine, _Routine] | None:
    """The routines for ``y`` if BLAS can update it from ``x`` element by element, else None."""
    if type(x) is not np.ndarray or type(y) is not np.ndarray or y.size < MIN_SIZE:
        return None  # another array library's arrays never reach ctypes
    if not _BLAS.loaded:
        _BLAS.load()
    routines = _BLAS.routines.get(y.dtype)
    if (routines is None or x.dtype != y.dtype or x.shape != y.shape
            or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable)):
        return None
    return routines


def axpy(alpha: Any, x: np.ndarray, y: np.ndarray) -> bool:
    """``y += alpha * x`` in place through BLAS, in one pass; True if done.

    Returns False, leaving ``y`` untouched, when BLAS cannot take the arrays
    (no usable BLAS, not NumPy arrays, different dtypes or shapes, not
    C-contiguous, ``y`` read-only, fewer than ``MIN_SIZE`` elements): the
    caller then does the update itself.  BLAS may fuse the multiply and
    the add, so results can differ from NumPy's in the last bit.
    """
    routines = _routines(x, y)
    if routines is None:
        return False
    routines[0](y.size, float(alpha), _address(x), 1, _address(y), 1)
    return True


def axpby(alpha: Any, x: np.ndarray, beta: Any, y: np.ndarray) -> bool:
    """``y = alpha * x + beta * y`` in place through BLAS, in one pass; True if done.

    Declines, leaving ``y`` untouched, on the same terms as ``axpy``.
    """
    routines = _routines(x, y)
    if routines is None:
        return False
    routines[1](y.size, float(alpha), _address(x), 1, float(beta), _address(y), 1)
    return True
