"""One-pass updates through the BLAS NumPy itself uses: axpy, axpby and a GEMM with beta = 1.

NumPy has no fused multiply-add for arrays: ``w -= lr * g`` reads ``g``,
writes a temporary, then reads it and ``w`` again.  In the SGD step of a
784-256-256-10 network on two threads that second pass costs a tenth of the
whole training step.  BLAS's ``axpy`` does it in one pass on OpenBLAS's
threads, and a GEMM with ``beta = 1`` can add ``-lr * x.T @ dout`` straight
into the weights, so the gradient need not be stored at all.

The routines are called through ``ctypes`` from the very library NumPy
loaded (found with threadpoolctl), so they share NumPy's thread pool and
thread limit; a second BLAS, such as SciPy's own copy, would start a second
pool that competes for the same cores.  Where that library cannot be found
(NumPy built against another BLAS, threadpoolctl missing) or fails a check
on import, or when ``NN_NO_DIRECT_BLAS=1`` is set, the functions decline and
the caller does the work with NumPy.

On import the module also runs one large product, ``warm_up_blas``: on one
of this project's machines OpenBLAS ran small products 2-3x slower until one
had.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["blas_axpy", "blas_axpby", "blas_gemm_update", "blas_library", "warm_up_blas", "MIN_SIZE"]

_Routine = Callable[..., None]

#: set to 1 to keep every update in NumPy (to compare, or if a BLAS misbehaves).
DISABLE_ENV = "NN_NO_DIRECT_BLAS"
#: set to 1 to skip the product that warms the BLAS's buffers on import (see warm_up_blas).
NO_WARMUP_ENV = "NN_NO_BLAS_WARMUP"


def _numpy_openblas() -> tuple[str, tuple[_Routine, ...], tuple[_Routine, ...]] | None:
    """(path, single-precision routines, double-precision routines) of the
    OpenBLAS bundled with NumPy's wheel, each ``(axpy, gemm, axpby)``; or None."""
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
        routines = []
        i64, ptr, enum = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
        for prec, real in (("s", ctypes.c_float), ("d", ctypes.c_double)):
            # scipy-openblas names its ILP64 build's symbols scipy_cblas_?axpy64_.
            axpy = getattr(lib, f"scipy_cblas_{prec}axpy64_", None)
            gemm = getattr(lib, f"scipy_cblas_{prec}gemm64_", None)
            axpby = getattr(lib, f"scipy_cblas_{prec}axpby64_", None)  # an OpenBLAS extension
            if axpy is None or gemm is None or axpby is None:
                return None
            axpy.argtypes = [i64, real, ptr, i64, ptr, i64]
            gemm.argtypes = [enum, enum, enum, i64, i64, i64, real, ptr, i64, ptr, i64, real, ptr, i64]
            axpby.argtypes = [i64, real, ptr, i64, real, ptr, i64]
            axpy.restype = gemm.restype = axpby.restype = None
            routines.append((axpy, gemm, axpby))
        return path, routines[0], routines[1]
    return None


def _self_test(single: tuple[_Routine, ...], double: tuple[_Routine, ...]) -> bool:
    """Run the routines on small arrays and compare with NumPy."""
    for dtype, (axpy, gemm, axpby) in ((np.float32, single), (np.float64, double)):
        x = np.arange(1, 40, dtype=dtype)
        y = np.linspace(-1, 1, 39, dtype=dtype)
        z = y.copy()
        expected = y + dtype(-0.5) * x
        axpy(x.size, -0.5, x.ctypes.data, 1, y.ctypes.data, 1)
        axpby(x.size, 0.25, x.ctypes.data, 1, 3.0, z.ctypes.data, 1)
        if not np.allclose(z, 0.25 * x + 3.0 * np.linspace(-1, 1, 39), rtol=1e-6, atol=0):
            return False
        a = x[:12].reshape(4, 3)
        b = x[12:32].reshape(4, 5)
        c = np.ones((3, 5), dtype=dtype)
        gemm(_ROW_MAJOR, _TRANS, _NO_TRANS, 3, 5, 4, 0.5, a.ctypes.data, 3, b.ctypes.data, 5,
             1.0, c.ctypes.data, 5)
        if not (np.allclose(y, expected, rtol=1e-6, atol=0)
                and np.allclose(c, 1 + 0.5 * a.T @ b, rtol=1e-6, atol=0)):
            return False
    return True


_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enum values
_found = _numpy_openblas()
if _found is not None and not _self_test(_found[1], _found[2]):
    _found = None
_ROUTINES: dict[np.dtype, tuple[_Routine, ...]] = (  # (axpy, gemm, axpby)
    {np.dtype(np.float32): _found[1], np.dtype(np.float64): _found[2]} if _found else {}
)


def blas_library() -> str | None:
    """Path of the BLAS library these routines call, or None when they decline (NumPy does the work)."""
    return _found[0] if _found else None


#: below this many elements NumPy's way costs less than a call through ctypes (a few µs).
MIN_SIZE = 8192


def _address(m: np.ndarray) -> int:
    """Address of the first element of a C- or Fortran-contiguous array.

    ``m.ctypes.data`` builds a helper object at every access (1.6-3 µs on
    this project's Zen 3 machine), three times per GEMM and twice per
    optimizer update.  A ctypes view of the array's buffer gives the same
    address in a fifth of the time; an array without a writable buffer
    (read-only, or empty) takes the slow path.
    """
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(m if m.flags.c_contiguous else m.T))
    except (TypeError, ValueError, BufferError):
        return m.ctypes.data


