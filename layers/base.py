"""The contract every layer follows: ``Parameter`` and the ``Layer`` base class.

A layer computes ``forward(x)`` on a whole mini-batch, keeps what its backward
pass needs in cache attributes declared in ``__init__``, and ``backward(dout)``
returns the gradient with respect to its input while *adding* the gradients of
its parameters into ``p.grad``.  Losses and optimizers build on these two
classes; the ``nn`` package assembles them.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from layers.device import CPU, Device, array_module, device_of, get_device, is_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, accepting only float32 and float64."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


# -- checks and defaults shared by every layer (and the packages built on layers) --

Init = str | float


def init_std(init: Init, fan_in: int) -> float:
    """Standard deviation of the initial weights for ``init``.

    ``"he"`` gives sqrt(2 / fan_in) (for ReLU), ``"xavier"`` gives
    sqrt(1 / fan_in) (the textbook's form, for sigmoid and tanh), and a
    positive number is used as the standard deviation itself (e.g. 0.01).
    """
    if isinstance(init, str):
        if init == "he":
            return math.sqrt(2.0 / fan_in)
        if init == "xavier":
            return math.sqrt(1.0 / fan_in)
        raise ValueError(f'init must be "he", "xavier" or a positive std, got {init!r}')
    if isinstance(init, bool) or not isinstance(init, (int, float)):
        raise ValueError(f'init must be "he", "xavier" or a positive std, got {init!r}')
    if not math.isfinite(init) or init <= 0:
        raise ValueError(f"init std must be a positive finite number, got {init!r}")
    return float(init)


def make_rng(rng: Any) -> np.random.Generator:
    """Accept a Generator, a seed or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def check_positive_int(value: Any, name: str) -> int:
    """``value`` as an int if it is a positive integer (not a bool), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``grad`` always has the shape and dtype of ``data``; backward passes add
    into it and ``zero_grad()`` clears it.  Clearing is deferred: the zeros are
    written when ``grad`` is next read, unless a layer first claims the array
    with ``grad_to_overwrite()`` and writes its gradient straight into it,
    which spares a fill and an addition per step.

    Args:
        data: the initial values; a float32 or float64 array (copied), NumPy
            or on a device (see ``to``).
        name: a short label used in reports such as ``W`` or ``b``.

    >>> p = Parameter(np.zeros((2, 3), dtype=np.float32), name="W")
    >>> p.grad.dtype, p.shape
    (dtype('float32'), (2, 3))
    """

    __slots__ = ("data", "_grad", "_grad_cleared", "name")

    def __init__(self, data: np.ndarray, name: str = "") -> None:
        data = array_module(data).array(data, copy=True)
        as_float_dtype(data.dtype)
        self.data = data
        self._grad = array_module(data).zeros_like(data)
        self._grad_cleared = False  # True: zero_grad() ran and the zeros are not written yet
        self.name = name

    @property
    def grad(self) -> np.ndarray:
        if self._grad_cleared:
            self._grad.fill(0)
            self._grad_cleared = False
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        if type(value) is not type(self.data) or value.shape != self.data.shape \
                or value.dtype != self.data.dtype:
            raise ValueError(f"grad must be an array of shape {self.data.shape} and dtype "
                             f"{self.data.dtype} on {self.device.name}, got "
                             f"{getattr(value, 'shape', type(value).__name__)} "
                             f"{getattr(value, 'dtype', '')}".rstrip())
        self._grad, self._grad_cleared = value, False

    def grad_to_overwrite(self) -> np.ndarray | None:
        """The grad array, for a layer to write its gradient into, if it is all zeros.

        Returns ``None`` when gradients are already accumulated there, in which
        case the layer must add to ``grad`` as usual.
        """
        if self._grad_cleared:
            self._grad_cleared = False
            return self._grad
        return None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def device(self) -> Device:
        return device_of(self.data)

    def to(self, device: str | Device) -> "Parameter":
        """Move data and grad to ``device`` ("cpu", "gpu", ...), in place of the old arrays."""
        device = get_device(device)
        self.data, self._grad = device.asarray(self.data), device.asarray(self._grad)
        return self

    def zero_grad(self) -> None:
        self._grad_cleared = True

    def astype(self, dtype: Any) -> "Parameter":
        """Convert data and grad to ``dtype`` in place of the old arrays."""
        dt = as_float_dtype(dtype)
        if self.data.dtype != dt:
            self.data = self.data.astype(dt)
            self._grad = self._grad.astype(dt)
        return self

    def __repr__(self) -> str:
        label = f"{self.name}, " if self.name else ""
        return f"Parameter({label}shape={self.data.shape}, dtype={self.data.dtype})"


class Layer:
    """Base class of all layers.

    Subclasses implement ``forward`` and ``backward`` and declare their cache
    attributes (set to ``None``) in ``__init__``.  ``parameters()`` finds every
    ``Parameter`` attribute in the order it was assigned.  Every subclass is
    recorded in ``Layer.registry`` under its class name, which is how a saved
    model finds its layer classes again; ``config()`` gives the constructor
    arguments to rebuild it.
    """

    registry: ClassVar[dict[str, type["Layer"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Layer.registry[cls.__name__] = cls

    def __init__(self) -> None:
        self.training = True

    # -- the computation -------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Return dL/dx for the last forward's input and add into every ``p.grad``.

        With ``input_grad=False`` a layer may skip computing dL/dx (the first
        layer of a network never needs the gradient of the data) and return
        ``None``; parameter gradients are still accumulated.
        """
        raise NotImplementedError

    def __call__(self, *args: Any) -> Any:
        return self.forward(*args)

    # -- parameters and state --------------------------------------------
    def parameters(self) -> list[Parameter]:
        return [v for v in vars(self).values() if isinstance(v, Parameter)]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(k, v) for k, v in vars(self).items() if isinstance(v, Parameter)]

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state that a checkpoint must keep (running statistics)."""
        return {}

    def load_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        for name, value in buffers.items():
            current = getattr(self, name)
            if current.shape != value.shape:
                raise ValueError(
                    f"{self.describe()}: buffer {name!r} expected shape "
                    f"{current.shape}, got {value.shape}"
                )
            current[...] = device_of(current).asarray(value)

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> "Layer":
        self.training = bool(mode)
        return self

    def eval(self) -> "Layer":
        return self.train(False)

    def to(self, device: str | Device) -> "Layer":
        """Move every parameter, buffer and cache to ``device`` ("cpu", "gpu", ...); returns ``self``.

        Every array attribute moves (running statistics, a frozen dropout
        mask, the caches of the last forward), and so do the layers this
        one holds.  An optimizer built on the parameters moves its own state
        on its next step.

        Raises:
            DeviceError: "gpu" without CuPy or a GPU; the message says what to install.
        """
        device = get_device(device)
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Layer)):
                value.to(device)
            elif is_array(value):
                setattr(self, name, device.asarray(value))
            elif isinstance(value, (list, tuple)):
                for item in value:
                    if isinstance(item, Layer):
                        item.to(device)
        return self

    @property
    def device(self) -> Device:
        """Where the parameters live (the CPU for a layer without parameters)."""
        params = self.parameters()
        return params[0].device if params else CPU

    def astype(self, dtype: Any) -> "Layer":
        """Convert every parameter and buffer to float32 or float64, in place."""
        dt = as_float_dtype(dtype)
        for p in self.parameters():
            p.astype(dt)
        for name, value in self.buffers().items():
            setattr(self, name, value.astype(dt))
        if hasattr(self, "dtype"):
            self.dtype = dt
        return self

    def config(self) -> dict[str, Any]:
        """JSON-serialisable constructor arguments that rebuild this layer."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        """Rebuild a layer from ``config()``'s output (weights are loaded separately)."""
        return cls(**config)

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """Shapes of the parameters and buffers ``from_config(config)`` would create,
        computed without creating anything, by name as in ``named_parameters()`` and
        ``buffers()``.

        A checkpoint is checked against them before its model is built, so a file
        cannot make the loader allocate more than it stores.  A layer that has
        parameters or buffers overrides this; raises ValueError or TypeError for a
        config ``from_config`` would refuse.
        """
        return {}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of ``forward``'s result for an input of ``input_shape``."""
        return tuple(input_shape)

    # -- messages ----------------------------------------------------------
    def describe(self) -> str:
        """Short name used in error messages, e.g. ``Affine(784 -> 100)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "dtype")
        return f"{type(self).__name__}({args})"

    def __repr__(self) -> str:
        return self.describe()

    def _missing_forward(self) -> RuntimeError:
        return RuntimeError(
            f"{type(self).__name__}.backward called before forward: "
            "run forward on a batch first"
        )

    def _check_dout(self, dout: np.ndarray, expected_shape: tuple[int, ...],
                    dtype: np.dtype | None = None) -> None:
        """Refuse a ``dout`` that is not an array of the last output's shape (and ``dtype``)."""
        if not is_array(dout):
            raise TypeError(
                f"{self.describe()}: expected dout as a NumPy (or CuPy) array, got {type(dout).__name__}"
            )
        if dout.shape != tuple(expected_shape):
            raise ValueError(
                f"{self.describe()}: expected dout of shape {tuple(expected_shape)} "
                f"(the shape of the last forward's output), got {dout.shape}"
            )
        if dtype is not None and dout.dtype != dtype:
            raise TypeError(
                f"{self.describe()}: expected {dtype} dout (the dtype of the last forward), "
                f"got {dout.dtype}"
            )


def check_array(layer: Layer, x: Any, what: str = "input") -> np.ndarray:
    """Ensure ``x`` is a float32/float64 array (NumPy, or CuPy on a GPU), naming ``layer`` if not."""
    if not is_array(x):
        raise TypeError(
            f"{layer.describe()}: expected {what} as a NumPy (or CuPy) array, got {type(x).__name__}"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{layer.describe()}: expected a float32 or float64 {what}, got {x.dtype}; "
            f"convert it first, e.g. x.astype(np.float32)"
        )
    return x


def check_device_matches(layer: Layer, x: Any, like: Any) -> None:
    """Refuse an input on another device than the layer's parameters (``like``)."""
    if type(x) is not type(like) and device_of(x) is not device_of(like):
        raise TypeError(
            f"{layer.describe()}: the input is on {device_of(x).name} but the layer's parameters "
            f"are on {device_of(like).name}; move the model with model.to(\"{device_of(x).name}\") "
            f"or the input with layers.device.get_device(\"{device_of(like).name}\").asarray(x)"
        )


def check_dtype_matches(layer: Layer, x: np.ndarray, dtype: np.dtype) -> None:
    """Refuse mixing float32 and float64 rather than silently upcasting."""
    if x.dtype != dtype:
        raise TypeError(
            f"{layer.describe()}: expected {dtype} input (the dtype of its parameters), "
            f"got {x.dtype}; convert the input with x.astype(np.{dtype}) or the layer "
            f"with .astype(np.{x.dtype})"
        )
