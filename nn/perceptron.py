"""Rosenblatt's perceptron: a step of ±1 on a weighted sum, trained by its own rule.

The perceptron is not trained by backpropagation (its step has no useful
gradient) but by the perceptron learning rule, here in its two classic forms:
one sample at a time (stochastic) or summed over every misclassified sample of
an epoch (batch). Training stops when an epoch makes no error or after
``max_epochs``, so data that no line separates (XOR) ends instead of looping
forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layers import Layer, Parameter, Step
from layers.base import as_float_dtype, check_positive_int, make_rng
from nn.inputs import as_input

MODES = ("stochastic", "batch")


@dataclass
class PerceptronRecord:
    """What ``Perceptron.fit`` did.

    Attributes:
        errors: misclassified samples per epoch (in stochastic mode, the
            mistakes made, and corrected, during the pass; in batch mode, the
            size of the misclassified set before the epoch's update).
        converged: an epoch ended without a single error.
        epochs: epochs run (equals ``max_epochs`` when it did not converge).
        updates: how many times the weights changed.
    """

    errors: list[int] = field(default_factory=list)
    converged: bool = False
    epochs: int = 0
    updates: int = 0


class Perceptron(Layer):
    """A single perceptron: ``y = step(w · [x, 1])`` with outputs -1 and +1.

    The bias is folded into the weights: each input is augmented with a
    constant 1, so ``W`` has ``in_features + 1`` entries and its last one is
    the bias. The output goes through ``layers.Step(low=-1, high=1)`` (+1
    where the weighted sum is positive, -1 otherwise). ``fit`` applies the
    perceptron learning rule

        w <- w + lr * (t - y) * x_aug

    either per sample in a shuffled order (``mode="stochastic"``) or once per
    epoch with the sum over the misclassified samples (``mode="batch"``);
    correctly classified samples have ``t - y = 0`` and change nothing.

    Args:
        in_features: inputs per sample (2 for the logic gates).
        lr: the learning rate η, > 0.
        mode: ``"stochastic"`` or ``"batch"``.
        max_epochs: the epoch limit, reached only when some error remains.
        init: standard deviation of the normal initial weights (0 for zeros).
        shuffle: in stochastic mode, visit the samples in a new random
            order each epoch (``False``: in the order given).
        rng: a ``np.random.Generator`` or int seed for the initial weights
            and the sample order.
        dtype: float32 (default) or float64, for weights and computation.

    Shape:
        input ``(N, in_features)``; output and targets ``(N,)`` of ±1.

    >>> x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    >>> p = Perceptron(2, lr=0.1, rng=0)
    >>> p.fit(x, np.array([-1, -1, -1, 1])).converged      # AND
    True
    >>> p.predict(x)
    array([-1., -1., -1.,  1.], dtype=float32)
    """

    def __init__(
        self,
        in_features: int,
        lr: float = 0.1,
        mode: str = "stochastic",
        max_epochs: int = 100,
        init: float = 0.01,
        shuffle: bool = True,
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features")
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)) \
                or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr!r}")
        if mode not in MODES:
            raise ValueError(f'mode must be "stochastic" or "batch", got {mode!r}')
        if isinstance(init, bool) or not isinstance(init, (int, float)) \
                or not np.isfinite(init) or init < 0:
            raise ValueError(f"init must be a non-negative standard deviation, got {init!r}")
        self.lr = float(lr)
        self.mode = mode
        self.max_epochs = check_positive_int(max_epochs, "max_epochs")
        self.init = float(init)
        self.shuffle = bool(shuffle)
        self.dtype = as_float_dtype(dtype)
        self.rng = make_rng(rng)
        w = self.rng.standard_normal(self.in_features + 1, dtype=self.dtype)
        w *= self.dtype.type(self.init)
        self.W = Parameter(w, name="W")  # last entry: the bias
        self.step = Step(low=-1.0, high=1.0)

    # -- the model -----------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """The input weights (a view of ``W`` without the bias)."""
        return self.W.data[:-1]

    @property
    def bias(self) -> float:
        return float(self.W.data[-1])

    def describe(self) -> str:
        return f"Perceptron({self.in_features} -> ±1)"

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return {"W": (check_positive_int(config.get("in_features"), "in_features") + 1,)}

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "lr": self.lr, "mode": self.mode,
                "max_epochs": self.max_epochs, "init": self.init, "shuffle": self.shuffle,
                "dtype": self.dtype.name}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0],)

    def augment(self, x: np.ndarray) -> np.ndarray:
        """``x`` with a column of ones appended: ``(N, in_features + 1)``."""
        x = self._check_input(x)
        return np.concatenate([x, np.ones((len(x), 1), dtype=x.dtype)], axis=1)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """The weighted sums ``w · [x, 1]``, shape ``(N,)``; positive means +1."""
        return self.augment(x) @ self.W.data

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The perceptron's outputs, -1 or +1, shape ``(N,)``, in the weights' dtype."""
        return self.step.forward(self.decision_function(x))

    predict = forward

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> None:
        raise RuntimeError(
            "Perceptron has no gradient to backpropagate: its step output is flat almost "
            "everywhere. Train it with Perceptron.fit (the perceptron learning rule), or "
            "use Affine with Sigmoid/Tanh for a network trained by backpropagation."
        )

    # -- the learning rule ---------------------------------------------------
    def fit(self, x: np.ndarray, t: np.ndarray) -> PerceptronRecord:
        """Apply the learning rule until an epoch makes no error or ``max_epochs``.

        Args:
            x: inputs ``(N, in_features)``: any real numbers (bool, integers,
                float16/32/64, nested lists), converted once to the
                perceptron's dtype, as in ``predict`` and ``accuracy``.
            t: targets ``(N,)`` (or ``(N, 1)``), each -1 or +1.

        Returns:
            a ``PerceptronRecord`` (errors per epoch, converged, epochs, updates).

        Raises:
            ValueError: wrong shapes, NaN or infinite inputs, or targets other than -1 and +1.
            TypeError: non-numeric or complex input.
        """
        xa = self.augment(x)
        t = self._check_targets(t, len(xa))
        record = PerceptronRecord()
        w, lr = self.W.data, self.dtype.type(self.lr)
        for _ in range(self.max_epochs):
            record.epochs += 1
            if self.mode == "stochastic":
                order = self.rng.permutation(len(xa)) if self.shuffle else range(len(xa))
                errors = 0
                for i in order:
                    xi = xa[i:i + 1]
                    y = self.step.forward(xi @ w)[0]
                    if y != t[i]:
                        w += lr * (t[i] - y) * xi[0]
                        errors += 1
                record.updates += errors
            else:
                y = self.step.forward(xa @ w)
                wrong = y != t
                errors = int(np.count_nonzero(wrong))
                if errors:
                    # sum over the misclassified set of (t - y) x; the others add 0
                    w += lr * ((t[wrong] - y[wrong]) @ xa[wrong])
                    record.updates += 1
            record.errors.append(errors)
            if errors == 0:
                record.converged = True
                break
        return record

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """Fraction of samples whose output equals the ±1 target."""
        t = self._check_targets(t, len(self._check_input(x)))
        return float(np.mean(self.predict(x) == t))

    # -- checks ----------------------------------------------------------------
    def _check_input(self, x: Any) -> np.ndarray:
        x = as_input(x, self.dtype, f"{self.describe()}: input")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self.describe()}: expected input of shape "
                             f"(N, {self.in_features}), got {x.shape}")
        if len(x) == 0:
            raise ValueError(f"{self.describe()}: expected at least one sample, got {x.shape}")
        return x

    def _check_targets(self, t: Any, n: int) -> np.ndarray:
        t = np.asarray(t)
        if t.ndim == 2 and t.shape[1] == 1:
            t = t.reshape(-1)
        if t.shape != (n,):
            raise ValueError(f"{self.describe()}: expected targets of shape ({n},) for {n} "
                             f"samples, got {t.shape}")
        if not np.issubdtype(t.dtype, np.number) or np.issubdtype(t.dtype, np.complexfloating):
            raise ValueError(f"{self.describe()}: expected targets -1 or +1, got dtype {t.dtype}")
        bad = (t != -1) & (t != 1)
        if np.any(bad):
            found = np.unique(t[bad])[:5].tolist()
            raise ValueError(f"{self.describe()}: expected targets -1 or +1, got {found}; "
                             "map 0/1 labels with t = 2 * t - 1")
        return t.astype(self.dtype)
