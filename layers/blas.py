"""``blas_axpy``: ``y += alpha * x`` in one pass, through the BLAS that NumPy itself uses.

NumPy has no fused multiply-add for arrays: ``w -= lr * g`` reads ``g``,
writes a temporary, then reads it and ``w`` again.  In the SGD step of a
784-256-256-10 network on two threads that second pass costs a tenth of the
whole training step.  BLAS's ``axpy`` does it in one pass, and OpenBLAS spreads it over its
threads.

The routine is called through ``ctypes`` from the very library NumPy loaded
(found with threadpoolctl), so it shares NumPy's thread pool and thread
limit; a second BLAS, such as SciPy's own copy, would start a second pool
that competes for the same cores.  Where that library cannot be found (NumPy
built against another BLAS, threadpoolctl missing) or fails a check on
import, ``blas_axpy`` declines and the caller does the update with NumPy.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["blas_axpy", "blas_axpy_library", "MIN_SIZE"]

_Routine = Callable[..., None]


def _numpy_openblas() -> tuple[str, _Routine, _Routine] | None:
    """(path, saxpy, daxpy) of the OpenBLAS bundled with NumPy's wheel, or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    numpy_dir = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    for info in threadpool_info():
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
        routines = []
        for prec, ctype in (("s", ctypes.c_float), ("d", ctypes.c_double)):
            # scipy-openblas names its ILP64 build's symbols scipy_cblas_?axpy64_.
            fn = getattr(lib, f"scipy_cblas_{prec}axpy64_", None)
            if fn is None:
                return None
            fn.argtypes = [ctypes.c_int64, ctype, ctypes.c_void_p, ctypes.c_int64,
                           ctypes.c_void_p, ctypes.c_int64]
            fn.restype = None
            routines.append(fn)
        return path, routines[0], routines[1]
    return None


def _self_test(saxpy: _Routine, daxpy: _Routine) -> bool:
    """Run both routines on small arrays and compare with NumPy."""
    for dtype, fn in ((np.float32, saxpy), (np.float64, daxpy)):
        x = np.arange(1, 40, dtype=dtype)
        y = np.linspace(-1, 1, 39, dtype=dtype)
        expected = y + dtype(-0.5) * x
        fn(x.size, -0.5, x.ctypes.data, 1, y.ctypes.data, 1)
        if not np.allclose(y, expected, rtol=1e-6, atol=0):
            return False
    return True


_found = _numpy_openblas()
if _found is not None and not _self_test(_found[1], _found[2]):
    _found = None
_ROUTINES: dict[np.dtype, _Routine] = (
    {np.dtype(np.float32): _found[1], np.dtype(np.float64): _found[2]} if _found else {}
)


def blas_axpy_library() -> str | None:
    """Path of the BLAS library ``axpy`` calls, or None when it falls back to NumPy."""
    return _found[0] if _found else None


#: below this many elements NumPy's two passes cost less than the ctypes call (~3 µs).
MIN_SIZE = 8192


def blas_axpy(alpha: Any, x: np.ndarray, y: np.ndarray) -> bool:
    """``y += alpha * x`` in place through BLAS, in one pass; True if done.

    Returns False, leaving ``y`` untouched, when BLAS cannot take the arrays
    (no usable BLAS, different dtypes or shapes, not C-contiguous, ``y``
    read-only, fewer than ``MIN_SIZE`` elements): the caller then does the
    update with NumPy.  BLAS may fuse the multiply and the add, so results
    can differ from NumPy's in the last bit.
    """
    routine = _ROUTINES.get(y.dtype)
    if (routine is None or x.dtype != y.dtype or x.shape != y.shape or y.size < MIN_SIZE
            or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable)):
        return False
    routine(y.size, float(alpha), x.ctypes.data, 1, y.ctypes.data, 1)
    return True
