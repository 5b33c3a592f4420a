"""Vanishing gradients: in a deep sigmoid network the first layers hardly learn.

Ten Affine layers (784-100-...-100-10) with sigmoid or ReLU activations, on a
few thousand MNIST images. For each Affine layer the demo measures the norm of
dL/dW after one backward pass on a fixed batch, at initialisation and after
some training with plain SGD. Sigmoid's derivative is at most 1/4, so the
gradient shrinks by a roughly constant factor per layer on its way back; ReLU's
is 1 where the unit is active, and the gradient keeps its size.

Initialisations: each activation's recommended one (sigmoid: Xavier,
std sqrt(1/n); ReLU: He, std sqrt(2/n)), and sigmoid with He as well, so the
comparison also holds with the same init for both activations.

    python examples/vanishing_gradients.py [--data-dir DIR] [--out DIR] [--quick]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import nn
from _common import figure, mnist_subset, parse, parser, save, session
from layers import Affine
from losses import SoftmaxWithLoss
from optimizers import SGD

CONFIGS = (("sigmoid", "xavier"), ("sigmoid", "he"), ("relu", "he"))


def deep_mlp(activation: str, init: str, depth: int = 10, width: int = 100,
             seed: int = 0) -> nn.Sequential:
    """``depth`` Affine layers, 784 -> width -> ... -> width -> 10, with ``activation``."""
    return nn.mlp(784, [width] * (depth - 1), 10, activation_name=activation, init=init, seed=seed)


def layer_gradient_norms(model: nn.Sequential, loss: SoftmaxWithLoss, x: np.ndarray,
                         t: np.ndarray) -> np.ndarray:
    """‖dL/dW‖ (Frobenius) of every Affine layer, first to last, after one backward on (x, t)."""
    model.zero_grad()
    loss.forward(model.forward(x), t)
    model.backward(loss.backward(), input_grad=False)
    norms = np.array([np.linalg.norm(layer.W.grad) for layer in model if isinstance(layer, Affine)])
    model.zero_grad()
    return norms


def first_last_ratio(norms: np.ndarray) -> float:
    """How much smaller the first layer's gradient norm is than the last layer's."""
    return float(norms[0] / norms[-1])


def run(activation: str, init: str, train: tuple[np.ndarray, np.ndarray],
        probe: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
        epochs: int, lr: float, depth: int, width: int, seed: int) -> dict:
    """Gradient norms at init and after ``epochs`` of SGD, and the test accuracy."""
    model = deep_mlp(activation, init, depth, width, seed)
    loss = SoftmaxWithLoss()
    before = layer_gradient_norms(model, loss, *probe)
    trainer = nn.Trainer(model, loss, SGD(model.parameters(), lr=lr))
    history = trainer.fit(*train, epochs=epochs, batch_size=100, seed=seed, verbose=0)
    after = layer_gradient_norms(model, loss, *probe)
    _, accuracy = trainer.evaluate(*test)
    return {"before": before, "after": after, "accuracy": accuracy, "loss": history.loss[-1]}


def main(argv: Sequence[str] | None = None) -> dict[tuple[str, str], dict]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=10, help="number of Affine layers")
    p.add_argument("--width", type=int, default=100)
    p.add_argument("--epochs", type=int, default=None, help="training epochs (2; quick: 1)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    n_train, n_test, n_probe = (1000, 500, 200) if args.quick else (5000, 2000, 1000)
    epochs = args.epochs or (1 if args.quick else 2)
    with session(args):
        (x, t), test = mnist_subset(args.data_dir, n_train, n_test, args.seed)
        probe = (x[:n_probe], t[:n_probe])
        print(f"{args.depth} Affine layers of width {args.width}; ‖dL/dW‖ per layer on a batch of "
              f"{n_probe}; training: {epochs} epoch(s) of SGD lr {args.lr}, batch 100, "
              f"on {n_train} images")
        print("init: sigmoid+xavier and relu+he are each activation's recommended init; "
              "sigmoid+he uses the same init as relu")
        results = {}
        for activation, init in CONFIGS:
            r = results[activation, init] = run(activation, init, (x, t), probe, test, epochs,
                                                args.lr, args.depth, args.width, args.seed)
            print(f"{activation}+{init}:")
            for when in ("before", "after"):
                norms = r[when]
                label = "at init" if when == "before" else f"after {epochs} epoch(s)"
                print(f"  {label:18} first/last layer gradient-norm ratio "
                      f"{first_last_ratio(norms):.2e}   "
                      f"(first {norms[0]:.2e}, last {norms[-1]:.2e})")
            print(f"  test accuracy after training: {100 * r['accuracy']:.1f} %")
        relu = first_last_ratio(results["relu", "he"]["before"])
        sig = first_last_ratio(results["sigmoid", "xavier"]["before"])
        print(f"at init the sigmoid network's first layer gets {relu / sig:.1e} times less "
              f"gradient, relative to its last layer, than the ReLU network's")

        fig = figure(11, 4.2)
        axes = fig.subplots(1, 2, sharey=True)
        layers_idx = np.arange(1, args.depth + 1)
        styles = {("sigmoid", "xavier"): ("tab:red", "o"), ("sigmoid", "he"): ("tab:orange", "s"),
                  ("relu", "he"): ("tab:blue", "^")}
        for ax, when, title in zip(axes, ("before", "after"),
                                   ("at initialisation", f"after {epochs} epoch(s) of SGD")):
            for (activation, init), r in results.items():
                color, marker = styles[activation, init]
                ax.plot(layers_idx, r[when], marker=marker, color=color,
                        label=f"{activation} ({init} init), test acc {100 * r['accuracy']:.0f} %")
            ax.set(yscale="log", xlabel="Affine layer (1 = next to the input)", title=title,
                   xticks=layers_idx)
            ax.grid(alpha=0.3, which="both")
        axes[0].set_ylabel("‖dL/dW‖ of the layer")
        axes[1].legend(fontsize=8, loc="lower right")
        fig.suptitle(f"Vanishing gradients: {args.depth}-layer MLP on MNIST, sigmoid vs ReLU")
        save(fig, args.out, "vanishing_gradients")
    return results


if __name__ == "__main__":
    main()
