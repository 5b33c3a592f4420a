"""Gradient checking: backpropagation against central differences, in float64.

One implementation serves every test and benchmark.  ``numerical_gradient``
is the textbook's function, made exact about restoring what it perturbs;
``gradcheck`` runs a layer, a loss or a network plus loss both ways and
reports, for the input and each parameter, how far the two gradients differ.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layers import Layer
from losses import Loss
from layers.device import device_of, is_array, to_numpy
from nn.inputs import as_input


def numerical_gradient(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    h: float = 1e-4,
    *,
    indices: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Central-difference gradient of the scalar ``f(x)`` with respect to ``x``.

    Each element is moved to ``x + h`` and ``x - h`` in place, ``f`` is called
    with ``x`` each time, and the element is put back to its exact old value,
    so ``x`` is unchanged afterwards.  The loop costs two calls of ``f`` per
    element and nothing more.

    Args:
        f: function of ``x`` returning a number; it may ignore its argument
            and read ``x`` through a closure (a parameter array, say).
        x: float array of any shape, perturbed in place.
        h: the step.
        indices: flat indices to differentiate; the others are left 0.

    Returns:
        a NumPy array of ``x``'s shape and dtype (``x`` may live on a device).

    >>> x = np.array([3.0, 4.0])
    >>> numerical_gradient(lambda v: float(np.sum(v ** 2)), x)
    array([6., 8.])
    """
    if not is_array(x) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"numerical_gradient: expected a float NumPy (or CuPy) array, got "
                        f"{type(x).__name__} {getattr(x, 'dtype', '')}".rstrip())
    if not x.flags.writeable:
        raise ValueError("numerical_gradient: x must be writable (it is perturbed in place)")
    if not h > 0:
        raise ValueError(f"numerical_gradient: h must be positive, got {h}")
    grad = np.zeros(x.shape, dtype=x.dtype)  # on the host: each entry is one Python float
    # A flat view reaches every element by one integer; a non-contiguous array
    # is walked by multi-indices instead, as reshape would copy it.
    flat_x = x.reshape(-1) if x.flags.c_contiguous else None
    flat_grad = grad.reshape(-1)
    coords = range(x.size) if indices is None else np.asarray(indices, dtype=np.intp)
    two_h = 2 * h
    for i in coords:
        view, key = (flat_x, i) if flat_x is not None else (x, np.unravel_index(i, x.shape))
        old = view[key]
        view[key] = old + h
        f_plus = f(x)
        view[key] = old - h
        f_minus = f(x)
        view[key] = old
        flat_grad[i] = (f_plus - f_minus) / two_h
    return grad


