"""The layers every contract test runs on, in one table.

Each case is (id, factory taking a dtype, input shape, input maker): the
factory builds the layer in float32 or float64, the input maker gives float64
test inputs of a shape (away from ReLU's kink, or distinct values so max
pooling has no ties within the finite-difference step).
"""

from __future__ import annotations

import numpy as np

from helpers import away_from_zero
from layers import (Affine, AvgPooling, BatchNorm, Convolution, Dropout, Flatten, LeakyReLU,
                    MaxPooling, ReLU, Sigmoid, Softmax, Tanh)
from nn import Sequential


def distinct(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """float64 values at least 0.05 apart in random order: no max-pooling ties within h."""
    size = int(np.prod(shape))
    values = np.random.default_rng(seed).permutation(size) * 0.05 - 0.025 * size
    return values.reshape(shape)


def batchnorm(num_features: int, dtype=np.float64, *, eval_mode: bool = False, seed: int = 0):
    """A BatchNorm with non-trivial gamma, beta and running statistics."""
    rng = np.random.default_rng(seed)
    layer = BatchNorm(num_features, dtype=dtype)
    layer.gamma.data[...] = rng.uniform(0.5, 2.0, num_features)
    layer.beta.data[...] = rng.standard_normal(num_features)
    layer.running_mean[...] = rng.standard_normal(num_features)
    layer.running_var[...] = rng.uniform(0.5, 2.0, num_features)
    return layer.eval() if eval_mode else layer


CORE = [
    ("Affine", lambda dt: Affine(5, 3, rng=0, dtype=dt), (4, 5)),
    ("Affine-image-input", lambda dt: Affine(12, 3, init="xavier", rng=1, dtype=dt), (2, 3, 2, 2)),
    ("ReLU", lambda dt: ReLU(), (4, 5)),
    ("LeakyReLU", lambda dt: LeakyReLU(0.1), (4, 5)),
    ("Sigmoid", lambda dt: Sigmoid(), (4, 5)),
    ("Tanh", lambda dt: Tanh(), (4, 5)),
    ("Softmax", lambda dt: Softmax(), (4, 5)),
    ("Sequential", lambda dt: Sequential([Affine(6, 4, rng=2, dtype=dt), Tanh(),
                                          Affine(4, 3, rng=3, dtype=dt), Sigmoid()]), (5, 6)),
]

CNN = [
    ("Conv-3x3", lambda dt: Convolution(2, 3, 3, rng=0, dtype=dt), (2, 2, 5, 5)),
    ("Conv-stride2-pad1", lambda dt: Convolution(2, 3, 3, stride=2, pad=1, rng=1, dtype=dt),
     (2, 2, 6, 5)),
    ("Conv-nonsquare", lambda dt: Convolution(3, 2, (2, 3), stride=(2, 1), pad=(1, 0), rng=2,
                                              dtype=dt), (2, 3, 5, 6)),
    ("Conv-1x1", lambda dt: Convolution(3, 2, 1, init=0.1, rng=3, dtype=dt), (2, 3, 3, 4)),
    ("Conv-stride-beyond-kernel", lambda dt: Convolution(1, 2, 2, stride=3, pad=1, rng=4,
                                                         dtype=dt), (2, 1, 7, 6)),
    ("MaxPool-2", lambda dt: MaxPooling(2), (2, 3, 4, 4)),
    ("MaxPool-3-stride2-pad1", lambda dt: MaxPooling(3, stride=2, pad=1), (2, 2, 5, 6)),
    ("MaxPool-nonsquare-overlap", lambda dt: MaxPooling((2, 3), stride=(1, 2)), (2, 2, 5, 7)),
    ("AvgPool-2", lambda dt: AvgPooling(2), (2, 3, 4, 5)),
    ("AvgPool-3-stride2-pad1", lambda dt: AvgPooling(3, stride=2, pad=1), (2, 2, 5, 6)),
    ("AvgPool-nonsquare-overlap", lambda dt: AvgPooling((3, 2), stride=1, pad=(1, 0)),
     (2, 2, 4, 5)),
    ("Flatten", lambda dt: Flatten(), (2, 3, 2, 2)),
]

NORM = [
    ("BatchNorm-2d-train", lambda dt: batchnorm(3, dt), (5, 3)),
    ("BatchNorm-2d-train-batch-of-two", lambda dt: batchnorm(4, dt), (2, 4)),
    ("BatchNorm-4d-train", lambda dt: batchnorm(2, dt), (3, 2, 3, 2)),
    ("BatchNorm-4d-train-one-sample", lambda dt: batchnorm(2, dt), (1, 2, 2, 3)),
    ("BatchNorm-2d-eval", lambda dt: batchnorm(3, dt, eval_mode=True), (4, 3)),
    ("BatchNorm-4d-eval", lambda dt: batchnorm(2, dt, eval_mode=True), (2, 2, 3, 3)),
    ("Dropout-eval", lambda dt: Dropout(0.4, rng=0).eval(), (4, 5)),
]

CASES = [(*case, away_from_zero) for case in CORE + NORM] + [(*case, distinct) for case in CNN]
IDS = [case[0] for case in CASES]
