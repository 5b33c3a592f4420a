"""scikit-learn estimators: ``MLPClassifier`` and ``ConvNetClassifier``, built on ``Sequential`` and ``Trainer``.

They follow scikit-learn's estimator contract, so they work inside
``Pipeline``, ``cross_val_score``, ``GridSearchCV`` and ``RandomizedSearchCV``.
Importing this module imports scikit-learn (the ``[sklearn]`` extra:
``pip install "nn-from-scratch[sklearn]"``); ``import nn`` does not, and
``nn.MLPClassifier`` loads it on first use.

>>> from sklearn.datasets import load_digits
>>> X, y = load_digits(return_X_y=True)
>>> clf = MLPClassifier(hidden=(50,), epochs=20, random_state=0).fit(X / 16, y)
>>> clf.score(X / 16, y) > 0.95, clf.model_.layers[0]
(True, Affine(64 -> 50))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, check_random_state, validate_data
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    if exc.name != "sklearn" and not str(exc.name).startswith("sklearn."):
        raise
    raise ImportError("nn.MLPClassifier and nn.ConvNetClassifier need scikit-learn, which is not "
                      "installed: pip install \"nn-from-scratch[sklearn]\" (or pip install "
                      "scikit-learn)") from exc

import optimizers
from datasets import train_val_split
from losses import SoftmaxWithLoss
from nn.history import History
from nn.models import ACTIVATIONS, mlp, simple_convnet
from nn.sequential import Sequential
from nn.trainer import Trainer

__all__ = ["MLPClassifier", "ConvNetClassifier"]


class _StopWithoutImprovement:
    """scikit-learn's stopping rule: stop once the monitored loss has not fallen by
    more than ``tol`` below its best for ``n_epochs`` epochs in a row; with
    ``keep_best`` the weights of the best epoch are kept, to be put back."""

    def __init__(self, monitor: str, tol: float, n_epochs: int | None, keep_best: bool) -> None:
        self.monitor, self.tol, self.n_epochs, self.keep_best = monitor, tol, n_epochs, keep_best
        self.best, self.waited = math.inf, 0
        self.best_weights: list[np.ndarray] | None = None
        self.best_buffers: dict[str, np.ndarray] = {}

    def __call__(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs[self.monitor]
        self.waited = self.waited + 1 if value > self.best - self.tol else 0
        if value < self.best:
            self.best = value
            if self.keep_best:
                self.best_weights = [p.data.copy() for p in trainer.model.parameters()]
                self.best_buffers = {k: v.copy() for k, v in trainer.model.buffers().items()}
        if self.n_epochs is not None and self.waited >= self.n_epochs:
            trainer.stop_training = True

    def restore(self, model: Sequential) -> None:
        if self.best_weights is None:
            return
        for p, w in zip(model.parameters(), self.best_weights):
            p.data[...] = w
        if self.best_buffers:
            model.load_buffers(self.best_buffers)


def _extend(history: History, more: History) -> History:
    """``history`` followed by the epochs of ``more``, numbered on from its last epoch."""
    offset = history.epoch[-1] if history.epoch else 0
    for i, epoch in enumerate(more.epoch):
        history.append(offset + epoch, **{k: getattr(more, k)[i] for k in
                                          ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")})
    history.updates += more.updates
    history.best_epoch = None if more.best_epoch is None else offset + more.best_epoch
    history.stop_reason = more.stop_reason
    return history


class _NetClassifier(ClassifierMixin, BaseEstimator):
    """What both classifiers share: validation, label encoding, training and prediction.

    A subclass stores its own hyper-parameters in ``__init__`` (scikit-learn's
    rule: stored as given, checked in ``fit``) and builds its network in
    ``_build_model``.
    """

    def _build_model(self, n_features: int, n_classes: int, seed: int) -> Sequential:
        raise NotImplementedError

    def _check_model_params(self) -> None:
        """Raise ValueError for a subclass's own hyper-parameters."""

    def _reshape(self, X: np.ndarray) -> np.ndarray:
        """The validated 2-D ``X`` (a plain ndarray: a memmap's subclass is dropped) in the
        shape the network takes."""
        return X

    # -- scikit-learn's interface ------------------------------------------
    def fit(self, X: Any, y: Any) -> "_NetClassifier":
        """Train for up to ``epochs`` epochs on ``(X, y)``; a fresh network unless ``warm_start``.

        Args:
            X: samples, shape ``(n_samples, n_features)``.
            y: class labels of any type (numbers, strings, ...), shape ``(n_samples,)``.

        Returns:
            ``self``, fitted: ``model_``, ``history_``, ``classes_``, ``n_iter_``.
        """
        warm = bool(self.warm_start) and hasattr(self, "model_")
        x, labels = self._validate(X, y, reset=not warm)
        validation = None
        if self.validation_fraction:
            (x, labels), validation = train_val_split(x, labels, self.validation_fraction,
                                                      seed=self._shuffle_seed)
        stop = _StopWithoutImprovement("val_loss" if validation is not None else "loss",
                                       self.tol, self.n_iter_no_change,
                                       keep_best=validation is not None)
        trainer = Trainer(self.model_, SoftmaxWithLoss(), self.optimizer_, callbacks=[stop])
        history = trainer.fit(x, labels, self.epochs, self.batch_size, validation_data=validation,
                              seed=self._next_seed(), verbose=int(self.verbose))
        stop.restore(self.model_)
        self._record(history, reset=not warm)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> "_NetClassifier":
        """One epoch over ``(X, y)``, continuing the same network and optimizer.

        Args:
            X, y: a batch of samples and their labels.
            classes: every label that will ever appear; required on the first
                call (scikit-learn's convention), optional after.
        """
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError(f"{type(self).__name__}.partial_fit: classes must be passed on the "
                             "first call, e.g. classes=np.unique(y_all)")
        x, labels = self._validate(X, y, reset=first, classes=classes)
        trainer = Trainer(self.model_, SoftmaxWithLoss(), self.optimizer_)
        history = trainer.fit(x, labels, 1, self.batch_size, seed=self._next_seed(),
                              verbose=int(self.verbose))
        self._record(history, reset=first)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, columns in the order of ``classes_``."""
        scores = self._scores(X)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as one of ``classes_``."""
        best = self._scores(X).argmax(axis=1)
        return self.classes_[best]

    # -- the pieces ----------------------------------------------------------
    def _validate(self, X: Any, y: Any, reset: bool, classes: Any = None) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        if reset:
            self._check_params()
        dtype = np.dtype(self.dtype)
        X, y = validate_data(self, X, y, reset=reset, dtype=dtype, order="C")
        check_classification_targets(y)
        if reset:
            known = np.unique(y if classes is None else np.asarray(classes))
            if len(known) < 2:
                raise ValueError(f"{name} needs samples of at least 2 classes in y, got 1 class "
                                 f"({known[0]!r})")
            self.classes_ = known
            rng = check_random_state(self.random_state)
            self._weight_seed, self._shuffle_seed = (int(s) for s in rng.randint(2**31 - 1, size=2))
            self._fits = 0
            self.model_ = self._build_model(X.shape[1], len(known), self._weight_seed)
            kwargs: dict[str, Any] = {"lr": self.lr}
            if self.weight_decay:
                kwargs["weight_decay"] = self.weight_decay
            if self.momentum is not None:
                kwargs["momentum"] = self.momentum
            self.optimizer_ = optimizers.get_optimizer(self.optimizer, self.model_.parameters(), **kwargs)
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"{name}.partial_fit: classes={list(np.unique(classes))} differ from the "
                             f"classes of the first call, {list(self.classes_)}")
        labels = np.searchsorted(self.classes_, y)
        unknown = (labels >= len(self.classes_)) | (self.classes_[np.minimum(labels, len(self.classes_) - 1)] != y)
        if np.any(unknown):
            raise ValueError(f"{name}: y holds labels {sorted(set(np.asarray(y)[unknown].tolist()))} "
                             f"that are not among the classes {list(self.classes_)} it was fitted on")
        return self._reshape(np.asarray(X)), labels

    def _check_params(self) -> None:
        name = type(self).__name__
        if self.optimizer not in optimizers.OPTIMIZERS:
            raise ValueError(f"{name}: unknown optimizer {self.optimizer!r}; choose from "
                             f"{sorted(optimizers.OPTIMIZERS)}")
        _check_number(name, "lr", self.lr, low=0, low_open=True)
        _check_number(name, "weight_decay", self.weight_decay, low=0)
        if self.momentum is not None:
            _check_number(name, "momentum", self.momentum, low=0)
        _check_number(name, "tol", self.tol, low=0)
        _check_number(name, "validation_fraction", self.validation_fraction, low=0, high=1)
        _check_int(name, "epochs", self.epochs)
        if self.batch_size is not None:
            _check_int(name, "batch_size", self.batch_size)
        if self.n_iter_no_change is not None:
            _check_int(name, "n_iter_no_change", self.n_iter_no_change)
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"{name}: dtype must be float32 or float64, got {self.dtype!r}")
        self._check_model_params()

    def _next_seed(self) -> int:
        """A seed for the shuffling of this call: each fit and partial_fit draws a new order."""
        self._fits += 1
        return self._shuffle_seed + self._fits

    def _record(self, history: History, reset: bool) -> None:
        self.history_ = history if reset else _extend(self.history_, history)
        self.n_iter_ = len(self.history_)
        self.loss_ = self.history_.loss[-1]

    def _scores(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.dtype(self.dtype), order="C")
        model = self.model_
        was_training = model.training
        model.eval()
        try:
            x = self._reshape(np.asarray(X))
            if len(x) == 0:
                return np.zeros((0, len(self.classes_)), dtype=X.dtype)
            return np.concatenate([model.forward(x[i:i + 1024]) for i in range(0, len(x), 1024)])
        finally:
            model.train(was_training)


