"""The optimizer contract: parameters in, per-parameter state, ``step()``.

An optimizer holds the list of ``Parameter`` objects it was given and one
state dict per parameter, found by the parameter's position in that list
(never by a name).  The base class owns ``step()``, ``zero_grad()`` and the
state-dict round trip; a subclass checks its hyperparameters and writes its
update rule in ``_update``, working in place on the parameter's array with
scalars already cast to its dtype, so float32 stays float32.  The rule is
the only place where weights change: layers compute gradients, never steps.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, ClassVar, Iterable

import numpy as np

from layers.base import Parameter
from layers.device import array_module, device_of, is_array, to_numpy
from optimizers import blas

__all__ = ["Optimizer", "add_scaled", "blend", "real", "positive", "non_negative", "fraction",
           "flush_subnormals", "FLUSH_EVERY"]


# -- hyperparameter checks, shared by the optimizers and the schedules -------
def real(name: str, value: Any) -> float:
    """Return ``value`` as a finite Python float, or raise naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {value}")
    return result


def positive(name: str, value: Any) -> float:
    result = real(name, value)
    if result <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return result


def non_negative(name: str, value: Any) -> float:
    result = real(name, value)
    if result < 0:
        raise ValueError(f"{name} must be non-negative, got {value}")
    return result


def fraction(name: str, value: Any) -> float:
    """A decay rate such as a beta or RMSprop's alpha: in [0, 1)."""
    result = real(name, value)
    if not 0.0 <= result < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return result


#: every this many steps, optimizer state below the smallest normal float becomes 0.
FLUSH_EVERY = 16


def flush_subnormals(a: np.ndarray, scratch: np.ndarray) -> None:
    """Set the subnormal entries of ``a`` (0 < |a| < the dtype's tiny) to exactly 0.

    A unit that stops receiving gradient (a dead ReLU) has its moving
    averages multiplied by beta every step; they sink into the subnormal
    range and, with rounding to nearest, stick there (2**-149 * 0.9 rounds
    back to 2**-149).  Arithmetic on subnormals is many times slower on
    x86 and slows whole training runs (benchmarks/README.md).  Their share
    of any update is below 1e-30, so zero is as good.
    """
    xp = array_module(a)
    xp.abs(a, out=scratch)
    xp.copyto(a, 0, where=scratch < np.finfo(a.dtype).tiny)


# -- in-place updates, in one pass where BLAS can take the arrays ------------
def add_scaled(y: np.ndarray, alpha: np.floating, x: np.ndarray, tmp: np.ndarray) -> None:
    """``y <- y + alpha * x`` in place; ``tmp`` (y's shape and dtype) is scratch, and may be ``x``."""
    if not blas.axpy(alpha, x, y):
        y += array_module(y).multiply(x, alpha, out=tmp)


def blend(y: np.ndarray, beta: np.floating, alpha: np.floating, x: np.ndarray,
          tmp: np.ndarray) -> None:
    """``y <- beta * y + alpha * x`` in place (a moving average); ``tmp`` as in ``add_scaled``."""
    if not blas.axpby(alpha, x, beta, y):
        y *= beta
        y += array_module(y).multiply(x, alpha, out=tmp)


def _param_list(params: Iterable[Parameter]) -> list[Parameter]:
    if isinstance(params, Parameter):
        raise TypeError(
            "expected an iterable of Parameter objects such as model.parameters(), "
            "got a single Parameter; wrap it in a list"
        )
    if isinstance(params, dict):
        raise TypeError(
            "expected an iterable of Parameter objects such as model.parameters(), "
            "got a dict; optimizers take parameter objects, not names"
        )
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            "expected an iterable of Parameter objects such as model.parameters(), "
            f"got {type(params).__name__}"
        ) from None
    if not params:
        raise ValueError("optimizer got an empty parameter list")
    seen: dict[int, int] = {}
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            hint = "; wrap arrays with Parameter(array)" if isinstance(p, np.ndarray) else ""
            raise TypeError(
                f"expected Parameter objects, got {type(p).__name__} at position {i}{hint}"
            )
        if id(p) in seen:
            raise ValueError(
                f"parameter at position {i} ({p!r}) is the same object as the one at "
                f"position {seen[id(p)]}; each parameter may appear only once"
            )
        seen[id(p)] = i
    return params


