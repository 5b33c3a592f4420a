"""Mean squared error, with the textbook's factor of one half."""

from __future__ import annotations

import numpy as np

from layers.device import array_module
from losses.base import Loss, as_targets, class_targets


class MeanSquaredError(Loss):
    """Half the squared error summed over outputs, averaged over the batch.

    L = (1 / 2N) Σ_n Σ_k (y_nk - t_nk)², so dL/dy = (y - t) / N.  With N = 1
    this is the textbook's ``0.5 * np.sum((y - t)**2)``.

    Args (of ``forward``):
        scores: predictions ``(N, K)`` or ``(N,)``.
        targets: the same shape, or integer labels ``(N,)`` for ``(N, K)``
            scores (taken as one-hot rows).

    >>> MeanSquaredError()(np.array([[1.0, 0.0]]), np.array([[0.0, 0.0]]))
    0.5
    """

    def __init__(self) -> None:
        super().__init__()
        self.diff: np.ndarray | None = None

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        scores = self._check_scores(scores, ndim=(1, 2))
        xp = array_module(scores)
        t = as_targets(targets, scores)
        if scores.ndim == 2 and t.ndim == 1:
            labels, _ = class_targets(self, t, scores.shape[0], scores.shape[1], scores.dtype, scores)
            t = xp.zeros_like(scores)
            t[xp.arange(scores.shape[0]), labels] = 1
        elif t.shape != scores.shape:
            raise ValueError(f"MeanSquaredError: expected targets of shape {scores.shape} "
                             f"(the scores' shape), got {t.shape}")
        self.diff = scores - t.astype(scores.dtype, copy=False)
        self.scores_shape = scores.shape
        return float(0.5 * xp.sum(xp.square(self.diff), dtype=np.float64) / scores.shape[0])

    def backward(self, dout: float = 1.0) -> np.ndarray:
        scale = self._check_backward(dout)
        return self.diff * self.diff.dtype.type(scale / self.diff.shape[0])
