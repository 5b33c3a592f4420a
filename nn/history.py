"""``History``: the per-epoch record of a training run, and its plot."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nn.checkpoint import atomic_write

KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "time")


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
