"""Softmax and cross-entropy fused into one numerically stable layer."""

from __future__ import annotations

import numpy as np

from losses.base import Loss, class_targets


class SoftmaxWithLoss(Loss):
    """Mean cross-entropy of softmax(scores) against class targets.

    L = -(1/N) Σ_n Σ_c t_nc log softmax(s_n)_c, computed as log-sum-exp with the
    row maximum subtracted, so scores of ±1e4 neither overflow nor take log(0).
    The gradient is dL/ds = (softmax(s) - t) / N.

    Args (of ``forward``):
        scores: ``(N, C)`` float32 or float64 logits.
        targets: integer labels ``(N,)`` in ``[0, C)`` or one-hot rows ``(N, C)``.

    >>> loss = SoftmaxWithLoss()
    >>> round(loss(np.zeros((2, 4)), np.array([0, 3])), 4)   # log(4)
    1.3863
    """

    def __init__(self) -> None:
        super().__init__()
        self.probs: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.onehot: np.ndarray | None = None

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        scores = self._check_scores(scores)
        n, c = scores.shape
        labels, onehot = class_targets(self, targets, n, c, scores.dtype)
        z = scores - scores.max(axis=1, keepdims=True)
        if labels is not None:
            z_target = z[np.arange(n), labels]
        else:
            z_target = np.einsum("nc,nc->n", onehot, z)
        np.exp(z, out=z)
        row_sum = z.sum(axis=1, keepdims=True)
        # np.add.reduce, not np.mean: the same sum without mean's Python-level wrapper.
        loss = float(np.add.reduce(np.log(row_sum[:, 0]) - z_target, dtype=np.float64)) / n
        z /= row_sum  # z now holds softmax(scores)
        self.probs, self.labels, self.onehot = z, labels, onehot
        self.scores_shape = scores.shape
        return loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        scale = self._check_backward(dout)
        n = self.probs.shape[0]
        dx = self.probs.copy()
        if self.labels is not None:
            dx[np.arange(n), self.labels] -= 1
        else:
            dx -= self.onehot
        dx *= dx.dtype.type(scale / n)
        return dx
