"""``Trainer``: full-batch GD, mini-batch SGD or stochastic GD, with honest epochs.

Every regime shuffles without replacement, so an epoch sees every sample
exactly once; the loss it logs is the one computed by the forward pass that
produced the gradients; validation runs in eval mode, in batches.  A run can
be saved after every epoch and continued (``checkpoint=``, ``resume=``; see
``nn.resume``).
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from datasets import minibatches, num_batches
from layers import BatchNorm, Layer
from layers.base import make_rng
from layers.device import CPU, array_module, is_array
from layers.device import to_numpy as to_host
from losses import Loss
from nn.checkpoint import check_writable
from nn.history import History
from nn.inputs import as_input, model_dtype
from nn.resume import RunState, load_run, save_run
from nn.sequential import Sequential, layers_in, scores_to_classes

Callback = Callable[["Trainer", int, dict[str, float]], Any]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (KeyboardInterrupt) during ``fit``, raised once the trainer has tidied up.

    Attributes:
        history: the epochs completed before the interrupt.
        checkpoint: the file holding the last of them that was saved, or None
            (no ``checkpoint=``, or no epoch completed yet).
        saved_epochs: how many epochs that file holds (0 if none).
    """

    def __init__(self, message: str, history: History, checkpoint: Path | None,
                 saved_epochs: int) -> None:
        super().__init__(message)
        self.history, self.checkpoint, self.saved_epochs = history, checkpoint, saved_epochs


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


def _single_sample_batchnorms(model: Layer, shape: tuple[int, ...]) -> list[BatchNorm]:
    """The BatchNorm layers that one input sample of ``shape`` gives one value per feature
    (a ``(1, D)`` input, or ``(1, C, 1, 1)``), found by following the shapes through a
    ``Sequential``; every BatchNorm where that cannot be followed."""
    every = [layer for _, layer in layers_in(model) if isinstance(layer, BatchNorm)]
    found: list[BatchNorm] = []

    def follow(layer: Layer, shape: tuple[int, ...]) -> tuple[int, ...]:
        if isinstance(layer, Sequential):
            for inner in layer.layers:
                shape = follow(inner, shape)
            return shape
        if isinstance(layer, BatchNorm):
            if math.prod(shape[2:]) == 1:
                found.append(layer)
        elif any(isinstance(inner, BatchNorm) for _, inner in layers_in(layer)):
            raise TypeError("a BatchNorm inside a layer that is not a Sequential")
        return layer.output_shape(shape)

    if not every:
        return []
    try:
        follow(model, shape)
    except (ValueError, TypeError, IndexError):
        return every
    return found


