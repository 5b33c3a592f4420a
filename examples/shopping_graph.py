"""Backpropagation by hand on the textbook's shopping graph.

Two apples at 100 each and three oranges at 150 each, with 10 % tax: the total
715 is computed by ``Mul`` and ``Add`` nodes from ``layers``, and one backward
pass from d(total) = 1 gives the derivative of the total with respect to every
input: d apple = 2.2, d apple_num = 110, d orange = 3.3, d orange_num = 165,
d tax = 650. The PNG draws the graph with the forward values (black, above
each edge) and the gradients (red, below).

    python examples/shopping_graph.py [--out DIR]
"""

from __future__ import annotations

from collections.abc import Sequence

from _common import figure, parse, parser, save, session
from layers import Add, Mul

INPUTS = {"apple": 100.0, "apple_num": 2.0, "orange": 150.0, "orange_num": 3.0, "tax": 1.1}


def shopping_graph(apple: float = 100.0, apple_num: float = 2.0, orange: float = 150.0,
                   orange_num: float = 3.0, tax: float = 1.1) -> tuple[dict[str, float],
                                                                      dict[str, float]]:
    """Forward and backward through the graph; returns (values, gradients) by edge name."""
    mul_apple, mul_orange, add_fruit, mul_tax = Mul(), Mul(), Add(), Mul()
    apple_price = mul_apple.forward(apple, apple_num)
    orange_price = mul_orange.forward(orange, orange_num)
    all_price = add_fruit.forward(apple_price, orange_price)
    price = mul_tax.forward(all_price, tax)

    dprice = 1.0
    dall_price, dtax = mul_tax.backward(dprice)
    dapple_price, dorange_price = add_fruit.backward(dall_price)
    dorange, dorange_num = mul_orange.backward(dorange_price)
    dapple, dapple_num = mul_apple.backward(dapple_price)

    values = {"apple": apple, "apple_num": apple_num, "orange": orange, "orange_num": orange_num,
              "tax": tax, "apple_price": apple_price, "orange_price": orange_price,
              "all_price": all_price, "price": price}
    grads = {"apple": dapple, "apple_num": dapple_num, "orange": dorange,
             "orange_num": dorange_num, "tax": dtax, "apple_price": dapple_price,
             "orange_price": dorange_price, "all_price": dall_price, "price": dprice}
    return values, grads


# node positions and edges (from, to, name of the value carried) for the drawing
NODES = {"apple": (0, 4.2), "apple_num": (0, 2.9), "orange": (0, 1.9), "orange_num": (0, 0.6),
         "mul_apple": (2.4, 3.55), "mul_orange": (2.4, 1.25), "add": (4.6, 2.4),
         "tax": (4.6, 0.4), "mul_tax": (6.6, 1.6), "price": (8.6, 1.6)}
EDGES = [("apple", "mul_apple", "apple"), ("apple_num", "mul_apple", "apple_num"),
         ("orange", "mul_orange", "orange"), ("orange_num", "mul_orange", "orange_num"),
         ("mul_apple", "add", "apple_price"), ("mul_orange", "add", "orange_price"),
         ("add", "mul_tax", "all_price"), ("tax", "mul_tax", "tax"),
         ("mul_tax", "price", "price")]
OPERATORS = {"mul_apple": "×", "mul_orange": "×", "add": "+", "mul_tax": "×"}


def plot(values: dict[str, float], grads: dict[str, float], out) -> None:
    fig = figure(10, 5)
    ax = fig.subplots()
    for name, (x, y) in NODES.items():
        if name in OPERATORS:
            ax.text(x, y, OPERATORS[name], ha="center", va="center", fontsize=18, zorder=3,
                    bbox={"boxstyle": "circle,pad=0.3", "fc": "#fff6d5", "ec": "k"})
        else:
            ax.text(x, y, name, ha="center", va="center", fontsize=10, zorder=3,
                    bbox={"boxstyle": "round,pad=0.35", "fc": "#e8f0fb", "ec": "k"})
    for start, end, value in EDGES:
        (x0, y0), (x1, y1) = NODES[start], NODES[end]
        head, tail = (x1 - 0.35, y1 + 0.12 * (y0 - y1)), (x0 + 0.45, y0)
        ax.annotate("", xy=head, xytext=tail,
                    arrowprops={"arrowstyle": "->", "lw": 1.4, "color": "k"})
        # label near the tail: edges that meet at a node are far apart there
        xm, ym = tail[0] + 0.4 * (head[0] - tail[0]), tail[1] + 0.4 * (head[1] - tail[1])
        ax.text(xm, ym + 0.14, f"{values[value]:.10g}", ha="center", va="bottom", fontsize=10)
        ax.text(xm, ym - 0.14, f"{grads[value]:.10g}", ha="center", va="top", fontsize=10,
                color="tab:red")
    ax.text(0, -0.4, "black: forward value   red: d price / d (that value), backward from 1",
            fontsize=9, color="dimgray")
    ax.set(xlim=(-0.9, 9.3), ylim=(-0.7, 4.8))
    ax.axis("off")
    ax.set_title("The shopping graph: 2 apples at 100, 3 oranges at 150, 10 % tax")
    save(fig, out, "shopping_graph")


def main(argv: Sequence[str] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    p = parser(__doc__.splitlines()[0])
    args = parse(p, argv)  # --quick and --data-dir are accepted; this demo is instant anyway
    with session(args):
        values, grads = shopping_graph(**INPUTS)
        print("forward:")
        for name in ("apple_price", "orange_price", "all_price", "price"):
            print(f"  {name:12} = {values[name]:.10g}")
        print("backward (derivative of the price, starting from d price = 1):")
        for name in ("all_price", "apple_price", "orange_price", "apple", "apple_num", "orange",
                     "orange_num", "tax"):
            print(f"  d {name:12} = {grads[name]:.10g}")
        print(f"(in floating point the price is {values['price']!r}, as in the textbook)")
        plot(values, grads, args.out)
    return values, grads


if __name__ == "__main__":
    main()
