"""Core layers: gradient check, hand-computed forward values, dtypes, errors, no mutation."""

from __future__ import annotations

import numpy as np
import pytest

from layers import Affine, Layer, LeakyReLU, Parameter, ReLU, Sigmoid, Softmax, Step, Tanh
from nn import Sequential


# -- Parameter and the base class ------------------------------------------------

def test_parameter_grad_matches_data():
    p = Parameter(np.ones((2, 3), dtype=np.float32), name="W")
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float32 and not p.grad.any()
    assert "W" in repr(p) and "float32" in repr(p)
    with pytest.raises(ValueError, match="float32 or float64, got int64"):
        Parameter(np.ones(3, dtype=np.int64))


def test_parameters_and_zero_grad():
    layer = Affine(3, 2, rng=0)
    assert layer.parameters() == [layer.W, layer.b]
    assert ReLU().parameters() == []
    x = np.ones((4, 3), dtype=np.float32)
    layer.forward(x)
    layer.backward(np.ones((4, 2), dtype=np.float32))
    first = layer.W.grad.copy()
    layer.forward(x)
    layer.backward(np.ones((4, 2), dtype=np.float32))
    np.testing.assert_allclose(layer.W.grad, 2 * first)  # backward accumulates
    layer.zero_grad()
    assert not layer.W.grad.any() and not layer.b.grad.any()


def test_every_layer_class_is_registered():
    for cls in (Affine, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Step, Sequential):
        assert Layer.registry[cls.__name__] is cls


# -- Affine ----------------------------------------------------------------------

def test_affine_forward_by_hand():
    layer = Affine(2, 2, rng=0)
    layer.W.data[...] = [[1, 2], [3, 4]]
    layer.b.data[...] = [0.5, -1]
    out = layer.forward(np.array([[1, 1], [2, 0]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[4.5, 5], [2.5, 3]])
    dx = layer.backward(np.array([[1, 0], [0, 1]], dtype=np.float32))
    np.testing.assert_array_equal(dx, [[1, 3], [2, 4]])          # dout @ W.T
    np.testing.assert_array_equal(layer.W.grad, [[1, 2], [1, 0]])  # x.T @ dout
    np.testing.assert_array_equal(layer.b.grad, [1, 1])


def test_affine_flattens_images_and_reshapes_gradient():
    layer = Affine(784, 10, rng=0)
    x = np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32)
    out = layer.forward(x)
    np.testing.assert_allclose(out, x.reshape(4, 784) @ layer.W.data + layer.b.data, rtol=1e-5)
    assert layer.backward(np.ones_like(out)).shape == (4, 1, 28, 28)


def test_affine_skips_input_gradient_when_not_needed():
    layer = Affine(3, 2, rng=0)
    layer.forward(np.ones((4, 3), dtype=np.float32))
    assert layer.backward(np.ones((4, 2), dtype=np.float32), input_grad=False) is None
    assert layer.W.grad.any()


@pytest.mark.parametrize("init, expected_std", [("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(1 / 400)),
                                                (0.01, 0.01)])
def test_affine_init_scales(init, expected_std):
    w = Affine(400, 300, init=init, rng=0).W.data
    assert abs(w.std() / expected_std - 1) < 0.02
    assert abs(w.mean()) < 0.05 * expected_std


def test_affine_seeded_init_is_reproducible():
    np.testing.assert_array_equal(Affine(5, 4, rng=7).W.data, Affine(5, 4, rng=7).W.data)
    assert not np.array_equal(Affine(5, 4, rng=7).W.data, Affine(5, 4, rng=8).W.data)


def test_affine_errors_name_layer_and_shapes():
    layer = Affine(784, 100)
    with pytest.raises(ValueError, match=r"Affine\(784 -> 100\): expected input of shape \(N, 784\).*got \(32, 28, 27\)"):
        layer.forward(np.zeros((32, 28, 27), dtype=np.float32))
    with pytest.raises(ValueError, match=r"got \(784,\)"):
        layer.forward(np.zeros(784, dtype=np.float32))
    with pytest.raises(TypeError, match="expected float32 input .*got float64"):
        layer.forward(np.zeros((2, 784)))
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        Affine(0, 3)
    with pytest.raises(ValueError, match=r'init must be "he", "xavier" or a positive std, got \'glorot\''):
        Affine(3, 3, init="glorot")
    with pytest.raises(ValueError, match="positive finite number, got -0.1"):
        Affine(3, 3, init=-0.1)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got float16"):
        Affine(3, 3, dtype=np.float16)


# -- activations: values by hand ---------------------------------------------------

def test_relu_values_and_gradient():
    layer = ReLU()
    out = layer.forward(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(out, [[0, 0, 2]])
    np.testing.assert_array_equal(layer.backward(np.array([[5.0, 6.0, 7.0]])), [[0, 0, 7]])


def test_relu_backward_returns_a_new_array():
    # The textbook's ReLU writes dout[mask] = 0 and hands the caller's array back.
    layer = ReLU()
    layer.forward(np.array([[-1.0, 1.0]]))
    dout = np.array([[3.0, 4.0]])
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, [[3.0, 4.0]])
    dx[0, 1] = 99
    assert dout[0, 1] == 4.0


def test_relu_keeps_nan_and_inf_and_any_memory_layout():
    x = np.array([[np.nan, -np.inf, np.inf, -0.0, -3.0, 2.5]], dtype=np.float32)
    out = ReLU().forward(x)
    np.testing.assert_array_equal(out, np.maximum(x, 0))  # NaN stays NaN, -inf becomes 0
    assert np.isnan(out[0, 0]) and out.dtype == np.float32
    rng = np.random.default_rng(0)
    for shape in [(3, 5), (40, 7), (2, 3, 4, 5)]:  # growing sizes: the zero buffer grows
        x = rng.standard_normal(shape)
        for view in (x, x.T, x[..., ::2]):  # C-, F- and non-contiguous inputs
            layer = ReLU()
            np.testing.assert_array_equal(layer.forward(view), np.maximum(view, 0))
            dout = rng.standard_normal(view.shape)
            np.testing.assert_array_equal(layer.backward(dout), dout * (view > 0))


def test_relu_zero_buffer_is_shared_read_only_and_stays_zero():
    from layers.activations import zeros_shaped_like
    x = np.ones((4, 6), dtype=np.float32)
    zeros = zeros_shaped_like(x)
    assert zeros.shape == x.shape and zeros.dtype == x.dtype and not zeros.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        zeros[0, 0] = 1
    ReLU().forward(-x)
    assert not zeros_shaped_like(np.ones((8, 9), dtype=np.float32)).any()
    assert zeros_shaped_like(x.T) is None  # not C-contiguous: the caller broadcasts 0


def test_leaky_relu_values():
    layer = LeakyReLU(0.1)
    np.testing.assert_allclose(layer.forward(np.array([[-2.0, 3.0]])), [[-0.2, 3.0]])
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0]])), [[0.1, 1.0]])
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\), got 1.5"):
        LeakyReLU(1.5)


