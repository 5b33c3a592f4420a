"""Batch normalisation makes training insensitive to the initial weight scale.

The textbook's experiment (chapter 6, ``batch_norm_test``): a 784-100x5-10
ReLU network on 1,000 MNIST training images, plain SGD (lr 0.01, batch 100),
with the initial weights drawn with each of 16 standard deviations
``np.logspace(0, -4, 16)`` (1 down to 0.0001), once with a ``BatchNorm``
after every hidden Affine layer and once without.  Both networks start from
the same random draws.  The training accuracy (eval mode, all 1,000 images)
is recorded before training and after every epoch.

Without BatchNorm only a narrow band of scales trains: too small and the
signal and its gradient vanish (stuck near 10 %), too large and the scores
explode (the loss may overflow, which ends the run: shown as "diverged").
With BatchNorm every layer's input is renormalised, so nearly every scale trains.
Except the very smallest: BatchNorm divides by ``sqrt(var + eps)``, and at
w = 0.0001 the variance of every Affine output (5e-7 at the first layer, less
further on) is below ``eps`` = 1e-5 (PyTorch's default; the textbook uses
1e-6), so the signal is not restored and still vanishes.  ``--bn-eps 1e-7``
lets those scales train too.

Full mode runs the textbook's 20 epochs (10 iterations each).

    python examples/batchnorm_scales.py [--data-dir DIR] [--out DIR] [--quick]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

import nn
from _common import figure, mnist_subset, parse, parser, save, session
from layers import Affine, BatchNorm, Layer, ReLU
from losses import SoftmaxWithLoss
from optimizers import SGD

HIDDEN = [100] * 5
SCALES = np.logspace(0, -4, 16)


class Run(NamedTuple):
    scale: float
    batchnorm: bool
    accuracy: list[float]    # eval-mode training accuracy, before training then after each epoch
    diverged_at: int | None  # epoch whose loss overflowed, if any

    @property
    def final(self) -> float:
        """Accuracy at the end; chance (10 %) when the run diverged."""
        return 0.1 if self.diverged_at is not None else self.accuracy[-1]


def build(scale: float, batchnorm: bool, seed: int = 0, eps: float = 1e-5) -> nn.Sequential:
    """784-100x5-10 ReLU with weights of std ``scale``; BatchNorm after each hidden Affine if asked.

    The Affine weights depend on ``seed`` only, so both variants start from the same draws.
    """
    rng = np.random.default_rng(seed)
    sizes = [784, *HIDDEN, 10]
    model: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        model.append(Affine(fan_in, fan_out, init=float(scale), rng=rng))
        if i < len(sizes) - 2:
            if batchnorm:
                model.append(BatchNorm(fan_out, eps=eps))
            model.append(ReLU())
    return nn.Sequential(model)


def train(scale: float, batchnorm: bool, data: tuple[np.ndarray, np.ndarray], epochs: int,
          lr: float = 0.01, seed: int = 0, eps: float = 1e-5) -> Run:
    """SGD, batch 100, for ``epochs``; the eval-mode accuracy on ``data`` itself per epoch."""
    model = build(scale, batchnorm, seed, eps)
    trainer = nn.Trainer(model, SoftmaxWithLoss(), SGD(model.parameters(), lr=lr))
    try:
        # An exploding run is reported as diverged; its overflow warnings would add nothing.
        with np.errstate(over="ignore", invalid="ignore"):
            accuracy = [trainer.evaluate(*data)[1]]
            # The validation data is the training set itself: its eval-mode accuracy per epoch.
            history = trainer.fit(*data, epochs=epochs, batch_size=100, validation_data=data,
                                  seed=seed, verbose=0)
    except nn.DivergenceError as exc:
        accuracy += exc.history.val_accuracy
        return Run(float(scale), batchnorm, accuracy, len(exc.history) + 1)
    return Run(float(scale), batchnorm, accuracy + history.val_accuracy, None)


def _describe(run: Run) -> str:
    if run.diverged_at is not None:
        return f"diverged (epoch {run.diverged_at})"
    return f"{100 * run.final:.1f}%"


def main(argv: Sequence[str] | None = None) -> list[tuple[Run, Run]]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs (20; quick: 8)")
    p.add_argument("--train-size", type=int, default=1000, help="training images (1000)")
    p.add_argument("--bn-eps", type=float, default=1e-5, help="BatchNorm's eps (1e-5)")
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    epochs = args.epochs or (8 if args.quick else 20)
    n_train = args.train_size
    scales = SCALES[[0, 5, 9, 15]] if args.quick else SCALES  # quick: 1, 0.046, 0.004, 0.0001
    with session(args):
        data, _ = mnist_subset(args.data_dir, n_train, 1, args.seed)
        print(f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU, SGD lr 0.01, batch 100, {epochs} epochs "
              f"on {n_train} training images, BatchNorm eps {args.bn_eps:g}; "
              f"eval-mode training accuracy at the end")
        print(f"{'weight std':>10}  {'BatchNorm':>18}  {'no BatchNorm':>18}")
        pairs = []
        for w in scales:
            with_bn = train(w, True, data, epochs, seed=args.seed, eps=args.bn_eps)
            without = train(w, False, data, epochs, seed=args.seed)
            pairs.append((with_bn, without))
            print(f"{w:10.2e}  {_describe(with_bn):>18}  {_describe(without):>18}")
        wins = sum(b.final > n.final for b, n in pairs)
        print(f"BatchNorm ends higher at {wins} of {len(pairs)} scales; "
              f"mean final accuracy {100 * np.mean([b.final for b, _ in pairs]):.1f}% with, "
              f"{100 * np.mean([n.final for _, n in pairs]):.1f}% without")

        cols = 4
        rows = math.ceil(len(pairs) / cols)
        fig = figure(14, 1.9 * rows + 1.2)
        grid_fig, summary_fig = fig.subfigures(1, 2, width_ratios=[2.3, 1])
        axes = np.atleast_1d(grid_fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
        epoch_axis = np.arange(epochs + 1)
        for ax, (with_bn, without) in zip(axes, pairs):
            for run, color, label in ((with_bn, "tab:blue", "BatchNorm"),
                                      (without, "tab:orange", "no BatchNorm")):
                acc = 100 * np.array(run.accuracy)
                ax.plot(epoch_axis[:len(acc)], acc, color=color, label=label)
                if run.diverged_at is not None:
                    ax.plot(epoch_axis[len(acc) - 1], acc[-1], "x", color=color, markersize=8)
            ax.set_title(f"w = {with_bn.scale:.2g}", fontsize=9)
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
        for ax in axes[len(pairs):]:
            ax.set_visible(False)
        axes[0].legend(fontsize=7, loc="upper left")
        grid_fig.supxlabel("epoch")
        grid_fig.supylabel("training accuracy (%)")
        ax_sum = summary_fig.subplots()
        for k, (color, label) in enumerate((("tab:blue", "BatchNorm"), ("tab:orange", "no BatchNorm"))):
            finals = [100 * pair[k].final for pair in pairs]
            ax_sum.plot([pair[k].scale for pair in pairs], finals, "o-", color=color, label=label)
            for pair in pairs:
                if pair[k].diverged_at is not None:
                    ax_sum.plot(pair[k].scale, 10, "x", color="black", markersize=8)
        ax_sum.set(xscale="log", xlabel="initial weight std w", ylabel="final training accuracy (%)",
                   ylim=(0, 100), title=f"after {epochs} epochs (x: diverged)")
        ax_sum.invert_xaxis()
        ax_sum.grid(alpha=0.3, which="both")
        ax_sum.legend(fontsize=8)
        fig.suptitle(f"BatchNorm vs none across initial weight scales "
                     f"(784-100x5-10 ReLU, {n_train} MNIST images, SGD lr 0.01)")
        save(fig, args.out, "batchnorm_scales")
    return pairs


if __name__ == "__main__":
    main()
