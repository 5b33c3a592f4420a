"""Softmax and cross-entropy fused into one numerically stable layer."""

from __future__ import annotations

import numpy as np

from layers.device import array_module, max_over, sum_over
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
        # softmax(scores) of the last forward, stored class-major as (C, N): see forward.
        self._probs_t: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.onehot: np.ndarray | None = None
        self._rows = np.arange(0)  # 0..N-1, kept between batches of the same size
        # label * N + row: where each target sits in the flattened (C, N) array. One
        # integer index is NumPy's fast path; the pair (labels, rows) goes through its
        # general fancy indexing.
        self._target_index: np.ndarray | None = None

    @property
    def probs(self) -> np.ndarray | None:
        """softmax(scores) of the last forward, shape ``(N, C)`` (a read-only view)."""
        if self._probs_t is None:
            return None
        view = self._probs_t.T
        view.flags.writeable = False
        return view

    def forward(self, scores: np.ndarray, targets: np.ndarray) -> float:
        scores = self._check_scores(scores)
        n, c = scores.shape
        labels, onehot = class_targets(self, targets, n, c, scores.dtype, scores)
        xp = array_module(scores)
        # The work runs on the transposed (C, N) copy: NumPy reduces down the
        # columns of (C, N) with SIMD, but each short row of (N, C), such as
        # the row maximum over 10 classes, with a loop of its own.
        z = xp.ascontiguousarray(scores.T)
        z -= max_over(z, axis=0)
        if len(self._rows) != n or type(self._rows) is not type(z):
            self._rows = xp.arange(n)
        target_index = None
        if labels is not None:
            target_index = xp.multiply(labels, n, dtype=np.intp)  # uint8 labels * n would wrap
            target_index += self._rows
            z_target = z.reshape(-1).take(target_index)
        else:
            z_target = xp.einsum("nc,cn->n", onehot, z)
        xp.exp(z, out=z)
        col_sum = sum_over(z, axis=0)
        loss = float(sum_over(xp.log(col_sum) - z_target, axis=None, dtype=np.float64)) / n
        z /= col_sum  # z now holds softmax(scores).T
        self._probs_t, self.labels, self.onehot = z, labels, onehot
        self._target_index = target_index
        self.scores_shape = scores.shape
        return loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dL/dscores, shape ``(N, C)``; a fresh array (its memory is column-major)."""
        scale = self._check_backward(dout)
        n = self._probs_t.shape[1]
        dx = self._probs_t.copy()
        if self.labels is not None:
            flat = dx.reshape(-1)
            flat[self._target_index] -= 1
        else:
            dx -= self.onehot.T
        dx *= dx.dtype.type(scale / n)
        return dx.T
