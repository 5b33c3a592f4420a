"""Non-convexity: the same network from different random starts ends in different places.

The smallest network that can solve XOR, 2-2-1 with tanh, is trained by
``nn.Trainer`` (full-batch SGD, identical settings) from N random
initialisations. Its loss surface is not convex: many seeds reach 100 %, but
some settle in a local minimum or plateau with one or two points wrong.
``nn.restarts.best_of_restarts`` runs the seeds and keeps the best model.

    python examples/random_restarts.py [--out DIR] [--quick] [--restarts N]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import nn
from _common import figure, parse, parser, save, session
from losses import SigmoidWithLoss
from nn.restarts import Restarts, best_of_restarts
from optimizers import SGD
from xor import T, X, build, plot_region


def restart_xor(n: int, hidden: int = 2, epochs: int = 2000, lr: float = 0.5,
                first_seed: int = 0) -> tuple[Restarts, dict[int, nn.History]]:
    """Train the 2-``hidden``-1 XOR network from ``n`` seeds; return the restarts and histories."""
    histories: dict[int, nn.History] = {}

    def train(model: nn.Sequential, seed: int) -> dict[str, float]:
        trainer = nn.Trainer(model, SigmoidWithLoss(), SGD(model.parameters(), lr=lr))
        histories[seed] = trainer.fit(X, T, epochs=epochs, batch_size=None, seed=seed, verbose=0)
        loss, accuracy = trainer.evaluate(X, T)
        return {"loss": loss, "accuracy": accuracy}

    restarts = best_of_restarts(lambda seed: build(hidden, seed), train,
                                seeds=range(first_seed, first_seed + n), key="loss")
    return restarts, histories


def main(argv: Sequence[str] | None = None) -> Restarts:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--restarts", type=int, default=None, help="number of seeds (40; quick: 8)")
    p.add_argument("--hidden", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None, help="full-batch epochs (2000; quick: 1000)")
    p.add_argument("--lr", type=float, default=0.5)
    args = parse(p, argv)
    n = args.restarts or (8 if args.quick else 40)
    epochs = args.epochs or (1000 if args.quick else 2000)
    with session(args):
        restarts, histories = restart_xor(n, args.hidden, epochs, args.lr)
        losses = restarts.scores
        accs = np.array([r.metrics["accuracy"] for r in restarts.results])
        print(f"XOR, 2-{args.hidden}-1 tanh network, full-batch SGD lr {args.lr}, {epochs} epochs, "
              f"{n} random initialisations (seeds 0-{n - 1})")
        for a in sorted(set(accs), reverse=True):
            sel = accs == a
            print(f"  {np.count_nonzero(sel):3d} restarts end at {100 * a:3.0f} % accuracy, "
                  f"final loss {losses[sel].min():.4f} to {losses[sel].max():.4f}")
        print(f"final loss over all restarts: min {losses.min():.4f}, median "
              f"{np.median(losses):.4f}, max {losses.max():.4f}")
        best = restarts.best
        print(f"best: seed {best.seed}, loss {best.score:.4f}, accuracy "
              f"{100 * best.metrics['accuracy']:.0f} % (kept as the model)")

        fig = figure(14, 4.2)
        ax_strip, ax_curves, ax_region = fig.subplots(1, 3)
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, n)
        colors = {1.0: "tab:green", 0.75: "tab:orange", 0.5: "tab:red", 0.25: "tab:purple"}
        for a in sorted(set(accs), reverse=True):
            sel = accs == a
            ax_strip.scatter(jitter[sel], losses[sel], color=colors.get(a, "k"), s=30,
                             label=f"{100 * a:.0f} % ({np.count_nonzero(sel)})")
        ax_strip.scatter(jitter[restarts.best_index], best.score, s=160, facecolors="none",
                         edgecolors="k", linewidths=1.5, label="best (kept)")
        ax_strip.set(yscale="log", xlim=(-0.6, 0.6), xticks=[], ylabel="final loss",
                     title=f"final loss of {n} restarts")
        ax_strip.legend(fontsize=8, title="accuracy", title_fontsize=8)
        for r in restarts.results:
            ax_curves.plot(histories[r.seed].epoch, histories[r.seed].loss,
                           color=colors.get(r.metrics["accuracy"], "k"), alpha=0.6, linewidth=1)
        ax_curves.set(yscale="log", xlabel="epoch", ylabel="training loss",
                      title="every restart's training loss")
        ax_curves.grid(alpha=0.3)
        plot_region(ax_region, restarts.model,
                    f"best restart (seed {best.seed}): {100 * best.metrics['accuracy']:.0f} %")
        fig.suptitle("Non-convex loss: same network, same data, different random starts")
        save(fig, args.out, "random_restarts")
    return restarts


if __name__ == "__main__":
    main()
