"""Full-batch, mini-batch and stochastic gradient descent on the same network.

One 784-50-10 sigmoid network (the same initial weights each time) is trained
on an MNIST subset by ``nn.Trainer`` in its three regimes: ``batch_size=None``
(one update per epoch over all images), ``batch_size=100`` and
``batch_size=1`` (one update per image), each with plain SGD at a learning
rate suited to it. Per epoch, the more updates the faster the loss falls; per
second of wall time, mini-batches win, because a batch of 100 costs little
more than one image (BLAS) while making a far better step than one image.

    python examples/gd_regimes.py [--data-dir DIR] [--out DIR] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib.ticker import FormatStrFormatter

import nn
from _common import figure, mnist_subset, parse, parser, save, session
from losses import SoftmaxWithLoss
from optimizers import SGD


class Regime(NamedTuple):
    name: str
    batch_size: int | None
    lr: float
    epochs: int        # full run
    quick_epochs: int  # --quick


REGIMES = (
    Regime("full-batch GD", None, 2.0, 300, 30),
    Regime("mini-batch SGD (100)", 100, 0.5, 50, 5),
    Regime("stochastic GD (1)", 1, 0.1, 5, 1),
)


class Run(NamedTuple):
    regime: Regime
    history: nn.History
    initial_loss: float
    test_loss: float
    test_accuracy: float
    seconds: float


def train_regime(regime: Regime, epochs: int, train: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray], seed: int = 0) -> Run:
    """Train a fresh 784-50-10 sigmoid MLP (initial weights from ``seed``) in one regime."""
    model = nn.mlp(784, [50], 10, activation_name="sigmoid", seed=seed)
    trainer = nn.Trainer(model, SoftmaxWithLoss(), SGD(model.parameters(), lr=regime.lr))
    initial_loss, _ = trainer.evaluate(*test)
    history = trainer.fit(*train, epochs=epochs, batch_size=regime.batch_size,
                          validation_data=test, seed=seed, verbose=0)
    return Run(regime, history, initial_loss, history.val_loss[-1], history.val_accuracy[-1],
               float(np.sum(history.time)))


def main(argv: Sequence[str] | None = None) -> list[Run]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--train-size", type=int, default=None,
                   help="training images (5000; quick: 1000)")
    p.add_argument("--test-size", type=int, default=None, help="test images (2000; quick: 500)")
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    n_train = args.train_size or (1000 if args.quick else 5000)
    n_test = args.test_size or (500 if args.quick else 2000)
    with session(args):
        train, test = mnist_subset(args.data_dir, n_train, n_test, args.seed)
        print(f"784-50-10 sigmoid MLP (Xavier init, same initial weights), plain SGD, "
              f"{n_train} training / {n_test} test images")
        print(f"{'regime':22} {'lr':>5} {'epochs':>6} {'updates':>8} {'train loss':>10} "
              f"{'test loss':>9} {'test acc':>8} {'time':>7}")
        runs = []
        for regime in REGIMES:
            epochs = regime.quick_epochs if args.quick else regime.epochs
            run = train_regime(regime, epochs, train, test, args.seed)
            runs.append(run)
            h = run.history
            print(f"{regime.name:22} {regime.lr:5g} {epochs:6d} {h.updates:8d} {h.loss[-1]:10.4f} "
                  f"{run.test_loss:9.4f} {100 * run.test_accuracy:7.1f}% {run.seconds:6.1f}s")

        fig = figure(11, 4.2)
        ax_epoch, ax_time = fig.subplots(1, 2, sharey=True)
        for run, color in zip(runs, ("tab:red", "tab:green", "tab:blue")):
            h = run.history
            ax_epoch.plot(h.epoch, h.val_loss, "-", color=color, marker="o", markersize=3,
                          label=f"{run.regime.name}, lr {run.regime.lr:g}")
            ax_time.plot(np.cumsum(h.time), h.val_loss, "-", color=color, marker="o",
                         markersize=3, label=run.regime.name)
        for ax in (ax_epoch, ax_time):
            ax.axhline(runs[0].initial_loss, color="grey", linestyle=":",
                       label="at initialisation" if ax is ax_epoch else None)
            ax.set(xscale="log", yscale="log")
            ax.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
            ax.yaxis.set_minor_formatter(FormatStrFormatter("%.1f"))
            ax.grid(alpha=0.3, which="both")
        ax_epoch.set(xlabel="epoch (log scale)", ylabel=f"test loss ({n_test} images, log scale)",
                     title="loss against epochs")
        ax_time.set(xlabel="wall time in s (log scale; includes the per-epoch test evaluation)",
                    title="loss against wall time")
        ax_epoch.legend(fontsize=8)
        fig.suptitle(f"Full-batch vs mini-batch vs stochastic gradient descent "
                     f"(MNIST, {n_train} training images)")
        save(fig, args.out, "gd_regimes")
    return runs


if __name__ == "__main__":
    main()