def _store(estimator: Any, params: dict[str, Any]) -> None:
    """Keep each argument of ``__init__`` as the attribute of its name, unchanged (scikit-learn's rule)."""
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


def _check_number(owner: str, name: str, value: Any, low: float, high: float | None = None,
                  low_open: bool = False) -> None:
    ok = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
          and math.isfinite(value) and (value > low if low_open else value >= low)
          and (high is None or value < high))
    if not ok:
        bounds = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and < {high}")
        raise ValueError(f"{owner}: {name} must be a number {bounds}, got {value!r}")


def _check_int(owner: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")


_COMMON_DOC = """
        optimizer: sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw.
        lr: learning rate.
        momentum: momentum for sgd/momentum/nesterov/rmsprop (None: the optimizer's default).
        weight_decay: L2 weight decay (decoupled for adamw).
        batch_size: mini-batch size; None for full-batch gradient descent.
        epochs: the most epochs one ``fit`` trains.
        tol, n_iter_no_change: stop once the training loss (the validation
            loss with ``validation_fraction``) has not fallen by ``tol`` for
            ``n_iter_no_change`` epochs; None trains every epoch.
        validation_fraction: hold this fraction of ``fit``'s data out, monitor
            its loss for stopping, and keep the weights of its best epoch.
        random_state: seeds the initial weights and the shuffling (None: fresh each fit).
        warm_start: ``fit`` continues the fitted network instead of starting anew.
        dtype: "float32" or "float64", of the network and of the data it is given.
        verbose: 1 prints a line per epoch.

    Attributes:
        model_: the trained ``Sequential``.
        optimizer_: its optimizer (and its state).
        history_: the ``History`` of the training, one entry per epoch
            (``partial_fit`` and warm-started fits add to it).
        classes_: the labels, in the order of ``predict_proba``'s columns.
        n_features_in_, n_iter_ (epochs trained), loss_ (the last epoch's training loss).
"""


class MLPClassifier(_NetClassifier):
    """A multi-layer perceptron classifier (``nn.mlp`` + softmax cross-entropy) for scikit-learn.

    Args:
        hidden: sizes of the hidden layers.
        activation: relu, sigmoid, tanh or leaky_relu.
        init: weight init, "he", "xavier" or a std (None: he for ReLU, xavier for sigmoid/tanh).
        batchnorm: a BatchNorm after every hidden Affine.
        dropout: dropout probability after every hidden activation.
    """ + _COMMON_DOC + """
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(hidden=(20,), random_state=0))
    """

    def __init__(self, hidden: Sequence[int] = (100,), activation: str = "relu", *, init: Any = None,
                 batchnorm: bool = False, dropout: float = 0.0, optimizer: str = "adam",
                 lr: float = 1e-3, momentum: float | None = None, weight_decay: float = 0.0,
                 batch_size: int | None = 100, epochs: int = 200, tol: float = 1e-4,
                 n_iter_no_change: int | None = 10, validation_fraction: float = 0.0,
                 random_state: Any = None, warm_start: bool = False, dtype: str = "float32",
                 verbose: int = 0) -> None:
        _store(self, locals())

    def _check_model_params(self) -> None:
        hidden = (self.hidden,) if isinstance(self.hidden, (int, np.integer)) else self.hidden
        for size in hidden:
            _check_int("MLPClassifier", "every hidden layer size", size)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"MLPClassifier: unknown activation {self.activation!r}; choose from "
                             f"{sorted(ACTIVATIONS)}")
        _check_number("MLPClassifier", "dropout", self.dropout, low=0, high=1)

    def _build_model(self, n_features: int, n_classes: int, seed: int) -> Sequential:
        hidden = [self.hidden] if isinstance(self.hidden, (int, np.integer)) else list(self.hidden)
        return mlp(n_features, hidden, n_classes, activation_name=self.activation, init=self.init,
                   batchnorm=bool(self.batchnorm), dropout=float(self.dropout), seed=seed,
                   dtype=np.dtype(self.dtype))


