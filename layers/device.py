"""Devices and array modules: the same layer code on NumPy (the CPU) and on CuPy (a GPU).

A layer never names its array library: it asks its data, ``xp =
array_module(x)``, and calls ``xp.matmul``, ``xp.exp`` ... (the textbook
sequels' ``get_array_module``).  NumPy and CuPy share that API; where they
differ, a small helper here hides it (``sum_over``, ``max_over``,
``sliding_window_view``).  A ``Device`` moves arrays there and back:
``get_device("gpu").asarray(x)`` and ``to_numpy(x)``.

CuPy is optional and imported only when a CuPy array or the "gpu" device
is first seen; without it everything here works for NumPy alone.  Another
array module (the test suite's stand-in for CuPy, say) joins through
``register_device``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["Device", "DeviceError", "CPU", "array_module", "device_of", "get_device", "is_array",
           "max_over", "register_device", "sliding_window_view", "sum_over", "to_numpy",
           "GPU_INSTALL_HINT"]

GPU_INSTALL_HINT = ('the GPU device needs CuPy and an NVIDIA GPU: pip install -e ".[gpu]" '
                    "(CuPy for CUDA 13; for CUDA 12, as on Colab, pip install cupy-cuda12x)")


class DeviceError(RuntimeError):
    """A device that cannot be used here (CuPy missing, no GPU, unknown name)."""


@dataclass(frozen=True)
class Device:
    """Where arrays live: a name, its array module, and the two moves.

    Attributes:
        name: "cpu", "gpu", or a registered name.
        xp: the array module (``numpy``, ``cupy``, ...).
        array_type: the module's array class.
        from_numpy: NumPy array -> an array on this device.
        to_numpy: an array on this device -> NumPy array.
    """

    name: str
    xp: ModuleType
    array_type: type
    from_numpy: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]

    def asarray(self, x: Any) -> Any:
        """``x`` on this device: itself if it already lives here, else a copy moved here."""
        if type(x) is self.array_type:
            return x
        return self.from_numpy(to_numpy(x))

    def __repr__(self) -> str:
        return f"Device({self.name!r})"


CPU = Device("cpu", np, np.ndarray, lambda a: a, lambda a: a)

_DEVICES: dict[str, Device] = {"cpu": CPU}
_BY_TYPE: dict[type, Device] = {np.ndarray: CPU}
_ALIASES = {"numpy": "cpu", "cuda": "gpu", "cupy": "gpu"}


def register_device(device: Device) -> Device:
    """Make ``device`` known by its name and by its array type; returns it."""
    _DEVICES[device.name] = device
    _BY_TYPE[device.array_type] = device
    return device


def _cupy_device() -> Device:
    try:
        import cupy
    except ImportError:
        raise DeviceError(f"CuPy is not installed: {GPU_INSTALL_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDA driver missing or broken
        raise DeviceError(f"CuPy found no usable GPU ({error}); {GPU_INSTALL_HINT}") from None
    if count == 0:
        raise DeviceError(f"CuPy found no GPU on this machine; {GPU_INSTALL_HINT}")
    return register_device(Device("gpu", cupy, cupy.ndarray, cupy.asarray, cupy.asnumpy))


def get_device(device: str | Device) -> Device:
    """The ``Device`` called ``device``: "cpu", "gpu" (also "cuda"), or a registered name.

    Raises:
        DeviceError: "gpu" without CuPy or without a GPU (the message says
            what to install), or an unknown name.
    """
    if isinstance(device, Device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a name such as 'cpu' or 'gpu', got {type(device).__name__}")
    name = _ALIASES.get(device.lower(), device.lower())
    found = _DEVICES.get(name)
    if found is not None:
        return found
    if name == "gpu":
        return _cupy_device()
    raise DeviceError(f"unknown device {device!r}; choose from {sorted({*_DEVICES, 'gpu'})}")


def device_of(x: Any) -> Device:
    """The device an array lives on.

    Raises:
        TypeError: ``x`` is not an array of a known array module.
    """
    found = _BY_TYPE.get(type(x))
    if found is not None:
        return found
    if isinstance(x, np.ndarray):  # a subclass such as np.memmap lives on the CPU too
        return CPU
    if type(x).__module__.split(".")[0] == "cupy":  # a CuPy array met before the "gpu" device
        return _cupy_device()
    raise TypeError(f"expected a NumPy or CuPy array, got {type(x).__name__}")


def is_array(x: Any) -> bool:
    """True for an array of any known array module (NumPy, CuPy, a registered one)."""
    if type(x) in _BY_TYPE or isinstance(x, np.ndarray):
        return True
    return type(x).__module__.split(".")[0] == "cupy" and type(x).__name__ == "ndarray"


def array_module(x: Any) -> ModuleType:
    """``numpy`` for a NumPy array, ``cupy`` for a CuPy array, and so on (NumPy for scalars)."""
    if type(x) is np.ndarray:
        return np
    return device_of(x).xp if is_array(x) else np


def to_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array, copied from its device if it lives on one."""
    if type(x) is np.ndarray:
        return x
    if is_array(x):
        return device_of(x).to_numpy(x)
    return np.asarray(x)


# -- where NumPy and CuPy differ ------------------------------------------------

def sum_over(a: Any, axis: Any, out: Any = None, dtype: Any = None) -> Any:
    """``a.sum(axis)``; NumPy's ``add.reduce`` skips ``np.sum``'s Python wrapper."""
    if type(a) is np.ndarray:
        return np.add.reduce(a, axis=axis, out=out, dtype=dtype)
    return array_module(a).sum(a, axis=axis, out=out, dtype=dtype)


def max_over(a: Any, axis: Any) -> Any:
    """``a.max(axis)``; CuPy has no ``maximum.reduce``, NumPy's skips a Python wrapper."""
    if type(a) is np.ndarray:
        return np.maximum.reduce(a, axis=axis)
    return array_module(a).max(a, axis=axis)


def sliding_window_view(x: Any, window: tuple[int, ...], axis: tuple[int, ...]) -> Any:
    """The read-only view of every ``window`` of ``x`` along ``axis`` (no copy)."""
    xp = array_module(x)
    return xp.lib.stride_tricks.sliding_window_view(x, window, axis=axis)
