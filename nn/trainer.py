"""``Trainer``: full-batch GD, mini-batch SGD or stochastic GD, with honest epochs.

Every regime shuffles without replacement, so an epoch sees every sample
exactly once; the loss it logs is the one computed by the forward pass that
produced the gradients; validation runs in eval mode, in batches.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import numpy as np

from datasets import minibatches, num_batches
from layers import Layer
from layers.base import make_rng
from layers.device import CPU, array_module, is_array
from losses import Loss
from nn.history import History
from nn.inputs import as_input, model_dtype
from nn.sequential import scores_to_classes

Callback = Callable[["Trainer", int, dict[str, float]], Any]


class DivergenceError(FloatingPointError):
    """The loss became NaN or infinite; ``history`` holds the epochs completed before."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


def count_correct(scores: np.ndarray, targets: np.ndarray) -> int:
    """Number of samples whose predicted class matches the target.

    Targets may be labels ``(N,)`` or one-hot rows ``(N, C)``; a single
    score column (or 1-D scores) is a binary classifier, positive means 1.
    """
    predicted = scores_to_classes(scores)
    if scores.ndim == 2 and scores.shape[1] > 1:
        labels = targets.argmax(axis=1) if targets.ndim == 2 else targets
    else:  # binary targets may be probabilities: the class is the nearer of 0 and 1
        labels = targets.reshape(len(targets)) > 0.5
    return int(array_module(predicted).count_nonzero(predicted == labels))


def evaluate(model: Layer, loss: Loss, x: Any, t: Any,
             batch_size: int = 1024) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, t)``, in eval mode, ``batch_size`` at a time.

    ``x`` may hold any real numbers (bool, integers, float16/32/64): it is
    converted to the model's dtype once.  The model's mode is restored afterwards.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return _evaluate(model, loss, *_data(model, x, t, "evaluation data"), batch_size)


def _evaluate(model: Layer, loss: Loss, x: np.ndarray, t: np.ndarray,
              batch_size: int) -> tuple[float, float]:
    """``evaluate`` on data already checked and converted."""
    device = model.device
    was_training = model.training
    model.eval()
    try:
        loss_sum, correct = 0.0, 0
        for start in range(0, len(x), batch_size):
            xb, tb = x[start:start + batch_size], t[start:start + batch_size]
            if device is not CPU:
                xb, tb = device.asarray(xb), device.asarray(tb)
            scores = model.forward(xb)
            loss_sum += loss.forward(scores, tb) * len(xb)
            correct += count_correct(scores, tb)
    finally:
        model.train(was_training)
    return loss_sum / len(x), correct / len(x)


#: an epoch this many times slower than the first (and SLOW_EPOCH_MIN_S slower) gets a hint.
SLOW_EPOCH_FACTOR = 3.0
SLOW_EPOCH_MIN_S = 0.5
SLOW_EPOCH_HINT = (
    "note: epoch {epoch} took {time:.1f}s, {factor:.0f}x the first ({first:.1f}s): the machine is "
    "probably busy. Threaded BLAS slows down most under load; one thread is often faster then "
    "(python -m nn train --threads 1; in Python, threadpoolctl.threadpool_limits(1)).")


class _Progress:
    """Per-epoch lines, a bar within the epoch when writing to a terminal, and a
    one-time hint when an epoch runs far slower than the first (a loaded machine:
    the same work takes the same time otherwise)."""

    def __init__(self, verbose: int, stream: TextIO, epochs: int, batches: int) -> None:
        self.on = verbose > 0
        self.bar = self.on and batches > 1 and hasattr(stream, "isatty") and stream.isatty()
        self.stream, self.epochs, self.batches = stream, epochs, batches
        self.last_draw = 0.0
        self.first_time: float | None = None
        self.hinted = False

    def batch(self, epoch: int, done: int, loss: float) -> None:
        now = time.perf_counter()
        if not self.bar or (now - self.last_draw < 0.2 and done < self.batches):
            return
        self.last_draw = now
        width = 30
        filled = width * done // self.batches
        self.stream.write(f"\repoch {epoch}/{self.epochs} [{'#' * filled}{'.' * (width - filled)}] "
                          f"{done}/{self.batches}  loss {loss:.4f}")
        self.stream.flush()

    def epoch(self, epoch: int, logs: dict[str, float]) -> None:
        if not self.on:
            return
        width = len(str(self.epochs))
        parts = [f"epoch {epoch:>{width}}/{self.epochs}", f"loss {logs['loss']:.4f}",
                 f"acc {100 * logs['accuracy']:.2f}%"]
        if not math.isnan(logs["val_loss"]):
            parts += [f"val_loss {logs['val_loss']:.4f}", f"val_acc {100 * logs['val_accuracy']:.2f}%"]
        parts += [f"lr {logs['lr']:.3g}", f"{logs['time']:.2f}s"]
        prefix = "\r\033[K" if self.bar else ""
        self.stream.write(prefix + "  ".join(parts) + "\n")
        self._hint_if_slow(epoch, logs["time"])
        self.stream.flush()

    def _hint_if_slow(self, epoch: int, seconds: float) -> None:
        if self.first_time is None:
            self.first_time = seconds
            return
        first = self.first_time
        if (not self.hinted and seconds > SLOW_EPOCH_FACTOR * first
                and seconds - first > SLOW_EPOCH_MIN_S):
            self.hinted = True
            self.stream.write(SLOW_EPOCH_HINT.format(epoch=epoch, time=seconds, first=first,
                                                     factor=seconds / max(first, 1e-9)) + "\n")

    def message(self, text: str) -> None:
        if self.on:
            self.stream.write(text + "\n")
            self.stream.flush()


