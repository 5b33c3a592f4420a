"""The gradient checker itself: it must restore what it perturbs and catch wrong gradients."""

from __future__ import annotations

import numpy as np
import pytest

from layers import Affine, Layer, Parameter
from nn import gradcheck, numerical_gradient


def test_numerical_gradient_of_known_functions():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v ** 3), x), 3 * x ** 2, rtol=1e-7)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(np.sin(v)), x), np.cos(x), rtol=1e-7)


def test_numerical_gradient_restores_every_element_exactly():
    x = np.random.default_rng(0).standard_normal((5, 7))
    before = x.copy()
    numerical_gradient(lambda v: float(np.sum(np.exp(v))), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_on_a_non_contiguous_view():
    base = np.random.default_rng(0).standard_normal((4, 6))
    view = base[:, ::2]
    before = base.copy()
    grad = numerical_gradient(lambda v: float(np.sum(v ** 2)), view)
    np.testing.assert_allclose(grad, 2 * view, rtol=1e-7)
    np.testing.assert_array_equal(base, before)


def test_numerical_gradient_subset_and_call_count():
    calls = []
    x = np.zeros(10)
    grad = numerical_gradient(lambda v: calls.append(1) or float(np.sum(v * np.arange(10))), x, indices=[2, 7])
    assert len(calls) == 4  # two evaluations per coordinate, nothing more
    np.testing.assert_allclose(grad, [0, 0, 2, 0, 0, 0, 0, 7, 0, 0], atol=1e-9)


def test_numerical_gradient_errors():
    with pytest.raises(TypeError, match=r"expected a float NumPy \(or CuPy\) array"):
        numerical_gradient(lambda v: 0.0, np.arange(3))
    with pytest.raises(ValueError, match="h must be positive, got 0"):
        numerical_gradient(lambda v: 0.0, np.zeros(3), h=0)


class WrongAffine(Affine):
    """An Affine whose weight gradient is off by 1 %: the checker must notice."""

    def backward(self, dout, *, input_grad=True):
        dx = super().backward(dout, input_grad=input_grad)
        self.W.grad *= 1.01
        return dx


def test_gradcheck_catches_a_wrong_gradient():
    report = gradcheck(WrongAffine(4, 3, rng=0), np.random.default_rng(0).standard_normal((5, 4)))
    assert not report.passed
    assert not report["W"].passed and report["b"].passed and report["x"].passed
    assert report["W"].norm_rel == pytest.approx(0.01 / 2.01, rel=1e-3)
    assert "FAILED" in str(report)
    with pytest.raises(AssertionError, match="gradient check failed"):
        report.raise_if_failed()


def test_gradcheck_samples_coordinates_for_large_arrays():
    report = gradcheck(Affine(50, 40, rng=0), np.random.default_rng(0).standard_normal((3, 50)),
                       max_coords=25)
    assert report.passed
    assert report["W"].checked == 25 and report["b"].checked == 25 and report["x"].checked == 25


def test_gradcheck_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a Layer, Sequential or Loss, got int"):
        gradcheck(3, np.zeros(2))
    with pytest.raises(ValueError, match="max_coords must be positive"):
        gradcheck(Affine(2, 2), np.zeros((1, 2)), max_coords=0)


def test_parameter_subclass_layers_are_found():
    class Scale(Layer):
        def __init__(self):
            super().__init__()
            self.s = Parameter(np.array([2.0]), name="s")
            self.x = None

        def forward(self, x):
            self.x = x
            return x * self.s.data

        def backward(self, dout, *, input_grad=True):
            self.s.grad += np.sum(dout * self.x, keepdims=True).reshape(1)
            return dout * self.s.data

    report = gradcheck(Scale(), np.random.default_rng(0).standard_normal((3, 2)))
    assert report.passed and [e.name for e in report.entries] == ["x", "s"]


# -- tiny gradients: the absolute tolerance follows the gradient's own scale ---

class Shrink(Layer):
    """y = 1e-8 x: makes every gradient upstream of it about 1e-8."""

    def __init__(self) -> None:
        super().__init__()
        self.factor = 1e-8

    def forward(self, x):
        return x * self.factor

    def backward(self, dout, *, input_grad=True):
        return dout * self.factor


class ZeroBiasGrad(Affine):
    """An Affine whose backward forgets the bias gradient."""

    def backward(self, dout, *, input_grad=True):
        dx = super().backward(dout, input_grad=input_grad)
        self.b.grad[...] = 0
        return dx


def tiny_model(affine_class):
    from nn import Sequential
    return Sequential([affine_class(4, 3, rng=0, dtype=np.float64), Shrink()])


def test_a_zeroed_bias_gradient_fails_even_when_the_true_gradient_is_1e_8():
    x = np.random.default_rng(1).standard_normal((5, 4))
    report = gradcheck(tiny_model(ZeroBiasGrad), x)
    entry = report["0.b"]
    assert 1e-9 < entry.scale < 1e-7  # the true bias gradient is about 1e-8
    assert entry.max_abs < 1e-7       # so an absolute 1e-7 would have passed it
    assert not entry.passed and not report.passed
    assert report["0.W"].passed and report["x"].passed  # correct tiny gradients still pass
    assert "FAILED" in str(report)


def test_correct_tiny_gradients_pass():
    x = np.random.default_rng(2).standard_normal((5, 4))
    report = gradcheck(tiny_model(Affine), x)
    assert report.passed, str(report)
    assert report["0.b"].scale < 1e-7


def test_an_exact_zero_gradient_passes_against_numerical_noise():
    from layers import ReLU
    from nn import Sequential
    layer = Affine(4, 3, rng=0, dtype=np.float64)
    layer.b.data[...] = -100.0  # every ReLU is off: all gradients are exactly zero
    report = gradcheck(Sequential([layer, ReLU()]), np.random.default_rng(3).standard_normal((5, 4)))
    assert report.passed, str(report)
    assert all(not g.any() for g in report.backprop.values())


def test_gradcheck_takes_integer_data_and_refuses_complex():
    x = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])  # int64, as typed
    assert gradcheck(Affine(4, 3, rng=0), x).passed
    with pytest.raises(TypeError, match="complex"):
        gradcheck(Affine(4, 3, rng=0), x * 1j)