@dataclass
class GradCheckEntry:
    """How backprop and the numerical gradient compare for one array."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs: float
    max_rel: float
    norm_rel: float
    scale: float
    passed: bool


@dataclass
class GradCheckReport:
    """The result of ``gradcheck``: one entry per checked array.

    ``norm_rel`` is ||g_num - g_bp|| / (||g_num|| + ||g_bp||) over the checked
    coordinates, ``max_rel`` the largest |a - b| / (|a| + |b|) of one
    coordinate, ``scale`` the largest |g_num|.  An entry passes when
    ``norm_rel <= rtol`` or ``max_abs <= atol * max(scale, scale_floor)``:
    the absolute test is relative to the size of the true gradient, so an
    array whose gradients are all tiny cannot pass with a wrong (even an
    all-zero) backward, and the floor lets an exact zero pass against the
    rounding noise of a numerical gradient that should be zero.
    """

    entries: list[GradCheckEntry]
    h: float
    atol: float
    rtol: float
    scale_floor: float
    numerical: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    backprop: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.entries)

    @property
    def max_abs(self) -> float:
        return max(e.max_abs for e in self.entries)

    @property
    def max_norm_rel(self) -> float:
        return max(e.norm_rel for e in self.entries)

    def __getitem__(self, name: str) -> GradCheckEntry:
        for entry in self.entries:
            if entry.name == name:
                return entry
        raise KeyError(f"no entry {name!r}; entries are {[e.name for e in self.entries]}")

    def __str__(self) -> str:
        head = (f"{'array':<10} {'shape':<14} {'checked':>8} {'max |num|':>10} {'max abs':>10} "
                f"{'max rel':>10} {'norm rel':>10}  result")
        lines = [f"gradient check (float64, h={self.h:g}, pass: norm rel <= {self.rtol:g} "
                 f"or max abs <= {self.atol:g} * max(max |num|, {self.scale_floor:g}))", head]
        for e in self.entries:
            lines.append(f"{e.name:<10} {str(e.shape):<14} {e.checked:>8} {e.scale:>10.2e} "
                         f"{e.max_abs:>10.2e} {e.max_rel:>10.2e} {e.norm_rel:>10.2e}  "
                         f"{'ok' if e.passed else 'FAILED'}")
        return "\n".join(lines)

    def raise_if_failed(self) -> "GradCheckReport":
        if not self.passed:
            raise AssertionError("gradient check failed:\n" + str(self))
        return self


def _compare(name: str, num: np.ndarray, bp: np.ndarray, coords: np.ndarray | None,
             atol: float, rtol: float, scale_floor: float) -> GradCheckEntry:
    a = num.reshape(-1) if coords is None else num.reshape(-1)[coords]
    b = bp.reshape(-1) if coords is None else bp.reshape(-1)[coords]
    diff = np.abs(a - b)
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    norm_rel = float(np.linalg.norm(a - b) / denom) if denom > 0 else 0.0
    scale = np.abs(a) + np.abs(b)
    rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
    max_abs = float(diff.max()) if diff.size else 0.0
    size = float(np.abs(a).max()) if a.size else 0.0
    return GradCheckEntry(name, tuple(num.shape), int(a.size), max_abs,
                          float(rel.max()) if rel.size else 0.0, norm_rel, size,
                          norm_rel <= rtol or max_abs <= atol * max(size, scale_floor))


def gradcheck(
    target: Layer | Loss,
    x: np.ndarray,
    targets: Any = None,
    *,
    loss: Loss | None = None,
    h: float = 1e-4,
    atol: float = 1e-7,
    rtol: float = 1e-6,
    scale_floor: float = 1e-5,
    max_coords: int | None = None,
    seed: int = 0,
) -> GradCheckReport:
    """Compare backprop with central differences for the input and every parameter.

    The check runs on float64 copies, so ``target`` itself is left untouched.

    * a layer or ``Sequential`` alone: the scalar is ``sum(forward(x) * G)`` for a
      fixed random upstream gradient ``G``, so every output element counts;
    * a layer or network with ``loss=`` and ``targets``: the scalar is the loss;
    * a ``Loss``: ``x`` are the scores and the scalar is ``c * loss(x, targets)``
      with a random ``c``, which also checks that ``backward(dout)`` honours ``dout``.

    Args:
        target: what to check.
        x: the input batch (or the scores, for a loss).
        targets: the targets, for a loss.
        loss: a loss put after ``target``.
        h: central-difference step.
        atol, rtol, scale_floor: pass thresholds (see ``GradCheckReport``);
            ``atol`` is relative to the largest numerical gradient of each array.
        max_coords: check at most this many random coordinates per array
            (for large models); ``None`` checks every coordinate.
        seed: seeds ``G``, ``c`` and the coordinate sample.

    >>> from layers import Affine
    >>> gradcheck(Affine(4, 3, rng=0), np.ones((2, 4))).passed
    True
    """
    if max_coords is not None and max_coords <= 0:
        raise ValueError(f"max_coords must be positive or None, got {max_coords}")
    rng = np.random.default_rng(seed)
    x64 = as_input(x, np.float64, "gradcheck: input")
    # A copy in any case, on the device of the target: the numerical gradient perturbs it.
    device = target.device if isinstance(target, Layer) else device_of(x64)
    x64 = device.xp.array(device.asarray(x64), copy=True)

    if isinstance(target, Loss):
        loss_fn = copy.deepcopy(target)
        c = float(rng.uniform(0.5, 2.0))
        f = lambda: c * loss_fn.forward(x64, targets)
        f()
        backprop = {"scores": to_numpy(loss_fn.backward(c)).copy()}
        arrays = {"scores": x64}
    elif isinstance(target, Layer):
        model = copy.deepcopy(target).astype(np.float64)
        loss_fn = copy.deepcopy(loss) if loss is not None else None
        if loss_fn is None:
            upstream = device.asarray(rng.standard_normal(model.forward(x64).shape))
            f = lambda: float(device.xp.sum(model.forward(x64) * upstream))
            dout: Any = upstream
        else:
            f = lambda: loss_fn.forward(model.forward(x64), targets)
        model.zero_grad()
        out = model.forward(x64)
        if loss_fn is None:
            dx = model.backward(dout)
        else:
            loss_fn.forward(out, targets)
            dx = model.backward(loss_fn.backward(1.0))
        backprop = {"x": to_numpy(dx).copy()}
        arrays = {"x": x64}
        for name, p in model.named_parameters():
            backprop[name] = to_numpy(p.grad).copy()
            arrays[name] = p.data
    else:
        raise TypeError(f"gradcheck: expected a Layer, Sequential or Loss, got {type(target).__name__}")

    entries, numerical = [], {}
    for name, array in arrays.items():
        coords = None
        if max_coords is not None and array.size > max_coords:
            coords = np.sort(rng.choice(array.size, size=max_coords, replace=False))
        numerical[name] = numerical_gradient(lambda _: f(), array, h, indices=coords)
        if backprop[name].shape != array.shape:
            raise ValueError(f"gradcheck: backprop gradient for {name!r} has shape "
                             f"{backprop[name].shape}, expected {array.shape}")
        entries.append(_compare(name, numerical[name], backprop[name], coords, atol, rtol,
                                scale_floor))
    return GradCheckReport(entries, h, atol, rtol, scale_floor, numerical, backprop)
