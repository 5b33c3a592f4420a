"""The two-input computational-graph nodes, on the textbook's shopping example."""

from __future__ import annotations

import numpy as np
import pytest

from layers import Add, Mul
from nn import numerical_gradient


def test_shopping_example_forward_and_backward():
    # Two apples at 100, three oranges at 150, 10 % tax: the textbook's figure 5-17.
    mul_apple, mul_orange, add, mul_tax = Mul(), Mul(), Add(), Mul()
    apple_price = mul_apple.forward(100, 2)
    orange_price = mul_orange.forward(150, 3)
    subtotal = add.forward(apple_price, orange_price)
    total = mul_tax.forward(subtotal, 1.1)
    assert (apple_price, orange_price, subtotal) == (200, 450, 650)
    assert total == pytest.approx(715)

    d_subtotal, d_tax = mul_tax.backward(1)
    d_apple_price, d_orange_price = add.backward(d_subtotal)
    d_apple, d_apple_num = mul_apple.backward(d_apple_price)
    d_orange, d_orange_num = mul_orange.backward(d_orange_price)
    assert d_tax == 650
    assert d_subtotal == pytest.approx(1.1)
    assert (d_apple_price, d_orange_price) == (d_subtotal, d_subtotal)  # add passes it through
    assert d_apple == pytest.approx(2.2) and d_apple_num == pytest.approx(110)
    assert d_orange == pytest.approx(3.3) and d_orange_num == pytest.approx(165)


def test_mul_on_arrays_matches_numerical_gradient():
    rng = np.random.default_rng(0)
    x, y, g = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    node = Mul()
    node.forward(x, y)
    dx, dy = node.backward(g)
    np.testing.assert_allclose(dx, numerical_gradient(lambda _: np.sum(x * y * g), x), rtol=1e-7)
    np.testing.assert_allclose(dy, numerical_gradient(lambda _: np.sum(x * y * g), y), rtol=1e-7)


def test_add_gradients_are_copies():
    node = Add()
    node.forward(np.ones(3), np.ones(3))
    dout = np.arange(3.0)
    dx, dy = node.backward(dout)
    np.testing.assert_array_equal(dx, dout)
    dx[0] = 99
    assert dout[0] == 0 and dy[0] == 0


def test_graph_node_errors():
    with pytest.raises(RuntimeError, match="Mul.backward called before forward"):
        Mul().backward(1.0)
    with pytest.raises(RuntimeError, match="Add.backward called before forward"):
        Add().backward(1.0)
    with pytest.raises(ValueError, match=r"expected x and y of the same shape, got \(2,\) and \(3,\)"):
        Add().forward(np.ones(2), np.ones(3))
    with pytest.raises(TypeError, match="expected y as a number or a NumPy array, got str"):
        Mul().forward(1.0, "2")