class Trainer:
    """Trains a model with a loss and an optimizer, one real epoch at a time.

    Args:
        model: a ``Sequential`` (or any layer).
        loss: a loss object such as ``SoftmaxWithLoss()``.
        optimizer: an optimizer built on ``model.parameters()``.
        schedule: optional learning-rate schedule; its ``step()`` runs after each epoch.
        callbacks: callables ``f(trainer, epoch, logs)`` run after each epoch;
            setting ``trainer.stop_training = True`` ends the run.
        eval_batch_size: batch size for evaluation (bounds its memory).

    Each batch runs ``forward``, the loss, ``optimizer.zero_grad()``,
    ``backward`` and ``optimizer.step()``: the layers compute the gradients
    and the optimizer alone changes the weights, so after ``fit`` every
    ``p.grad`` holds the gradient of the last batch.

    >>> # trainer = Trainer(model, SoftmaxWithLoss(), Adam(model.parameters()))
    >>> # history = trainer.fit(x, t, epochs=5, batch_size=100, validation_data=(xv, tv), seed=0)
    """

    def __init__(self, model: Layer, loss: Loss, optimizer: Any, *, schedule: Any = None,
                 callbacks: Iterable[Callback] = (), eval_batch_size: int = 1024) -> None:
        if not isinstance(model, Layer):
            raise TypeError(f"Trainer: expected a model (Sequential or Layer), got {type(model).__name__}")
        if not isinstance(loss, Loss):
            raise TypeError(f"Trainer: expected a loss object such as SoftmaxWithLoss(), "
                            f"got {type(loss).__name__}")
        if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
            raise TypeError(f"Trainer: expected an optimizer with step() and zero_grad(), "
                            f"got {type(optimizer).__name__}")
        if eval_batch_size <= 0:
            raise ValueError(f"eval_batch_size must be positive, got {eval_batch_size}")
        self.model, self.loss, self.optimizer, self.schedule = model, loss, optimizer, schedule
        self.callbacks = list(callbacks)
        self.eval_batch_size = eval_batch_size
        self.stop_training = False
        self._buffers: tuple[np.ndarray, np.ndarray] | None = None  # see _batch_buffers

    def fit(
        self,
        x: np.ndarray,
        t: np.ndarray,
        epochs: int = 10,
        batch_size: int | None = 100,
        *,
        validation_data: tuple[np.ndarray, np.ndarray] | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | np.random.Generator | None = None,
        patience: int | None = None,
        restore_best: bool = True,
        verbose: int = 1,
        file: TextIO | None = None,
    ) -> History:
        """Train for ``epochs`` epochs and return the ``History``.

        Args:
            x, t: training inputs and targets (labels or one-hot).  ``x`` may
                hold any real numbers (bool, integers, float16/32/64): it is
                converted to the model's dtype once, before the first epoch.
            epochs: number of passes over the data.
            batch_size: ``None`` for full-batch gradient descent (one update
                per epoch over all samples), 1 for stochastic gradient
                descent, anything else for mini-batch SGD.
            validation_data: ``(x_val, t_val)`` evaluated after every epoch.
            shuffle: draw a new order (without replacement) every epoch.
            drop_last: skip a last batch smaller than ``batch_size``.
            seed: seeds the shuffling; the same seed and the same initial
                model give the same History, bit for bit (wall times aside),
                as long as BLAS runs the same number of threads.
            patience: early stopping: stop after this many epochs without
                improvement of the validation loss (of the training loss if
                there is no validation data).
            restore_best: with ``patience``, put back the weights of the best epoch.
            verbose: 0 silent, 1 a line per epoch (and a bar on a terminal).
            file: where progress goes (default ``sys.stdout``).

        Raises:
            DivergenceError: the loss became NaN or infinite.
        """
        x, t = _data(self.model, x, t, "training data")
        if validation_data is not None:
            if not isinstance(validation_data, tuple) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (x_val, t_val)")
            validation_data = _data(self.model, *validation_data, "validation data")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)
                                     or patience < 1):
            raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
        batches = num_batches(len(x), batch_size, drop_last)  # validates batch_size
        if batches == 0:
            raise ValueError(f"no batch to train on: {len(x)} samples, batch_size={batch_size}, "
                             f"drop_last={drop_last}")
        rng = make_rng(seed)
        progress = _Progress(verbose, file or sys.stdout, epochs, batches)
        history = History()
        best, best_weights, best_buffers, waited = math.inf, None, {}, 0
        self.stop_training = False

        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            lr = float(getattr(self.optimizer, "lr", math.nan))
            loss_sum, correct, seen = self._train_epoch(x, t, batch_size, rng, shuffle, drop_last,
                                                        epoch, progress, history)
            logs = {"loss": loss_sum / seen, "accuracy": correct / seen, "lr": lr,
                    "val_loss": math.nan, "val_accuracy": math.nan}
            if validation_data is not None:
                logs["val_loss"], logs["val_accuracy"] = _evaluate(
                    self.model, self.loss, *validation_data, self.eval_batch_size)
            logs["time"] = time.perf_counter() - started
            history.append(epoch, **logs)
            progress.epoch(epoch, logs)
            if self.schedule is not None:
                self.schedule.step()

            monitored = logs["val_loss"] if validation_data is not None else logs["loss"]
            if monitored < best:
                best, waited, history.best_epoch = monitored, 0, epoch
                if patience is not None and restore_best:
                    best_weights = [p.data.copy() for p in self.model.parameters()]
                    best_buffers = {k: v.copy() for k, v in self.model.buffers().items()}
            else:
                waited += 1
            for callback in self.callbacks:
                callback(self, epoch, logs)
            if patience is not None and waited >= patience:
                history.stop_reason = (f"early stopping: no improvement for {patience} epochs; "
                                       f"best epoch {history.best_epoch}")
                break
            if self.stop_training:
                history.stop_reason = "stopped by a callback"
                break

        if best_weights is not None and history.best_epoch != history.epoch[-1]:
            for p, w in zip(self.model.parameters(), best_weights):
                p.data[...] = w
            if best_buffers:
                self.model.load_buffers(best_buffers)
            history.stop_reason += f"; restored the weights of epoch {history.best_epoch}"
        if history.stop_reason:
            progress.message(history.stop_reason)
        return history

    def _train_epoch(self, x, t, batch_size, rng, shuffle, drop_last, epoch, progress,
                     history) -> tuple[float, int, int]:
        model, loss, optimizer = self.model, self.loss, self.optimizer
        model.train()
        device = model.device  # batches are gathered on the data's device, then moved here
        loss_sum, correct, seen = 0.0, 0, 0
        for i, (xb, tb) in enumerate(minibatches(x, t, batch_size, rng=rng, shuffle=shuffle,
                                                 drop_last=drop_last,
                                                 out=self._batch_buffers(x, t, batch_size, shuffle)),
                                     start=1):
            if device is not CPU:
                xb, tb = device.asarray(xb), device.asarray(tb)
            scores = model.forward(xb)
            value = loss.forward(scores, tb)
            if not math.isfinite(value):
                raise DivergenceError(
                    f"training diverged: the loss became {value} at epoch {epoch}, batch {i} of "
                    f"{progress.batches} (learning rate {getattr(optimizer, 'lr', '?')}); "
                    "try a smaller learning rate", history)
            optimizer.zero_grad()
            model.backward(loss.backward(), input_grad=False)
            optimizer.step()
            history.updates += 1
            n = len(xb)
            loss_sum += value * n
            correct += count_correct(scores, tb)
            seen += n
            progress.batch(epoch, i, loss_sum / seen)
        return loss_sum, correct, seen

    def _batch_buffers(self, x: np.ndarray, t: np.ndarray, batch_size: int | None,
                       shuffle: bool) -> tuple[np.ndarray, np.ndarray] | None:
        """Arrays that every shuffled batch of the epoch is gathered into, or None.

        Gathering into the same memory each batch keeps it in cache and spares
        an allocation; each batch is consumed before the next overwrites it.
        Data already on a device (CuPy arrays) is gathered there into new arrays.
        """
        if (not shuffle or batch_size is None or batch_size >= len(x)
                or type(x) is not np.ndarray or type(t) is not np.ndarray):
            return None
        shapes = ((batch_size, *x.shape[1:]), (batch_size, *t.shape[1:]))
        buffers = self._buffers
        if buffers is None or any(b.shape != shape or b.dtype != a.dtype
                                  for b, shape, a in zip(buffers, shapes, (x, t))):
            buffers = self._buffers = (np.empty(shapes[0], dtype=x.dtype),
                                       np.empty(shapes[1], dtype=t.dtype))
        return buffers

    def evaluate(self, x: Any, t: Any, batch_size: int | None = None) -> tuple[float, float]:
        """Mean loss and accuracy over ``(x, t)``, in eval mode and in batches (see ``evaluate``)."""
        return evaluate(self.model, self.loss, x, t, batch_size or self.eval_batch_size)


def _data(model: Layer, x: Any, t: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(x, t)`` checked, with ``x`` in the model's dtype (see ``nn.inputs.as_input``)."""
    x = as_input(x, model_dtype(model), f"{what} x")
    t = t if is_array(t) else np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError(f"{what}: expected arrays with one sample per row, got x of shape "
                         f"{x.shape} and t of shape {t.shape}")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")
    if len(x) != len(t):
        raise ValueError(f"{what}: x has {len(x)} samples but t has {len(t)}")
    return x, t