#: an epoch this many times#: an epoch this many times slower than the first (and SLOW_EPOCH_MIN_S slower) gets a hint.
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
        checkpoint: str | os.PathLike | None = None,
        resume: str | os.PathLike | None = None,
        checkpoint_metadata: dict[str, Any] | None = None,
    ) -> History:
        """Train for ``epochs`` epochs and return the ``History``.

        Args:
            x, t: training inputs and targets (labels or one-hot).  ``x`` may
                hold any real numbers (bool, integers, float16/32/64): it is
                converted to the model's dtype once, before the first epoch.
                NaN or infinite data is reported as such (a ValueError naming
                the first bad sample) when it makes the loss non-finite;
                validation data is checked up front.
            epochs: number of passes over the data (in all, counting those
                of a resumed run).
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
            checkpoint: a ``.npz`` file written atomically after every epoch
                with everything needed to continue the run (see
                ``nn.resume``); checked for writability before training.  It
                holds the last epoch's weights, also when early stopping
                restores the best ones in memory.
            resume: a file written through ``checkpoint``: the model,
                optimizer, schedule, shuffling generator (``seed`` is then
                ignored) and history are restored from it and training
                continues after its last epoch.  The continued run equals the
                uninterrupted one bit for bit (same BLAS thread count).  Data
                and settings must be those of the saved run.
            checkpoint_metadata: JSON extras stored in every checkpoint
                (``nn.load_metadata`` reads them back).

        BatchNorm needs two samples per training batch: with such a layer in
        the model, a last batch of a single sample is left out of each epoch
        (a different sample each epoch when shuffling), with a warning, and
        ``batch_size=1`` (or one sample in all) is refused.

        Raises:
            DivergenceError: the loss became NaN or infinite.
            TrainingInterrupted: Ctrl-C; the checkpoint (if any) holds the
                last completed epoch.
            CheckpointError: ``resume`` is not a run this call can continue.
        """
        # The training inputs are looked at for NaN only if the loss stops being finite:
        # a pass over them before every fit() would cost each call a few milliseconds.
        x, t = _data(self.model, x, t, "training data", check_finite=False)
        self._check_finite("training data", t=t)  # one-hot targets: small, and the loss checks them
        if validation_data is not None:
            if not isinstance(validation_data, tuple) or len(validation_data) != 2:
                raise TypeError("validation_data must be a tuple (x_val, t_val)")
            validation_data = _data(self.model, *validation_data, "validation data",
                                    check_finite=False)
            self._check_finite("validation data", x=validation_data[0], t=validation_data[1])
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int)
                                     or patience < 1):
            raise ValueError(f"patience must be a positive integer or None, got {patience!r}")
        drop_last = self._batch_statistics_rule(x, batch_size, shuffle, drop_last)
        batches = num_batches(len(x), batch_size, drop_last)  # validates batch_size
        if batches == 0:
            raise ValueError(f"no batch to train on: {len(x)} samples, batch_size={batch_size}, "
                             f"drop_last={drop_last}")
        if checkpoint is not None:
            checkpoint = check_writable(checkpoint, "checkpoint file")
        rng = make_rng(seed)
        settings = {"samples": len(x), "batch_size": batch_size, "shuffle": bool(shuffle),
                    "drop_last": bool(drop_last), "patience": patience,
                    "restore_best": bool(restore_best), "validation": validation_data is not None}
        progress = _Progress(verbose, file or sys.stdout, epochs, batches)
        state = RunState() if resume is None else load_run(resume, self, rng, settings)
        history = state.history
        if len(history) > epochs:
            raise ValueError(f"epochs={epochs}, but the run in {resume} already has "
                             f"{len(history)} epochs")
        if resume is not None:
            progress.message(f"resuming from {resume}: {len(history)} of {epochs} epochs done")
        self.stop_training = False
        saved = len(history) if resume is not None and checkpoint is not None \
            and Path(os.path.realpath(resume)) == Path(os.path.realpath(checkpoint)) else 0

        try:
            for epoch in range(len(history) + 1, epochs + 1):
                if history.stop_reason:  # a resumed run that had stopped early
                    break
                self._run_epoch(epoch, x, t, batch_size, rng, shuffle, drop_last, validation_data,
                                patience, restore_best, progress, state)
                if checkpoint is not None:
                    save_run(checkpoint, self, rng, state, settings, checkpoint_metadata)
                    saved = epoch
        except KeyboardInterrupt:
            where = (f"epochs 1-{saved} are saved in {checkpoint}" if saved
                     else "no epoch was saved" + ("" if checkpoint else " (no checkpoint file)"))
            raise TrainingInterrupted(f"training interrupted after {len(history)} completed "
                                      f"epoch(s); {where}", history,
                                      checkpoint if saved else None, saved) from None

        if state.best_weights is not None and history.best_epoch != history.epoch[-1]:
            for p, w in zip(self.model.parameters(), state.best_weights):
                p.data[...] = w
            if state.best_buffers:
                self.model.load_buffers(state.best_buffers)
            history.stop_reason += f"; restored the weights of epoch {history.best_epoch}"
        if history.stop_reason:
            progress.message(history.stop_reason)
        return history

    def _run_epoch(self, epoch, x, t, batch_size, rng, shuffle, drop_last, validation_data,
                   patience, restore_best, progress, state: RunState) -> None:
        """One epoch, its validation, the schedule's step and early stopping's bookkeeping."""
        history = state.history
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
        if monitored < state.best:
            state.best, state.waited, history.best_epoch = monitored, 0, epoch
            if patience is not None and restore_best:
                state.best_weights = [p.data.copy() for p in self.model.parameters()]
                state.best_buffers = {k: v.copy() for k, v in self.model.buffers().items()}
        else:
            state.waited += 1
        for callback in self.callbacks:
            callback(self, epoch, logs)
        if patience is not None and state.waited >= patience:
            history.stop_reason = (f"early stopping: no improvement for {patience} epochs; "
                                   f"best epoch {history.best_epoch}")
        elif self.stop_training:
            history.stop_reason = "stopped by a callback"

    def _batch_statistics_rule(self, x: np.ndarray, batch_size: int | None, shuffle: bool,
                               drop_last: bool) -> bool:
        """``drop_last`` as BatchNorm needs it: never a training batch of one sample
        where a BatchNorm would then see one value per feature."""
        n = len(x)
        if not _single_sample_batchnorms(self.model, (1, *x.shape[1:])):
            return drop_last
        if batch_size == 1 or n == 1:
            raise ValueError(f"the model has BatchNorm, which needs at least 2 samples per "
                             f"training batch; {n} sample(s) with batch_size={batch_size} give "
                             f"it 1: use a batch_size of 2 or more")
        if batch_size is not None and not drop_last and n % batch_size == 1:
            which = "a different sample each epoch" if shuffle else f"sample {n - 1}"
            warnings.warn(f"{n} samples in batches of {batch_size} leave a last batch of 1 "
                          f"sample, too few for BatchNorm's batch statistics: it is left out "
                          f"of every epoch ({which})", UserWarning, stacklevel=3)
            return True
        return drop_last

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
                self._check_finite("training data", x=x)  # bad data, rather than a bad rate
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

    @staticmethod
    def _check_finite(what: str, **arrays: np.ndarray) -> None:
        """Refuse NaN or infinite inputs or targets, naming the first bad sample.

        min and max propagate NaN and see infinities without a temporary array.
        """
        for name, a in arrays.items():
            xp = array_module(a)
            if a.dtype.kind not in "fc" or (bool(xp.isfinite(a.min())) and bool(xp.isfinite(a.max()))):
                continue
            rows = np.flatnonzero(to_host(~xp.isfinite(a.reshape(len(a), -1)).all(axis=1)))
            kinds = "NaN" if bool(xp.isnan(a).any()) else "infinite values"
            raise ValueError(f"{what}: {name} holds {kinds} in {rows.size} sample(s), the first "
                             f"at index {rows[0]}; clean the data first (the loss of a NaN "
                             f"sample is NaN whatever the learning rate)")


def _data(model: Layer, x: Any, t: Any, what: str,
          check_finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(x, t)`` checked, with ``x`` in the model's dtype (see ``nn.inputs.as_input``)."""
    x = as_input(x, model_dtype(model), f"{what} x", check_finite=check_finite)
    t = t if is_array(t) else np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ValueError(f"{what}: expected arrays with one sample per row, got x of shape "
                         f"{x.shape} and t of shape {t.shape}")
    if len(x) == 0:
        raise ValueError(f"{what}: no samples")
    if len(x) != len(t):
        raise ValueError(f"{what}: x has {len(x)} samples but t has {len(t)}")
    return x, t
