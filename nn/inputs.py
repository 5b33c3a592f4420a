"""The door of a model: the data users have, converted once to the model's dtype.

A bare layer's ``forward`` is strict (float32 or float64 NumPy arrays of
its own dtype only), so that nothing is converted or copied in the hot
loop.  The entry points a user calls with their own data (``fit``,
``evaluate``, ``predict``, ``gradcheck``, the perceptron's rule) take any
real-valued array instead (bool, signed or unsigned integers, float16, 32
or 64, or a nested list of numbers), convert it here once, and refuse what
is not a number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layers import Layer
from layers.device import array_module, is_array

#: elements checked for NaN and infinity at a time: bounds the temporary mask.
_CHUNK = 1 << 20


def model_dtype(model: Layer, default: Any = np.float32) -> np.dtype:
    """The dtype of ``model``'s parameters, or ``default`` for a model without any."""
    params = model.parameters()
    return params[0].data.dtype if params else np.dtype(default)


def as_input(x: Any, dtype: Any, what: str = "input", check_finite: bool = True) -> np.ndarray:
    """``x`` as a finite array of ``dtype``, converted once (no copy when it already is).

    A NumPy array (or anything NumPy makes one of) stays on the CPU, a device
    array (CuPy) on its device.

    Args:
        x: an array (or nested list) of bool, integer or float values.
        dtype: the model's float dtype.
        what: how error messages name ``x``, e.g. ``"training data"``.
        check_finite: look for NaN and infinity (one pass over ``x``); the
            trainer skips it for training data and looks only if the loss
            stops being finite.

    Raises:
        TypeError: ``x`` is not numeric, or complex.
        ValueError: ``x`` holds NaN or infinity (after conversion: a float64
            value beyond float32's range becomes infinity).

    >>> as_input(np.array([[0, 1], [1, 0]]), np.float32).dtype
    dtype('float32')
    """
    dtype = np.dtype(dtype)
    if not is_array(x):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as error:  # ragged lists, unconvertible objects
            raise TypeError(f"{what}: expected an array of numbers, got {type(x).__name__} "
                            f"that NumPy cannot turn into one ({error})") from None
    if x.dtype.kind == "c":
        raise TypeError(f"{what}: expected real numbers, got complex values ({x.dtype}); "
                        "pass x.real or np.abs(x)")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected real numbers (bool, integer or float), got dtype {x.dtype}")
    if x.dtype != dtype:
        with np.errstate(over="ignore"):  # values beyond the dtype's range are reported below
            x = x.astype(dtype)
    if not check_finite:
        return x
    xp = array_module(x)
    flat = x.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start:start + _CHUNK]
        if not bool(xp.isfinite(part).all()):
            nan = int(xp.count_nonzero(xp.isnan(x)))
            inf = int(xp.count_nonzero(xp.isinf(x)))
            found = ", ".join(f"{count:,} {name}" for count, name in ((nan, "NaN"), (inf, "infinite"))
                              if count)
            raise ValueError(f"{what}: expected finite numbers, found {found} value"
                             f"{'s' if nan + inf > 1 else ''} (as {dtype}); remove or replace them "
                             "(e.g. np.nan_to_num) before training or predicting")
    return x
