"""One hidden layer solves XOR: a curved decision region where no line would do.

A 2-4-1 network, Affine(2, 4) → Tanh → Affine(4, 1), scored with
``SigmoidWithLoss`` and trained by ``nn.Trainer`` with plain full-batch SGD,
classifies all four XOR points. The PNG shows the probability of class 1 over
the plane, the 0.5 boundary and the four points.

    python examples/xor.py [--out DIR] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

import nn
from _common import figure, parse, parser, save, session
from layers import Affine, Tanh
from losses import SigmoidWithLoss
from optimizers import SGD

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
T = np.array([0, 1, 1, 0], dtype=np.float32)


def build(hidden: int = 4, seed: int = 0) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential([Affine(2, hidden, init="xavier", rng=rng), Tanh(),
                          Affine(hidden, 1, init="xavier", rng=rng)])


def train_xor(hidden: int = 4, epochs: int = 1000, lr: float = 0.5,
              seed: int = 0) -> tuple[nn.Sequential, nn.History]:
    """Train the XOR network full-batch with SGD; return the model and its History."""
    model = build(hidden, seed)
    trainer = nn.Trainer(model, SigmoidWithLoss(), SGD(model.parameters(), lr=lr))
    history = trainer.fit(X, T, epochs=epochs, batch_size=None, seed=seed, verbose=0)
    return model, history


def plot_region(ax, model: nn.Sequential, title: str) -> None:
    """Probability of class 1 over the plane, the 0.5 boundary and the four points."""
    g = np.linspace(-0.5, 1.5, 201, dtype=np.float32)
    xx, yy = np.meshgrid(g, g)
    prob = expit(model.forward(np.column_stack([xx.ravel(), yy.ravel()]))).reshape(xx.shape)
    filled = ax.contourf(xx, yy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu", alpha=0.8)
    ax.contour(xx, yy, prob, levels=[0.5], colors="k", linewidths=1.5)
    ax.scatter(*X[T == 1].T, s=110, c="gold", edgecolors="k", linewidths=1.5, zorder=3,
               label="target 1")
    ax.scatter(*X[T == 0].T, s=110, c="white", marker="s", edgecolors="k", linewidths=1.5,
               zorder=3, label="target 0")
    ax.set(xlim=(-0.5, 1.5), ylim=(-0.5, 1.5), xlabel="$x_1$", ylabel="$x_2$", aspect="equal",
           title=title)
    return filled


def main(argv: Sequence[str] | None = None) -> tuple[nn.Sequential, nn.History]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=4)
    p.add_argument("--epochs", type=int, default=None, help="full-batch epochs (1000; quick: 500)")
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    epochs = args.epochs or (500 if args.quick else 1000)
    with session(args):
        model, history = train_xor(args.hidden, epochs, args.lr, args.seed)
        loss, acc = nn.evaluate(model, SigmoidWithLoss(), X, T)
        prob = expit(model.forward(X)).ravel()
        print(f"2-{args.hidden}-1 tanh network, full-batch SGD lr {args.lr}, {epochs} epochs "
              f"({history.updates} updates)")
        print(f"final loss {loss:.4f}, accuracy {100 * acc:.0f} %")
        for xi, ti, pi in zip(X, T, prob):
            print(f"  x = ({xi[0]:.0f}, {xi[1]:.0f})  target {ti:.0f}  P(1) = {pi:.3f}")

        fig = figure(9, 4)
        ax_region, ax_loss = fig.subplots(1, 2)
        filled = plot_region(ax_region, model, f"XOR learned: {100 * acc:.0f} % correct")
        fig.colorbar(filled, ax=ax_region, label="P(class 1)")
        ax_region.legend(loc="upper center", ncols=2, fontsize=8)
        ax_loss.plot(history.epoch, history.loss)
        ax_loss.set(xlabel="epoch", ylabel="binary cross-entropy", yscale="log",
                    title="training loss")
        ax_loss.grid(alpha=0.3)
        fig.suptitle(f"A hidden layer (2-{args.hidden}-1, tanh) learns XOR")
        save(fig, args.out, "xor")
    return model, history


if __name__ == "__main__":
    main()
