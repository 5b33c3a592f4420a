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
    with pytest.raises(TypeError, match="expected a float NumPy array"):
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
