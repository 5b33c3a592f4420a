"""The contract every layer follows: ``Parameter`` and the ``Layer`` base class.

A layer computes ``forward(x)`` on a whole mini-batch, keeps what its backward
pass needs in cache attributes declared in ``__init__``, and ``backward(dout)``
returns the gradient with respect to its input while *adding* the gradients of
its parameters into ``p.grad``.  Losses and optimizers build on these two
classes; the ``nn`` package assembles them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_dtype(dtype: Any) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype, accepting only float32 and float64."""
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``grad`` always has the shape and dtype of ``data``; backward passes add
    into it and ``zero_grad()`` clears it.  Clearing is deferred: the zeros are
    written when ``grad`` is next read, unless a layer first claims the array
    with ``grad_to_overwrite()`` and writes its gradient straight into it,
    which spares a fill and an addition per step.

    Args:
        data: the initial values; a float32 or float64 array (copied).
        name: a short label used in reports such as ``W`` or ``b``.

    >>> p = Parameter(np.zeros((2, 3), dtype=np.float32), name="W")
    >>> p.grad.dtype, p.shape
    (dtype('float32'), (2, 3))
    """

    __slots__ = ("data", "_grad", "_grad_cleared", "name", "_step_lr", "_stepped")

    def __init__(self, data: np.ndarray, name: str = "") -> None:
        data = np.array(data, copy=True)
        as_float_dtype(data.dtype)
        self.data = data
        self._grad = np.zeros_like(data)
        self._grad_cleared = False  # True: zero_grad() ran and the zeros are not written yet
        self.name = name
        self._step_lr: np.floating | None = None  # see request_step_in_backward
        self._stepped = False

    @property
    def grad(self) -> np.ndarray:
        if self._grad_cleared:
            self._grad.fill(0)
            self._grad_cleared = False
        return self._grad

    @grad.setter
    def grad(self, value: np.ndarray) -> None:
        if not isinstance(value, np.ndarray) or value.shape != self.data.shape \
                or value.dtype != self.data.dtype:
            raise ValueError(f"grad must be an array of shape {self.data.shape} and dtype "
                             f"{self.data.dtype}, got {getattr(value, 'shape', type(value).__name__)} "
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

    def zero_grad(self) -> None:
        self._grad_cleared = True
        self._step_lr, self._stepped = None, False

    # -- a plain SGD step applied by the layer during backward ---------------
    # The trainer's optimizer may offer its step to the layers (plain SGD only):
    # a layer that can apply ``p -= lr * dL/dp`` as it computes dL/dp (Affine:
    # one BLAS GEMM for the weights, no gradient array) does so and reports
    # it; the optimizer's step() then leaves this parameter alone.  The offer
    # lasts until the next step() or zero_grad().

    def request_step_in_backward(self, lr: np.floating) -> None:
        """Offer the layers to apply ``p -= lr * gradient`` themselves in this backward."""
        self._step_lr, self._stepped = lr, False

    def step_in_backward_lr(self) -> np.floating | None:
        """The offered learning rate, if the step may be applied now, else None.

        Only while nothing has been accumulated into ``grad`` since
        ``zero_grad()``: a step taken in backward must see the whole gradient.
        """
        return self._step_lr if self._grad_cleared else None

    def mark_stepped(self) -> None:
        """Record that the layer applied the offered step (``grad`` stays cleared)."""
        self._step_lr, self._stepped = None, True

    def finish_step(self) -> bool:
        """Withdraw any offer; True if a layer applied the step, which the optimizer then skips."""
        stepped = self._stepped
        self._step_lr, self._stepped = None, False
        return stepped

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
            current[...] = value

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> "Layer":
        self.training = bool(mode)
        return self

    def eval(self) -> "Layer":
        return self.train(False)

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
        if not isinstance(dout, np.ndarray):
            raise TypeError(
                f"{self.describe()}: expected dout as a NumPy array, got {type(dout).__name__}"
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
    """Ensure ``x`` is a float32/float64 NumPy array, naming ``layer`` if not."""
    if not isinstance(x, np.ndarray):
        raise TypeError(
            f"{layer.describe()}: expected {what} as a NumPy array, got {type(x).__name__}"
        )
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{layer.describe()}: expected a float32 or float64 {what}, got {x.dtype}; "
            f"convert it first, e.g. x.astype(np.float32)"
        )
    return x


def check_dtype_matches(layer: Layer, x: np.ndarray, dtype: np.dtype) -> None:
    """Refuse mixing float32 and float64 rather than silently upcasting."""
    if x.dtype != dtype:
        raise TypeError(
            f"{layer.describe()}: expected {dtype} input (the dtype of its parameters), "
            f"got {x.dtype}; convert the input with x.astype(np.{dtype}) or the layer "
            f"with .astype(np.{x.dtype})"
        )
