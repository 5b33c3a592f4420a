"""The loss contract and the target checks the losses share."""

from __future__ import annotations

from typing import Any

import numpy as np

from layers.base import FLOAT_DTYPES
from layers.device import array_module, device_of, is_array, max_over


class Loss:
    """Base class: ``forward(scores, targets) -> float``, ``backward(dout=1.0) -> dscores``.

    ``forward`` returns the mean loss over the batch as a Python float and
    keeps what ``backward`` needs; ``backward`` returns dL/dscores multiplied
    by ``dout``, in the dtype of the scores.
    """

    def __init__(self) -> None:
        self.scores_shape: tuple[int, ...] | None = None

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self, dout: float = 1.0) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, scores: np.ndarray, targets: np.ndarray) -> float:
        return self.forward(scores, targets)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _check_backward(self, dout: Any) -> float:
        if self.scores_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward: "
                               "compute the loss on a batch first")
        if isinstance(dout, bool) or not isinstance(dout, (int, float, np.floating, np.integer)) \
                or not np.isfinite(dout):
            raise ValueError(f"{type(self).__name__}.backward: expected dout as a finite "
                             f"number (the upstream gradient of the scalar loss), got {dout!r}")
        return float(dout)

    def _check_scores(self, scores: Any, ndim: tuple[int, ...] = (2,)) -> np.ndarray:
        name = type(self).__name__
        if not is_array(scores):
            raise TypeError(f"{name}: expected scores as a NumPy (or CuPy) array, "
                            f"got {type(scores).__name__}")
        if scores.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}: expected float32 or float64 scores, got {scores.dtype}")
        if scores.ndim not in ndim or scores.shape[0] == 0:
            shapes = " or ".join({1: "(N,)", 2: "(N, C)"}[d] for d in ndim)
            raise ValueError(f"{name}: expected scores of shape {shapes} with N >= 1, got {scores.shape}")
        return scores


def as_targets(targets: Any, scores: Any) -> Any:
    """``targets`` as an array on the device of ``scores`` (moved there if needed)."""
    t = targets if is_array(targets) else np.asarray(targets)
    return device_of(scores).asarray(t)


def class_targets(loss: Loss, targets: Any, n: int, num_classes: int,
                  dtype: np.dtype, scores: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Split ``targets`` into integer labels ``(N,)`` or a distribution ``(N, C)``.

    Returns ``(labels, None)`` or ``(None, probabilities)``, on the device of
    ``scores``; probabilities are one-hot rows or any rows of non-negative
    numbers summing to 1.
    """
    name = type(loss).__name__
    t = as_targets(targets, scores)
    xp = array_module(t)
    if t.ndim == 1:
        if t.shape[0] != n:
            raise ValueError(f"{name}: expected {n} targets for {n} scores, got {t.shape[0]}")
        kind = t.dtype.kind
        if kind not in "iu":
            if not (kind == "f" and bool(xp.all(xp.mod(t, 1) == 0))):
                raise TypeError(f"{name}: expected integer class labels of shape ({n},), got {t.dtype}")
            t = t.astype(np.int64)
            kind = "i"
        # One reduction checks both ends: seen as unsigned, a negative label is huge.
        unsigned = t.view(f"u{t.dtype.itemsize}") if kind == "i" else t
        if t.size and bool(max_over(unsigned, axis=None) >= num_classes):
            bad = t[(t < 0) | (t >= num_classes)][0]
            raise ValueError(f"{name}: expected labels in [0, {num_classes}) for {num_classes} "
                             f"classes, got {bad}")
        return t, None
    if t.ndim == 2:
        if t.shape[0] != n:
            raise ValueError(f"{name}: expected {n} target rows for {n} scores, got {t.shape[0]}")
        if t.shape[1] != num_classes:
            raise ValueError(f"{name}: expected one-hot targets of shape ({n}, {num_classes}), "
                             f"got rows of width {t.shape[1]} (shape {t.shape})")
        if bool(xp.any(t < 0)) or not bool(xp.allclose(t.sum(axis=1), 1.0, atol=1e-4)):
            raise ValueError(f"{name}: expected one-hot (or probability) rows that are non-negative "
                             "and sum to 1")
        return None, t.astype(dtype, copy=False)
    raise ValueError(f"{name}: expected targets as labels ({n},) or one-hot ({n}, {num_classes}), "
                     f"got shape {t.shape}")
