"""``History``: the per-epoch record of a training run, and its plot."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nn.checkpoint import atomic_write

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class History:
    """Per-epoch figures of ``Trainer.fit``.

    ``loss`` and ``accuracy`` are the means over the epoch's training batches,
    taken from the same forward passes that produced the gradients;
    ``val_loss`` and ``val_accuracy`` are measured after the epoch, in eval
    mode (NaN when there is no validation data); ``time`` is the epoch's wall
    time in seconds including validation; ``lr`` the learning rate used.
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    updates: int = 0
    best_epoch: int | None = None
    stop_reason: str = ""

    def append(self, epoch: int, **logs: float) -> None:
        self.epoch.append(epoch)
        for key in KEYS:
            getattr(self, key).append(float(logs.get(key, math.nan)))

    def __len__(self) -> int:
        return len(self.epoch)

    def as_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), **{k: list(getattr(self, k)) for k in KEYS},
                "updates": self.updates, "best_epoch": self.best_epoch,
                "stop_reason": self.stop_reason}

    @classmethod
    def from_dict(cls, record: Any) -> "History":
        """The ``History`` that ``as_dict()`` described, checked field by field.

        Raises:
            ValueError: a field is missing, of the wrong type, or of the wrong length.
        """
        if not isinstance(record, dict):
            raise ValueError(f"a history must be a dict, got {type(record).__name__}")
        history = cls()
        epochs = record.get("epoch")
        if not isinstance(epochs, list) or not all(_is_int(e) and e >= 1 for e in epochs):
            raise ValueError(f"history 'epoch' must be a list of positive integers, got {epochs!r:.100}")
        history.epoch = [int(e) for e in epochs]
        for key in KEYS:
            values = record.get(key)
            if not isinstance(values, list) or len(values) != len(epochs) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ValueError(f"history {key!r} must be a list of {len(epochs)} numbers, "
                                 f"got {values!r:.100}")
            setattr(history, key, [float(v) for v in values])
        updates, best, reason = record.get("updates"), record.get("best_epoch"), record.get("stop_reason")
        if not _is_int(updates) or updates < 0:
            raise ValueError(f"history 'updates' must be a non-negative integer, got {updates!r:.100}")
        if best is not None and not (_is_int(best) and best in history.epoch):
            raise ValueError(f"history 'best_epoch' must be one of its epochs or null, got {best!r:.100}")
        if not isinstance(reason, str):
            raise ValueError(f"history 'stop_reason' must be a string, got {reason!r:.100}")
        history.updates, history.best_epoch, history.stop_reason = int(updates), best, reason
        return history

    @property
    def has_validation(self) -> bool:
        return any(not math.isnan(v) for v in self.val_loss)

    def plot(self, path: str | os.PathLike, title: str = "") -> Path:
        """Write loss and accuracy curves per epoch (train and validation) to a PNG.

        Uses Matplotlib's Agg canvas directly, so it works without a display
        and leaves the global backend alone.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 4), layout="constrained")
        FigureCanvasAgg(fig)
        ax_loss, ax_acc = fig.subplots(1, 2)
        ax_loss.plot(self.epoch, self.loss, "o-", label="train")
        ax_acc.plot(self.epoch, [100 * a for a in self.accuracy], "o-", label="train")
        if self.has_validation:
            ax_loss.plot(self.epoch, self.val_loss, "s-", label="validation")
            ax_acc.plot(self.epoch, [100 * a for a in self.val_accuracy], "s-", label="validation")
        if self.best_epoch is not None and self.has_validation:
            for ax in (ax_loss, ax_acc):
                ax.axvline(self.best_epoch, color="grey", linestyle=":", label="best epoch")
        ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