def _vector_routines(x: np.ndarray, y: np.ndarray) -> tuple[_Routine, ...] | None:
    """The routines for ``y`` if BLAS can update it from ``x`` element by element, else None."""
    if y.size < MIN_SIZE:
        return None
    routines = _ROUTINES.get(y.dtype)
    if (routines is None or x.dtype != y.dtype or x.shape != y.shape
            or not (x.flags.c_contiguous and y.flags.c_contiguous and y.flags.writeable)):
        return None
    return routines


def blas_axpy(alpha: Any, x: np.ndarray, y: np.ndarray) -> bool:
    """``y += alpha * x`` in place through BLAS, in one pass; True if done.

    Returns False, leaving ``y`` untouched, when BLAS cannot take the arrays
    (no usable BLAS, different dtypes or shapes, not C-contiguous, ``y``
    read-only, fewer than ``MIN_SIZE`` elements): the caller then does the
    update with NumPy.  BLAS may fuse the multiply and the add, so results
    can differ from NumPy's in the last bit.
    """
    routines = _vector_routines(x, y)
    if routines is None:
        return False
    routines[0](y.size, float(alpha), _address(x), 1, _address(y), 1)
    return True


def blas_axpby(alpha: Any, x: np.ndarray, beta: Any, y: np.ndarray) -> bool:
    """``y = alpha * x + beta * y`` in place through BLAS, in one pass; True if done.

    The moving averages of Adam, RMSprop and momentum in one pass instead of
    two or three.  Declines, leaving ``y`` untouched, on the same terms as
    ``blas_axpy``.
    """
    routines = _vector_routines(x, y)
    if routines is None:
        return False
    routines[2](y.size, float(alpha), _address(x), 1, float(beta), _address(y), 1)
    return True


def _operand(m: np.ndarray) -> tuple[int, int] | None:
    """(CBLAS transpose flag, leading dimension) that reads a 2-D array as it is, row-major."""
    if m.flags.c_contiguous:
        return _NO_TRANS, max(m.shape[1], 1)
    if m.flags.f_contiguous:
        return _TRANS, max(m.shape[0], 1)
    return None


def blas_gemm_update(alpha: Any, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> bool:
    """``c += alpha * a.T @ b`` in place through BLAS (one GEMM with beta = 1); True if done.

    This is a weight update fused into the product that computes the weight
    gradient: ``W -= lr * x.T @ dout`` without storing ``x.T @ dout``.
    ``a`` is ``(K, M)``, ``b`` ``(K, N)``, ``c`` ``(M, N)``; ``a`` and ``b``
    may be C- or Fortran-contiguous, ``c`` must be C-contiguous and writable,
    all of one dtype, and ``c`` at least ``MIN_SIZE`` elements (below that
    NumPy's product plus its update cost less than the call).  Returns
    False, with ``c`` untouched, otherwise or when there is no usable BLAS.
    """
    if c.size < MIN_SIZE:
        return False
    routines = _ROUTINES.get(c.dtype)
    if (routines is None or a.dtype != c.dtype or b.dtype != c.dtype or a.ndim != 2 or b.ndim != 2
            or c.shape != (a.shape[1], b.shape[1]) or a.shape[0] != b.shape[0] or a.shape[0] == 0
            or not (c.flags.c_contiguous and c.flags.writeable)):
        return False
    op_a, op_b = _operand(a), _operand(b)
    if op_a is None or op_b is None:
        return False
    (flag_a, lda), (flag_b, ldb) = op_a, op_b
    # The product needs a.T: flip the flag that reads a as stored.
    flag_a = _TRANS if flag_a == _NO_TRANS else _NO_TRANS
    (k, m), n = a.shape, b.shape[1]
    routines[1](_ROW_MAJOR, flag_a, flag_b, m, n, k, float(alpha), _address(a), lda,
                _address(b), ldb, 1.0, _address(c), max(n, 1))
    return True


#: (m, k, n) of the warm-up product: of the shapes tried on the Zen 1 machine (see
#: warm_up_blas), the smallest after which products ran at full speed both on one
#: thread and on two (a 128 x 384 @ 384 x 2048 product done on two threads left one
#: thread at 20 instead of 27k samples/s).
WARMUP_SHAPE = (256, 512, 2048)


def warm_up_blas() -> float:
    """Run one float32 product of ``WARMUP_SHAPE`` through NumPy's BLAS; return its seconds.

    Until a product about this large has run in a process, OpenBLAS (0.3.31,
    Haswell kernels, measured on a 2-core AMD EPYC Zen 1 virtual machine)
    ran the products of a training step 2-3x slower: 12 instead of 35
    GFLOP/s for 128x784 @ 784x256 on one thread, and the GEMMs of a
    784-256-256-10 step 28 % slower on two.  The time went to the same
    kernel either way (perf: sgemm_kernel_HASWELL, 91 %), and the speed
    stayed once reached, so the likely cause is the kernel reading ahead
    into pages of its work buffer that a small product never writes; one
    large product writes them.  On a Zen 4 machine, where OpenBLAS picks
    its SkylakeX kernels, the first products ran at full speed (91-101
    GFLOP/s on one thread with or without the warm-up, within the
    machine's drift).  This is done once, on import
    (5-20 ms; ``NN_NO_BLAS_WARMUP=1`` skips it), and is harmless where the
    effect does not occur.  ``benchmarks/roofline.py`` measures it.
    """
    m, k, n = WARMUP_SHAPE
    start = time.perf_counter()
    np.matmul(np.zeros((m, k), dtype=np.float32), np.zeros((k, n), dtype=np.float32))
    return time.perf_counter() - start


#: seconds the warm-up product took on import, or None when it was skipped.
WARMUP_SECONDS: float | None = (
    None if os.environ.get(NO_WARMUP_ENV, "").strip() not in ("", "0") else warm_up_blas()
)
