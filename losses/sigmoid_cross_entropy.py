"""Binary cross-entropy on logits, for two-class problems such as XOR."""

from __future__ import annotations

import numpy as np

from layers.activations import sigmoid
from layers.device import array_module
from losses.base import Loss, as_targets


class SigmoidWithLoss(Loss):
    """Mean binary cross-entropy of sigmoid(scores) against targets in [0, 1].

    L = mean( max(s, 0) - s t + log(1 + exp(-|s|)) ), the stable form of
    -[t log σ(s) + (1 - t) log(1 - σ(s))]; dL/ds = (σ(s) - t) / M, where M is the
    number of scores (N for ``(N,)`` or ``(N, 1)``).

    Args (of ``forward``):
        scores: logits ``(N,)`` or ``(N, K)`` (K independent binary outputs).
        targets: the same shape (``(N,)`` is also accepted for ``(N, 1)`` scores), values in [0, 1].

    >>> round(SigmoidWithLoss()(np.array([0.0]), np.array([1.0])), 4)   # log 2
    0.6931
    """

    def __init__(self) -> None:
        super().__init__()
        self.probs: np.ndarray | None = None
        self.targets: np.ndarray | None = None

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        scores = self._check_scores(scores, ndim=(1, 2))
        xp = array_module(scores)
        t = as_targets(targets, scores)
        if t.shape != scores.shape:
            if scores.ndim == 2 and scores.shape[1] == 1 and t.shape == scores.shape[:1]:
                t = t.reshape(scores.shape)
            else:
                raise ValueError(f"SigmoidWithLoss: expected targets of shape {scores.shape} "
                                 f"(the scores' shape), got {t.shape}")
        if t.dtype == np.bool_ or not np.issubdtype(t.dtype, np.number):
            t = t.astype(scores.dtype)
        if t.size and (t.min() < 0 or t.max() > 1):
            raise ValueError("SigmoidWithLoss: expected targets in [0, 1] (0/1 labels or "
                             f"probabilities), got values from {t.min()} to {t.max()}")
        t = t.astype(scores.dtype, copy=False)
        loss = xp.maximum(scores, 0) - scores * t + xp.log1p(xp.exp(-xp.abs(scores)))
        self.probs, self.targets = sigmoid(scores), t
        self.scores_shape = scores.shape
        return float(xp.mean(loss, dtype=np.float64))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        scale = self._check_backward(dout)
        dx = self.probs - self.targets
        dx *= dx.dtype.type(scale / dx.size)
        return dx
