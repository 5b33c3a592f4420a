"""Weight initialisation: std 0.01 vs Xavier vs He in a deep ReLU network.

The textbook's comparison (chapter 6, ``weight_init_compare``): a
784-100-100-100-100-100-10 ReLU network trained on MNIST with plain SGD
(lr 0.01, batch 128) from three initial weight scales, the same random draws
scaled by each standard deviation:

* std 0.01: every layer shrinks the signal (by about 0.01 * sqrt(100 / 2)),
  so after five layers the scores are almost equal, the gradients almost
  vanish and the loss sits at ln 10 = 2.30 for the whole run;
* Xavier, std sqrt(1 / n): the signal shrinks by about 1/sqrt(2) per ReLU
  layer; the network learns, a little more slowly than with He;
* He, std sqrt(2 / n): made for ReLU, the signal keeps its size; learns fastest.

Each iteration draws a random mini-batch (as the textbook does); the loss is
the one of that batch's forward pass.

    python examples/weight_init.py [--data-dir DIR] [--out DIR] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

import nn
from _common import figure, mnist_subset, parse, parser, save, session
from layers import ReLU
from losses import SoftmaxWithLoss
from optimizers import SGD

HIDDEN = [100] * 5
INITS = (("std 0.01", 0.01), ("Xavier", "xavier"), ("He", "he"))
COLORS = {"std 0.01": "tab:red", "Xavier": "tab:green", "He": "tab:blue"}


class Curve(NamedTuple):
    name: str
    weight_std: float             # std of the first layer's initial weights
    losses: np.ndarray            # one per iteration
    activation_std: np.ndarray    # std of each ReLU output at initialisation
    test_accuracy: float


def build(init: str | float, seed: int = 0) -> nn.Sequential:
    """The 784-100x5-10 ReLU network with ``init`` ("he", "xavier" or a std)."""
    return nn.mlp(784, HIDDEN, 10, activation_name="relu", init=init, seed=seed)


def activation_stds(model: nn.Sequential, x: np.ndarray) -> np.ndarray:
    """Standard deviation of every ReLU layer's output for the batch ``x``."""
    stds = []
    h = x
    for layer in model:
        h = layer.forward(h)
        if isinstance(layer, ReLU):
            stds.append(float(h.std()))
    return np.array(stds)


def train_losses(model: nn.Sequential, x: np.ndarray, t: np.ndarray, iterations: int,
                 batch_size: int = 128, lr: float = 0.01, seed: int = 0) -> np.ndarray:
    """Plain SGD on random mini-batches; the loss of every iteration."""
    loss = SoftmaxWithLoss()
    optimizer = SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = np.empty(iterations)
    model.train()
    for i in range(iterations):
        batch = rng.choice(len(x), batch_size, replace=False)
        losses[i] = loss.forward(model.forward(x[batch]), t[batch])
        optimizer.zero_grad()
        model.backward(loss.backward(), input_grad=False)
        optimizer.step()
    return losses


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` iterations (shorter at the start)."""
    cumsum = np.concatenate([[0.0], np.cumsum(values)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (cumsum[ends] - cumsum[starts]) / (ends - starts)


def compare(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
            iterations: int, seed: int = 0) -> list[Curve]:
    """Train the network once per initialisation and collect the loss curves."""
    curves = []
    for name, init in INITS:
        model = build(init, seed)
        weight_std = float(model.parameters()[0].data.std())
        stds = activation_stds(model, train[0][:1000])
        losses = train_losses(model, *train, iterations, seed=seed)
        _, accuracy = nn.evaluate(model, SoftmaxWithLoss(), *test)
        curves.append(Curve(name, weight_std, losses, stds, accuracy))
    return curves


def main(argv: Sequence[str] | None = None) -> list[Curve]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=None, help="SGD iterations (2000; quick: 150)")
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    iterations = args.iterations or (150 if args.quick else 2000)
    n_train, n_test = (5000, 1000) if args.quick else (60000, 5000)  # full: every training image
    window = max(1, min(50, iterations // 10))
    with session(args):
        train, test = mnist_subset(args.data_dir, n_train, n_test, args.seed)
        n_train = len(train[0])
        print(f"784-{'-'.join(map(str, HIDDEN))}-10 ReLU network, plain SGD lr 0.01, batch 128, "
              f"{iterations} iterations on {n_train} training images (random batches)")
        curves = compare(train, test, iterations, args.seed)
        marks = sorted({0, *range(500, iterations, 500), iterations - 1})
        print(f"{'init':9} {'first std':>9} " + " ".join(f"{f'it {m}':>7}" for m in marks)
              + f" {f'last {window}':>8} {'test acc':>8}")
        for c in curves:
            print(f"{c.name:9} {c.weight_std:9.4f} " + " ".join(f"{c.losses[m]:7.3f}" for m in marks)
                  + f" {c.losses[-window:].mean():8.3f} {100 * c.test_accuracy:7.1f}%")
        print("std of each ReLU output at initialisation (layer 1 -> 5):")
        for c in curves:
            print(f"  {c.name:9} " + " ".join(f"{s:.2e}" for s in c.activation_std))

        fig = figure(11, 4.2)
        ax_loss, ax_act = fig.subplots(1, 2, width_ratios=[1.6, 1])
        steps = np.arange(iterations)
        for c in curves:
            color = COLORS[c.name]
            ax_loss.plot(steps, c.losses, color=color, alpha=0.2, linewidth=0.7)
            ax_loss.plot(steps, smooth(c.losses, window), color=color,
                         label=f"{c.name}: last {window} iterations {c.losses[-window:].mean():.2f}, "
                               f"test acc {100 * c.test_accuracy:.0f} %")
            ax_act.plot(np.arange(1, len(HIDDEN) + 1), c.activation_std, "o-", color=color,
                        label=c.name)
        ax_loss.axhline(np.log(10), color="grey", linestyle=":", label="ln 10 (uniform guess)")
        ax_loss.set(xlabel="iteration", ylabel="training loss (batch of 128)",
                    title=f"loss per iteration (moving average of {window})",
                    ylim=(0, max(2.6, float(np.log(10)) + 0.3)))
        ax_act.set(yscale="log", xlabel="hidden layer", ylabel="std of the ReLU output",
                   title="activations at initialisation", xticks=np.arange(1, len(HIDDEN) + 1))
        for ax in (ax_loss, ax_act):
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
        fig.suptitle("Weight initialisation in a 5-hidden-layer ReLU network on MNIST "
                     "(SGD lr 0.01, batch 128)")
        save(fig, args.out, "weight_init")
    return curves


if __name__ == "__main__":
    main()