class Optimizer:
    """Base class: updates a list of ``Parameter`` objects from their ``.grad``.

    Subclasses pass their hyperparameters to ``__init__`` as keywords, check
    them in ``_check_hyperparameters`` and write the rule in ``_update``.
    ``lr`` is a public attribute that learning-rate schedules assign to.

    Args:
        params: the parameters to optimise, e.g. ``model.parameters()``.
        **hyper: hyperparameters; ``lr`` is required.

    Attributes:
        params: the list of parameters, in the order given.
        state: ``state[i]`` is a dict of arrays for ``params[i]``, created on
            the first ``step()``.
        steps: how many times ``step()`` has run.
    """

    #: names of the arrays a subclass may keep in ``state[i]``.
    state_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[Parameter], **hyper: Any) -> None:
        self.params: list[Parameter] = _param_list(params)
        if "lr" not in hyper:
            raise TypeError(f"{type(self).__name__} needs a learning rate lr")
        positive("learning rate", hyper["lr"])
        hyper = self._check_hyperparameters(dict(hyper))
        self._hyper_names = tuple(hyper)
        for name, value in hyper.items():
            setattr(self, name, value)
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self.steps = 0
        # Per parameter, arrays reused by every step: "tmp" for an update
        # rule's intermediate results, "decayed" for grad + weight_decay * w.
        self._work: list[dict[str, np.ndarray]] = [{} for _ in self.params]

    # -- the learning rate: the one hyperparameter schedules change ----------
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        # Zero is allowed here: a cosine schedule may end at eta_min = 0.
        self._lr = non_negative("learning rate", value)

    def hyperparameters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._hyper_names}

    # -- what a subclass provides --------------------------------------------
    def _check_hyperparameters(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise the keyword hyperparameters (extend with super()).

        Also run on ``load_state_dict``, where lr may be 0 (the end of a cosine
        schedule); ``__init__`` itself insists on a positive lr.
        """
        hyper["lr"] = non_negative("learning rate", hyper["lr"])
        if "weight_decay" in hyper:
            hyper["weight_decay"] = non_negative("weight_decay", hyper["weight_decay"])
        return hyper

    def _init_state(self, w: np.ndarray) -> dict[str, np.ndarray]:
        """Arrays kept for a parameter from its first step on (zeros like ``w``)."""
        return {}

    def _scalars(self, dtype: np.dtype) -> SimpleNamespace:
        """Float hyperparameters cast to ``dtype``, once per step and dtype, as ``h.lr`` etc."""
        return SimpleNamespace(**{
            name: dtype.type(value)
            for name, value in self.hyperparameters().items()
            if isinstance(value, float)
        })

    def _update(self, w: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray],
                h: SimpleNamespace, tmp: np.ndarray) -> None:
        """Update the weights ``w`` in place from the gradient ``g`` (the rule of the docstring).

        ``state`` holds the arrays of ``_init_state``; ``h`` the scalars of
        ``_scalars``; ``tmp`` is scratch of ``w``'s shape and dtype.  ``g``
        is not the rule's to write: it may be the parameter's ``grad``.
        """
        raise NotImplementedError

    def _gradient(self, i: int, p: Parameter, h: SimpleNamespace) -> np.ndarray:
        """The gradient the rule follows: ``grad + weight_decay * w`` (L2), or ``grad`` itself."""
        if not getattr(self, "weight_decay", 0.0):
            return p.grad
        g = array_module(p.data).multiply(p.data, h.weight_decay, out=self._scratch(i, p, "decayed"))
        g += p.grad
        return g

    def _scratch(self, i: int, p: Parameter, name: str) -> np.ndarray:
        """Parameter ``i``'s reusable array ``name``, of its shape and dtype."""
        buf = self._work[i].get(name)
        if (buf is None or buf.shape != p.data.shape or buf.dtype != p.data.dtype
                or type(buf) is not type(p.data)):
            buf = self._work[i][name] = array_module(p.data).empty_like(p.data)
        return buf

    # -- the public loop -------------------------------------------------------
    def step(self) -> None:
        """Update every parameter once from its current ``.grad``."""
        self.steps += 1
        scalars: dict[np.dtype, SimpleNamespace] = {}
        for i, p in enumerate(self.params):
            w, work = p.data, self._work[i]
            h = scalars.get(w.dtype)
            if h is None:
                h = scalars[w.dtype] = self._scalars(w.dtype)
            if work.get("prepared_for") is not w:  # first step, or a new array (astype, to, load)
                self._prepare(i, p)
            self._update(w, self._gradient(i, p, h), self.state[i], h, work["tmp"])
        if self.steps % FLUSH_EVERY == 0:
            for i, (p, state) in enumerate(zip(self.params, self.state)):
                for array in state.values():
                    flush_subnormals(array, self._scratch(i, p, "tmp"))

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to zero."""
        for p in self.params:
            p.zero_grad()

    def _prepare(self, i: int, p: Parameter) -> None:
        """Ready parameter ``i``'s state and scratch for ``p.data`` as it is now."""
        state = self.state[i]
        if state:
            self._check_state(i, p, state)
        else:
            state.update(self._init_state(p.data))
        self._work[i]["tmp"] = self._scratch(i, p, "tmp")
        self._work[i]["prepared_for"] = p.data

    def _check_state(self, i: int, p: Parameter, state: dict[str, np.ndarray]) -> None:
        for key, value in state.items():
            if type(value) is not type(p.data):  # the model moved (model.to): the state follows
                value = state[key] = device_of(p.data).asarray(value)
            if value.dtype != p.data.dtype or value.shape != p.data.shape:
                raise TypeError(
                    f"{type(self).__name__}: state {key!r} of parameter {i} is "
                    f"{value.dtype}{value.shape} but the parameter is now {p!r}; "
                    "convert the model before creating its optimizer"
                )

    # -- checkpoints -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Plain dict of hyperparameters, step count and NumPy copies of the state arrays."""
        return {
            "type": type(self).__name__,
            "hyperparameters": self.hyperparameters(),
            "steps": self.steps,
            "state": [{k: to_numpy(v).copy() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict()`` returned; checks everything before changing anything."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(
                f"{name}: expected a dict from state_dict(), got {type(state_dict).__name__}"
            )
        missing = {"type", "hyperparameters", "steps", "state"} - state_dict.keys()
        if missing:
            raise ValueError(f"{name}: state dict is missing {sorted(missing)}")
        if state_dict["type"] != name:
            raise ValueError(f"{name}: state dict was saved from {state_dict['type']}, not {name}")
        states = state_dict["state"]
        if len(states) != len(self.params):
            raise ValueError(
                f"{name}: state dict holds state for {len(states)} parameters, "
                f"this optimizer has {len(self.params)}"
            )
        hyper = dict(state_dict["hyperparameters"])
        if set(hyper) != set(self._hyper_names):
            raise ValueError(
                f"{name}: state dict has hyperparameters {sorted(hyper)}, "
                f"expected {sorted(self._hyper_names)}"
            )
        hyper = self._check_hyperparameters(hyper)
        steps = state_dict["steps"]
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"{name}: steps must be a non-negative integer, got {steps!r}")
        for i, (p, s) in enumerate(zip(self.params, states)):
            expected = set(self._init_state(p.data))
            if s and set(s) != expected:  # all of the rule's arrays, or none before the first step
                raise ValueError(
                    f"{name}: state of parameter {i} holds {sorted(s)}, expected "
                    f"{sorted(expected)} (or nothing, before the first step)"
                )
            for key, value in s.items():
                if key not in self.state_keys:
                    raise ValueError(
                        f"{name}: unknown state {key!r} for parameter {i}; "
                        f"expected some of {list(self.state_keys)}"
                    )
                shape = value.shape if is_array(value) else np.shape(value)
                if shape != p.shape:
                    raise ValueError(
                        f"{name}: state {key!r} of parameter {i} has shape "
                        f"{shape}, expected {p.shape} ({p!r})"
                    )
        for name_, value in hyper.items():
            setattr(self, name_, value)
        self.steps = int(steps)
        self._work = [{} for _ in self.params]
        self.state = [
            {k: device_of(p.data).asarray(np.array(to_numpy(v), dtype=p.data.dtype, copy=True))
             for k, v in s.items()}
            for p, s in zip(self.params, states)
        ]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters().items())
        n = len(self.params)
        return f"{type(self).__name__}({args}; {n} parameter{'s' if n != 1 else ''})"