class ConvNetClassifier(_NetClassifier):
    """The textbook's SimpleConvNet (conv → ReLU → pool → Affine → ReLU → Affine) for scikit-learn.

    Each row of ``X`` is an image flattened from ``input_shape`` (channels,
    height, width), as MNIST's 784 pixels are from 1×28×28.

    Args:
        input_shape: ``(channels, height, width)`` of one image.
        filters: number of convolution filters.
        kernel_size: side of the square filters.
        hidden: size of the hidden Affine layer.
    """ + _COMMON_DOC + """
    >>> clf = ConvNetClassifier(input_shape=(1, 8, 8), filters=8, kernel_size=3, epochs=5)
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), filters: int = 30,
                 kernel_size: int = 5, hidden: int = 100, *, optimizer: str = "adam",
                 lr: float = 1e-3, momentum: float | None = None, weight_decay: float = 0.0,
                 batch_size: int | None = 100, epochs: int = 200, tol: float = 1e-4,
                 n_iter_no_change: int | None = 10, validation_fraction: float = 0.0,
                 random_state: Any = None, warm_start: bool = False, dtype: str = "float32",
                 verbose: int = 0) -> None:
        _store(self, locals())

    def _check_model_params(self) -> None:
        shape = tuple(self.input_shape)
        if len(shape) != 3:
            raise ValueError(f"ConvNetClassifier: input_shape must be (channels, height, width), "
                             f"got {self.input_shape!r}")
        for name, value in (("input_shape", shape[0]), ("input_shape", shape[1]),
                            ("input_shape", shape[2]), ("filters", self.filters),
                            ("kernel_size", self.kernel_size), ("hidden", self.hidden)):
            _check_int("ConvNetClassifier", name, value)
        if self.kernel_size > min(shape[1:]):
            raise ValueError(f"ConvNetClassifier: kernel_size {self.kernel_size} is larger than the "
                             f"{shape[1]}x{shape[2]} images")

    def _build_model(self, n_features: int, n_classes: int, seed: int) -> Sequential:
        shape = tuple(int(s) for s in self.input_shape)
        if n_features != math.prod(shape):
            raise ValueError(f"ConvNetClassifier: input_shape {shape} means {math.prod(shape)} "
                             f"features per sample, but X has {n_features}")
        return simple_convnet(shape, int(self.filters), int(self.kernel_size), int(self.hidden),
                              n_classes, seed=seed, dtype=np.dtype(self.dtype))

    def _reshape(self, X: np.ndarray) -> np.ndarray:
        return X.reshape(len(X), *(int(s) for s in self.input_shape))
