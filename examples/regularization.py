"""Overfitting, and two cures: weight decay and dropout.

The textbook's setting (chapter 6, ``overfit_weight_decay`` and
``overfit_dropout``): a deep 784-100x6-10 ReLU network (He init) trained on
only 300 MNIST images with plain SGD (lr 0.01, batch 100) learns its
training set almost perfectly while the test accuracy stays far lower. Four
runs from the same initial weights:

* plain;
* weight decay, lambda 0.1 (``SGD(weight_decay=0.1)`` adds ``lambda * p`` to
  every gradient; the textbook decays the weights only, not the biases);
* dropout, p 0.2 after every hidden ReLU (inverted dropout: eval mode is
  the identity);
* both.

Both accuracies are measured after every epoch in eval mode (no dropout), the
training one on all 300 images. The regularised runs end with a smaller gap
between training and test accuracy, but at this small learning rate they also
fit more slowly, so within 200 epochs their test accuracy stays below the
plain run's (as in the textbook's figures); both together at full strength
hold the network near its starting point: the smallest gap, by underfitting.

    python examples/regularization.py [--data-dir DIR] [--out DIR] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

import nn
from _common import figure, mnist_subset, parse, parser, save, session
from layers import Affine, Dropout, Layer, ReLU
from losses import SoftmaxWithLoss
from optimizers import SGD

HIDDEN = [100] * 6


class Setting(NamedTuple):
    name: str
    weight_decay: float
    dropout: float


class Result(NamedTuple):
    setting: Setting
    train_accuracy: list[float]  # eval mode, after each epoch
    test_accuracy: list[float]

    @property
    def gap(self) -> float:
        return self.train_accuracy[-1] - self.test_accuracy[-1]


def settings(weight_decay: float = 0.1, dropout: float = 0.2) -> tuple[Setting, ...]:
    return (Setting("plain", 0.0, 0.0),
            Setting(f"weight decay {weight_decay:g}", weight_decay, 0.0),
            Setting(f"dropout {dropout:g}", 0.0, dropout),
            Setting("both", weight_decay, dropout))


def build(dropout: float, seed: int = 0) -> nn.Sequential:
    """784-100x6-10 ReLU, He init, with ``Dropout(dropout)`` after each hidden ReLU if > 0.

    The weights depend on ``seed`` only, so every setting starts from the same network.
    """
    rng = np.random.default_rng(seed)
    sizes = [784, *HIDDEN, 10]
    model: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        model.append(Affine(fan_in, fan_out, init="he", rng=rng))
        if i < len(sizes) - 2:
            model.append(ReLU())
            if dropout > 0:
                model.append(Dropout(dropout, rng=seed + 1000 + i))
    return nn.Sequential(model)


def train(setting: Setting, train_data: tuple[np.ndarray, np.ndarray],
          test_data: tuple[np.ndarray, np.ndarray], epochs: int, lr: float = 0.01,
          seed: int = 0) -> Result:
    """SGD (batch 100) for ``epochs``; eval-mode training and test accuracy after each epoch."""
    model = build(setting.dropout, seed)
    train_accuracy: list[float] = []

    def record_train_accuracy(trainer: nn.Trainer, epoch: int, logs: dict[str, float]) -> None:
        train_accuracy.append(trainer.evaluate(*train_data)[1])

    optimizer = SGD(model.parameters(), lr=lr, weight_decay=setting.weight_decay)
    trainer = nn.Trainer(model, SoftmaxWithLoss(), optimizer, callbacks=[record_train_accuracy])
    history = trainer.fit(*train_data, epochs=epochs, batch_size=100, validation_data=test_data,
                          seed=seed, verbose=0)
    return Result(setting, train_accuracy, list(history.val_accuracy))


def main(argv: Sequence[str] | None = None) -> list[Result]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs (200; quick: 25)")
    p.add_argument("--train-size", type=int, default=300, help="training images (300)")
    p.add_argument("--test-size", type=int, default=None, help="test images (2000; quick: 500)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    epochs = args.epochs or (25 if args.quick else 200)
    n_test = args.test_size or (500 if args.quick else 2000)
    with session(args):
        train_data, test_data = mnist_subset(args.data_dir, args.train_size, n_test, args.seed)
        print(f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU (He init), SGD lr 0.01, batch 100, "
              f"{epochs} epochs on {args.train_size} training images; test on {n_test}")
        print(f"{'run':18} {'train acc':>9} {'test acc':>8} {'gap':>6} {'best test':>9}")
        results = []
        for setting in settings(args.weight_decay, args.dropout):
            r = train(setting, train_data, test_data, epochs, seed=args.seed)
            results.append(r)
            print(f"{setting.name:18} {100 * r.train_accuracy[-1]:8.1f}% "
                  f"{100 * r.test_accuracy[-1]:7.1f}% {100 * r.gap:5.1f}% "
                  f"{100 * max(r.test_accuracy):8.1f}%")

        fig = figure(11, 7)
        axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
        epoch_axis = np.arange(1, epochs + 1)
        for ax, r in zip(axes, results):
            ax.plot(epoch_axis, 100 * np.array(r.train_accuracy), color="tab:blue", label="train")
            ax.plot(epoch_axis, 100 * np.array(r.test_accuracy), color="tab:orange", label="test")
            ax.set_title(f"{r.setting.name}: train {100 * r.train_accuracy[-1]:.0f} %, "
                         f"test {100 * r.test_accuracy[-1]:.0f} %, gap {100 * r.gap:.0f} points",
                         fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
        for ax in axes[2:]:
            ax.set_xlabel("epoch")
        for ax in axes[::2]:
            ax.set_ylabel("accuracy (%, eval mode)")
        axes[0].set_ylim(0, 101)
        fig.suptitle(f"Overfitting on {args.train_size} MNIST images, and weight decay / dropout "
                     f"(784-100x6-10 ReLU, SGD lr 0.01)")
        save(fig, args.out, "regularization")
    return results


if __name__ == "__main__":
    main()
