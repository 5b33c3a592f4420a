"""A single perceptron learns AND, OR and NAND, and cannot learn XOR.

Each gate is learned by ``nn.Perceptron`` with the perceptron rule, in its
stochastic (per sample) and batch (sum over the misclassified set) forms. The
three separable gates converge to 100 %; XOR, which no straight line
separates, runs into the epoch limit with at most 3 of the 4 points right.
The PNG shows the learned decision lines over the four points.

    python examples/perceptron.py [--out DIR] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from _common import figure, parse, parser, save, session
from nn.perceptron import Perceptron, PerceptronRecord

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {  # targets for the rows of X, as -1 / +1
    "AND": np.array([-1, -1, -1, 1]),
    "OR": np.array([-1, 1, 1, 1]),
    "NAND": np.array([1, 1, 1, -1]),
    "XOR": np.array([-1, 1, 1, -1]),
}
MODES = ("stochastic", "batch")
# (gate, mode) -> (the trained perceptron, its record, its accuracy)
Results = dict[tuple[str, str], tuple[Perceptron, PerceptronRecord, float]]


def train_gate(gate: str, mode: str, max_epochs: int = 100, lr: float = 0.1, init: float = 0.5,
               seed: int = 1) -> tuple[Perceptron, PerceptronRecord, float]:
    """Fit a perceptron to one gate; return it, its record and its accuracy."""
    p = Perceptron(2, lr=lr, mode=mode, max_epochs=max_epochs, init=init, rng=seed)
    record = p.fit(X, GATES[gate])
    return p, record, p.accuracy(X, GATES[gate])


def plot(results: Results, out) -> None:
    fig = figure(13, 3.4)
    axes = fig.subplots(1, len(GATES))
    g = np.linspace(-0.5, 1.5, 201, dtype=np.float32)
    xx, yy = np.meshgrid(g, g)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    for ax, gate in zip(axes, GATES):
        t = GATES[gate]
        p, record, acc = results[gate, "stochastic"]
        ax.contourf(xx, yy, p.decision_function(grid).reshape(xx.shape), levels=[-1e9, 0, 1e9],
                    colors=["#f4d5d5", "#d5e4f4"])
        for mode, style in zip(MODES, ("-", "--")):
            pm = results[gate, mode][0]
            ax.contour(xx, yy, pm.decision_function(grid).reshape(xx.shape), levels=[0],
                       colors="k", linestyles=style, linewidths=1.5)
            ax.plot([], [], "k" + style, label=mode)
        ax.scatter(*X[t > 0].T, s=90, c="tab:blue", edgecolors="k", label="+1", zorder=3)
        ax.scatter(*X[t < 0].T, s=90, c="white", edgecolors="tab:red", linewidths=2,
                   label="-1", zorder=3)
        status = (f"converged in {record.epochs} epochs" if record.converged
                  else f"stopped at {record.epochs} epochs")
        ax.set(title=f"{gate}: {100 * acc:.0f} % ({status})", xlim=(-0.5, 1.5), ylim=(-0.5, 1.5),
               xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
        ax.title.set_fontsize(9)
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    fig.suptitle("Perceptron: decision lines (shaded: the stochastic rule's +1 side)")
    save(fig, out, "perceptron")


def main(argv: Sequence[str] | None = None) -> Results:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--max-epochs", type=int, default=None, help="epoch limit (100; quick: 20)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--init", type=float, default=0.5,
                   help="std of the random initial weights (0.5; 0 starts from zeros)")
    p.add_argument("--seed", type=int, default=1)
    args = parse(p, argv)
    max_epochs = args.max_epochs or (20 if args.quick else 100)
    with session(args):
        results = {}
        print(f"perceptron rule w <- w + {args.lr} (t - y) x, outputs ±1, "
              f"epoch limit {max_epochs}")
        print(f"{'gate':5} {'mode':10} {'result':>22} {'accuracy':>9}   w1, w2, bias")
        for gate in GATES:
            for mode in MODES:
                perceptron, record, acc = results[gate, mode] = train_gate(
                    gate, mode, max_epochs, args.lr, args.init, args.seed)
                status = (f"converged, {record.epochs} epochs" if record.converged
                          else f"epoch limit {record.epochs}")
                w = perceptron.W.data
                print(f"{gate:5} {mode:10} {status:>22} {100 * acc:8.0f} %   "
                      f"{w[0]:+.3f}, {w[1]:+.3f}, {w[2]:+.3f}")
        plot(results, args.out)
    return results


if __name__ == "__main__":
    main()
