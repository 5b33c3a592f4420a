"""How sensitive is the cost to each weight? dL/dW1 of one example, as 16 images.

A 784-16-16-10 sigmoid network is trained for a few epochs on MNIST; then ONE
test image goes forward and backward, and the gradient of its cost with respect
to every first-layer weight, dL/dW1 (784 x 16), is shown as 16 images of
28 x 28, one per hidden unit. The size of a weight's gradient is how strongly
the cost reacts to a nudge of that weight: a weight whose gradient is 3.2 moves
the cost 32 times more than one whose gradient is 0.1. The demo ranks the most
sensitive weights and checks that claim by nudging two weights for real.

    python examples/sensitivity.py [--data-dir DIR] [--out DIR] [--quick] [--index I]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm

import nn
from _common import figure, mnist_subset, parse, parser, save, session
from datasets import load_mnist
from layers import softmax
from losses import SoftmaxWithLoss
from optimizers import SGD


class Sensitive(NamedTuple):
    """One first-layer weight: the pixel it reads, the hidden unit it feeds, dL/dw."""

    row: int
    col: int
    unit: int
    grad: float


def train_network(x: np.ndarray, t: np.ndarray, epochs: int, lr: float = 1.0,
                  seed: int = 0) -> nn.Sequential:
    model = nn.mlp(784, [16, 16], 10, activation_name="sigmoid", seed=seed)
    trainer = nn.Trainer(model, SoftmaxWithLoss(), SGD(model.parameters(), lr=lr))
    trainer.fit(x, t, epochs=epochs, batch_size=100, seed=seed, verbose=0)
    return model


def first_layer_gradient(model: nn.Sequential, x: np.ndarray,
                         t: int) -> tuple[np.ndarray, np.ndarray, float]:
    """dL/dW1 (784 x 16) and dL/db1 (16,) of the single example ``(x, t)``, and its cost.

    For one example dL/dW1 = outer(x, dL/db1): each hidden unit's column is the
    input image scaled by that unit's error signal dL/db1[j].
    """
    loss = SoftmaxWithLoss()
    model.zero_grad()
    value = loss.forward(model.forward(x.reshape(1, -1)), np.array([t]))
    model.backward(loss.backward())
    grad_w, grad_b = model[0].W.grad.copy(), model[0].b.grad.copy()
    model.zero_grad()
    return grad_w, grad_b, value


def most_sensitive(grad: np.ndarray, k: int = 10) -> list[Sensitive]:
    """The ``k`` weights with the largest |dL/dw|, as (pixel row, col, hidden unit, gradient)."""
    flat = np.argsort(np.abs(grad), axis=None)[::-1][:k]
    pixels, units = np.unravel_index(flat, grad.shape)
    return [Sensitive(int(p) // 28, int(p) % 28, int(u), float(grad[p, u]))
            for p, u in zip(pixels, units)]


def nudge(model: nn.Sequential, x: np.ndarray, t: int, index: tuple[int, int],
          eps: float) -> float:
    """Change of the example's cost when first-layer weight ``index`` moves by ``eps``."""
    loss, w = SoftmaxWithLoss(), model[0].W.data
    base = loss.forward(model.forward(x.reshape(1, -1)), np.array([t]))
    old = w[index]
    w[index] = old + eps
    moved = loss.forward(model.forward(x.reshape(1, -1)), np.array([t]))
    w[index] = old
    return moved - base


def plot(image: np.ndarray, label: int, index: int, grad: np.ndarray, delta: np.ndarray,
         top: list[Sensitive], out) -> None:
    """Which weights matter: |dL/dW1| per hidden unit on a log scale, and |dL/db1| per unit.

    A linear colour scale shows only the one or two units with the largest
    gradients; the sizes span several orders of magnitude, so the colours are
    logarithmic and a weight with gradient exactly 0 is left white.
    """
    absg = np.abs(grad)
    units = absg.shape[1]
    best = int(np.argmax(np.abs(delta)))
    inked = int(np.count_nonzero(image))
    zero_share = 100 * (1 - np.count_nonzero(absg) / absg.size)
    vmax = float(absg.max())
    norm = LogNorm(vmin=vmax * 1e-4, vmax=vmax)
    cmap = colormaps["viridis"].with_extremes(bad="white")

    fig = figure(13, 7.2)
    left, right = fig.subfigures(1, 2, width_ratios=[1, 2.2])
    ax_img, ax_units = left.subplots(2, 1, height_ratios=[1.3, 1])
    ax_img.imshow(image.reshape(28, 28), cmap="gray_r")
    for s in top:
        ax_img.scatter(s.col, s.row, s=60, facecolors="none", edgecolors="tab:red")
    ax_img.set(title=f"test image {index} (label {label}): {inked} inked pixels\n"
                     "red: the pixels of the 10 weights that matter most", xticks=[], yticks=[])
    ax_img.title.set_fontsize(9)
    colours = ["tab:red" if j == best else "tab:gray" for j in range(units)]
    ax_units.bar(range(units), np.abs(delta), color=colours)
    ax_units.set_yscale("log")
    ax_units.set(xticks=range(units), xlabel="hidden unit",
                 title=f"|dL/db1| per hidden unit (log scale): unit j's weights are\n"
                       f"|dL/db1[j]| x pixel value, so unit {best}'s matter most")
    ax_units.title.set_fontsize(9)
    ax_units.tick_params(labelsize=7)

    axes = right.subplots(4, 4)
    for unit, ax in enumerate(axes.ravel()):
        shown = ax.imshow(np.ma.masked_equal(absg[:, unit], 0).reshape(28, 28), cmap=cmap, norm=norm)
        ax.set_title(f"unit {unit}" + (" (matters most)" if unit == best else ""), fontsize=8,
                     color="tab:red" if unit == best else "black")
        ax.set(xticks=[], yticks=[])
    right.colorbar(shown, ax=axes, shrink=0.85, extend="min",
                   label="|dL/dw|: how far the cost moves per unit nudge of the weight (log scale)")
    right.suptitle("|dL/dW1| for this one image: one 28x28 map per hidden unit "
                   "(white: exactly 0)", fontsize=10)
    fig.suptitle(f"Which first-layer weights matter for this image? Only those that read its inked "
                 f"pixels ({zero_share:.0f} % of the weights have dL/dw = 0),\nand most of all "
                 f"those feeding hidden unit {best}; within a unit, the more ink a pixel has, the "
                 f"more its weight matters")
    save(fig, out, "sensitivity")


