"""A stand-in for CuPy that runs on the CPU and fails the way CuPy does when code mixes modules.

The GPU code path (``model.to(device)``, ``array_module``, the device
helpers) has to run in CI, where there is no GPU.  ``StandInArray`` wraps a
NumPy array and behaves like a ``cupy.ndarray`` at the boundaries that
matter:

* implicit conversion to NumPy (``np.asarray(a)``, ``numpy_array[...] = a``)
  raises ``TypeError``, as CuPy's ``__array__`` does;
* NumPy's functions and ufuncs refuse it (``np.exp(a)``, ``np.concatenate``):
  code must call the array's own module;
* mixing it with a NumPy array in an operation (``a + numpy_array``,
  ``numpy_array += a``, ``a[...] = numpy_array``) raises ``TypeError``;
  NumPy and Python scalars mix, and NumPy index arrays may index it (CuPy
  copies them over);
* the module offers what CuPy offers: ufunc ``reduce`` only for add and
  multiply, no ufunc ``at``; ``asnumpy``/``.get()`` to come back.

Register it with ``register()``: the device is then called "standin".
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from layers.device import Device, register_device

NAME = "standin"


def _refuse_numpy(value: Any) -> None:
    raise TypeError(f"Unsupported type {type(value)} (a NumPy array mixed with a device array; "
                    "move it with the device's asarray first)")


def _unwrap(value: Any) -> Any:
    """The NumPy array inside a device array; scalars pass; NumPy arrays are refused."""
    if type(value) is StandInArray:
        return value._a
    if isinstance(value, np.ndarray):
        _refuse_numpy(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    return value


def _unwrap_key(key: Any) -> Any:
    """An index: device arrays unwrap, and NumPy index arrays pass, as CuPy copies them over."""
    if isinstance(key, tuple):
        return tuple(_unwrap_key(k) for k in key)
    if isinstance(key, np.ndarray):
        return key
    return _unwrap(key)


def _wrap(value: Any) -> Any:
    """NumPy results as device arrays (0-d for NumPy scalars, as CuPy returns)."""
    if isinstance(value, np.ndarray):
        return StandInArray(value)
    if isinstance(value, np.generic):
        return StandInArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return value


class _Flags:
    def __init__(self, a: np.ndarray) -> None:
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata
        self.writeable = a.flags.writeable


class StandInArray:
    """A NumPy array that pretends to live on a device (see the module docstring)."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # NumPy's ufuncs and operators defer to us, and we refuse them

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # -- what CuPy refuses ------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        raise TypeError(f"np.{func.__name__} was called on a device array: "
                        "use the array's own module (xp = array_module(a))")

    # -- the array's API ----------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: _Flags(self._a))
    T = property(lambda self: StandInArray(self._a.T))

    def get(self) -> np.ndarray:
        return self._a.copy()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # no __array_interface__ and the like: NumPy must not see in
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        def method(*args: Any, **kwargs: Any) -> Any:
            if "out" in kwargs and kwargs["out"] is not None:
                out = kwargs["out"]
                kwargs["out"] = _unwrap(out)
                attr(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()})
                return out
            return _wrap(attr(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))
        return method

    def __deepcopy__(self, memo: Any) -> "StandInArray":
        return StandInArray(self._a.copy())

    def __reduce__(self) -> Any:
        raise TypeError("a device array cannot be pickled here; move it with .get() first")

    def __len__(self) -> int:
        return len(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __index__(self) -> int:
        return self._a.__index__()

    def __repr__(self) -> str:
        return f"{NAME}:{self._a!r}"

    def __getitem__(self, key: Any) -> "StandInArray":
        return _wrap(self._a[_unwrap_key(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap_key(key)] = _unwrap(value)

    __hash__ = None  # type: ignore[assignment]


def _binary(name: str) -> Any:
    def op(self: StandInArray, other: Any) -> Any:
        return _wrap(getattr(self._a, name)(_unwrap(other)))
    op.__name__ = name
    return op


def _inplace(name: str) -> Any:
    def op(self: StandInArray, other: Any) -> StandInArray:
        getattr(self._a, name)(_unwrap(other))
        return self
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
              "xor", "lt", "le", "gt", "ge", "eq", "ne"):
    for _dunder in (f"__{_name}__", f"__r{_name}__"):
        if hasattr(np.ndarray, _dunder):
            setattr(StandInArray, _dunder, _binary(_dunder))
    if hasattr(np.ndarray, f"__i{_name}__"):
        setattr(StandInArray, f"__i{_name}__", _inplace(f"__i{_name}__"))
for _name in ("__neg__", "__pos__", "__abs__", "__invert__"):
    setattr(StandInArray, _name, (lambda n: lambda self: _wrap(getattr(self._a, n)()))(_name))


def _call(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    out = kwargs.get("out")
    kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
    result = func(*_unwrap(args), **kwargs)
    return out if out is not None and type(out) is StandInArray else _wrap(result)


class _UFunc:
    """A NumPy ufunc as CuPy offers it: called, and ``reduce`` only for add and multiply."""

    def __init__(self, ufunc: np.ufunc) -> None:
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._ufunc, args, kwargs)

    def reduce(self, *args: Any, **kwargs: Any) -> Any:
        if self.__name__ not in ("add", "multiply"):
            raise AttributeError(f"CuPy's {self.__name__} has no reduce method")
        return _call(self._ufunc.reduce, args, kwargs)


def _function(func: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _call(func, args, kwargs)
    wrapper.__name__ = getattr(func, "__name__", "function")
    return wrapper


def _from_anything(func: Any) -> Any:
    """Creation from host data (``xp.asarray(numpy_array)``): an explicit copy, allowed."""
    def wrapper(obj: Any, *args: Any, **kwargs: Any) -> Any:
        if type(obj) is StandInArray:
            obj = obj._a
        return StandInArray(np.array(func(obj, *args, **kwargs), copy=True))
    return wrapper


class _Module(types.ModuleType):
    """``xp`` for stand-in arrays: NumPy's names, acting on and returning device arrays."""

    ndarray = StandInArray

    def __init__(self) -> None:
        super().__init__(NAME)
        self.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(
            sliding_window_view=_function(np.lib.stride_tricks.sliding_window_view),
            as_strided=_function(np.lib.stride_tricks.as_strided)))
        self.asarray = _from_anything(np.asarray)
        self.array = _from_anything(np.array)
        self.ascontiguousarray = _function(np.ascontiguousarray)

    @staticmethod
    def asnumpy(a: Any) -> np.ndarray:
        return a.get() if type(a) is StandInArray else np.asarray(a)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc):
            return _UFunc(attr)
        if isinstance(attr, type) or not callable(attr):  # dtypes, finfo, constants
            return attr
        return _function(attr)


module = _Module()


def register() -> Device:
    """Make the "standin" device known to ``layers.device`` (idempotent); returns it."""
    return register_device(Device(NAME, module, StandInArray, module.asarray, module.asnumpy))