def test_sigmoid_values_and_no_overflow_warning():
    layer = Sigmoid()
    x = np.array([[0.0, np.log(3.0), -1000.0, 1000.0]], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out = layer.forward(x)
        dx = layer.backward(np.ones_like(out))
    np.testing.assert_allclose(out, [[0.5, 0.75, 0.0, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(dx, [[0.25, 0.1875, 0.0, 0.0]], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_accurate_in_both_tails(dtype):
    # The tails keep their relative precision: sigmoid(-80) is 1.8e-35, not 0.
    from scipy.special import expit
    x = np.concatenate([np.linspace(-1e4, 1e4, 20001), np.linspace(-100, 100, 20001)]).astype(dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # NumPy's warnings, as errors
        y = Sigmoid().forward(x.reshape(2, -1)).ravel()
    assert y.dtype == dtype
    exact = expit(x.astype(np.float64))
    normal = exact > np.finfo(dtype).tiny
    relative = np.abs(y[normal] - exact[normal]) / exact[normal]
    assert relative.max() < 8 * np.finfo(dtype).eps
    assert np.all(y[~normal] <= 2 * np.finfo(dtype).tiny)
    np.testing.assert_array_equal(Sigmoid().forward(np.array([[np.inf, -np.inf]], dtype=dtype)), [[1, 0]])


def test_tanh_values():
    layer = Tanh()
    out = layer.forward(np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(out, [[0.0, np.tanh(1.0)]])
    np.testing.assert_allclose(layer.backward(np.array([[2.0, 1.0]])), [[2.0, 1 - np.tanh(1.0) ** 2]])


def test_softmax_values_and_stability():
    layer = Softmax()
    out = layer.forward(np.array([[0.0, np.log(3.0)], [1e4, -1e4]]))
    np.testing.assert_allclose(out, [[0.25, 0.75], [1.0, 0.0]])
    assert np.isfinite(out).all()


def test_step_outputs_and_refuses_backward():
    layer = Step()
    np.testing.assert_array_equal(layer.forward(np.array([[-1.0, 0.0, 0.5]])), [[0, 0, 1]])
    bipolar = Step(low=-1, high=1)
    out = bipolar.forward(np.array([[-0.1, 2.0]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[-1, 1]])
    with pytest.raises(RuntimeError, match="Step has no useful gradient"):
        bipolar.backward(np.ones((1, 2), dtype=np.float32))


def test_zero_grad_then_backward_writes_fresh_gradients():
    # zero_grad defers its zeros: Affine then writes x.T @ dout straight into grad.
    layer = Affine(3, 2, rng=0)
    x = np.ones((4, 3), dtype=np.float32)
    dout = np.ones((4, 2), dtype=np.float32)
    layer.forward(x)
    layer.backward(dout)
    layer.backward(dout)                      # accumulates: twice the gradient
    np.testing.assert_array_equal(layer.W.grad, 2 * x.T @ dout)
    layer.zero_grad()
    assert not layer.W.grad.any()             # reading after zero_grad sees zeros
    layer.zero_grad()
    layer.backward(dout)                      # overwrites the cleared array
    layer.backward(dout)                      # and then adds
    np.testing.assert_array_equal(layer.W.grad, 2 * x.T @ dout)
    np.testing.assert_array_equal(layer.b.grad, 2 * dout.sum(axis=0))


def test_parameter_grad_setter_checks_shape_and_dtype():
    p = Parameter(np.zeros((2, 2), dtype=np.float32))
    p.grad = np.ones((2, 2), dtype=np.float32)
    assert p.grad.sum() == 4
    with pytest.raises(ValueError, match=r"grad must be an array of shape \(2, 2\) and dtype float32"):
        p.grad = np.ones((2, 2))