def main(argv: Sequence[str] | None = None) -> dict:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="training epochs (10; quick: 2)")
    p.add_argument("--index", type=int, default=0, help="which test image to differentiate")
    p.add_argument("--seed", type=int, default=0)
    args = parse(p, argv)
    epochs = args.epochs or (2 if args.quick else 10)
    with session(args):
        if args.quick:
            (x, t), _ = mnist_subset(args.data_dir, 5000, 1, args.seed)
        else:
            (x, t), _ = load_mnist(data_dir=args.data_dir)
        _, (x_test, t_test) = load_mnist(data_dir=args.data_dir)
        model = train_network(x, t, epochs, seed=args.seed)
        _, accuracy = nn.evaluate(model, SoftmaxWithLoss(), x_test, t_test)
        print(f"784-16-16-10 sigmoid network, {epochs} epochs of SGD lr 1.0 on {len(x)} images: "
              f"test accuracy {100 * accuracy:.1f} %")

        # float64 from here on, so that even tiny changes of the cost are measured exactly
        model.astype(np.float64)
        image, label = x_test[args.index].astype(np.float64), int(t_test[args.index])
        grad, delta, cost = first_layer_gradient(model, image, label)
        probs = softmax(model.forward(image.reshape(1, -1)))[0]
        print(f"test image {args.index}: label {label}, predicted {int(np.argmax(probs))}, "
              f"P(label) = {probs[label]:.3f}, cost L = {cost:.4f}")
        absg = np.abs(grad)
        nonzero = absg[absg > 0]
        zero_share = 1 - nonzero.size / absg.size
        print(f"dL/dW1 has shape {grad.shape}; {100 * zero_share:.0f} % of it is exactly 0 "
              "(weights reading black pixels cannot change this example's cost)")
        order = np.argsort(np.abs(delta))[::-1]
        print("for one example dL/dW1[pixel, unit] = x[pixel] * dL/db1[unit] (an outer product), "
              "so the brightest pixels of the unit with the largest |dL/db1| rank first; "
              "|dL/db1| by unit: " + ", ".join(f"{j}: {abs(delta[j]):.1e}" for j in order[:4])
              + ", ...")
        top = most_sensitive(grad, 10)
        print("the 10 most sensitive first-layer weights:")
        print("  rank  pixel (row, col)  hidden unit   dL/dw")
        for rank, s in enumerate(top, 1):
            print(f"  {rank:4d}  ({s.row:2d}, {s.col:2d})          {s.unit:5d}     {s.grad:+.3e}")
        median_value = float(np.median(nonzero))
        median_pos = np.unravel_index(np.argmin(np.abs(absg - median_value)), grad.shape)
        g_top, g_med = top[0].grad, float(grad[median_pos])
        ratio = abs(g_top) / abs(g_med)
        print("a weight whose gradient is 3.2 moves the cost 32 times more than one whose "
              f"gradient is 0.1; here the top |dL/dw| = {abs(g_top):.3e} is {ratio:,.0f} times the median "
              f"non-zero |dL/dw| = {abs(g_med):.3e}")
        eps = 1e-4
        top_pos = (top[0].row * 28 + top[0].col, top[0].unit)
        d_top, d_med = nudge(model, image, label, top_pos, eps), nudge(model, image, label,
                                                                      median_pos, eps)
        print(f"check: moving each of the two weights by {eps:g} changes the cost by "
              f"{d_top:+.3e} and {d_med:+.3e}, a ratio of {abs(d_top / d_med):,.0f} "
              f"(gradient ratio {ratio:,.0f})")

        plot(image, label, args.index, grad, delta, top, args.out)
    return {"grad": grad, "delta": delta, "top": top, "ratio": ratio, "nudges": (d_top, d_med),
            "accuracy": accuracy, "cost": cost}


if __name__ == "__main__":
    main()
