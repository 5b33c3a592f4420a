"""Losses: gradient check, values by hand, stability, target validation, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from losses import MeanSquaredError, SigmoidWithLoss, SoftmaxWithLoss
from nn import gradcheck

RNG = np.random.default_rng(0)
SCORES = RNG.standard_normal((6, 4))
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONEHOT = np.eye(4)[LABELS]

CASES = [
    ("softmax-labels", SoftmaxWithLoss, SCORES, LABELS),
    ("softmax-onehot", SoftmaxWithLoss, SCORES, ONEHOT),
    ("softmax-soft-targets", SoftmaxWithLoss, SCORES, np.full((6, 4), 0.25)),
    ("mse", MeanSquaredError, SCORES, RNG.standard_normal((6, 4))),
    ("mse-labels", MeanSquaredError, SCORES, LABELS),
    ("sigmoid-bce", SigmoidWithLoss, SCORES, (RNG.random((6, 4)) > 0.5).astype(float)),
    ("sigmoid-bce-column", SigmoidWithLoss, SCORES[:, :1], np.array([0, 1, 1, 0, 1, 0])),
]


@pytest.mark.parametrize("name, cls, scores, targets", CASES, ids=[c[0] for c in CASES])
def test_gradients_match_numerical_and_honour_dout(name, cls, scores, targets):
    report = gradcheck(cls(), scores, targets)  # checks c * loss against backward(c)
    assert report.passed and report.max_norm_rel < 1e-7, str(report)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, cls, scores, targets", CASES, ids=[c[0] for c in CASES])
def test_gradient_dtype_and_inputs_unchanged(name, cls, scores, targets, dtype):
    s = scores.astype(dtype)
    t = np.array(targets)
    s_before, t_before = s.copy(), t.copy()
    loss = cls()
    value = loss.forward(s, t)
    assert isinstance(value, float) and np.isfinite(value)
    grad = loss.backward()
    assert grad.dtype == dtype and grad.shape == s.shape
    np.testing.assert_array_equal(s, s_before)
    np.testing.assert_array_equal(t, t_before)


def test_softmax_cross_entropy_by_hand():
    loss = SoftmaxWithLoss()
    scores = np.array([[0.0, np.log(3.0)], [0.0, 0.0]])
    value = loss.forward(scores, np.array([1, 0]))
    assert value == pytest.approx((-np.log(0.75) - np.log(0.5)) / 2)
    np.testing.assert_allclose(loss.backward(), [[0.125, -0.125], [-0.25, 0.25]])
    np.testing.assert_allclose(loss.backward(2.0), [[0.25, -0.25], [-0.5, 0.5]])


def test_softmax_cross_entropy_is_stable_for_huge_scores():
    loss = SoftmaxWithLoss()
    scores = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        right = loss.forward(scores, np.array([0, 1]))
        grad = loss.backward()
        wrong = loss.forward(scores, np.array([1, 0]))
    assert right == 0.0
    assert wrong == pytest.approx(2e4)  # exact, no log(0) = inf and no 1e-7 floor
    assert np.isfinite(grad).all()


def test_labels_and_onehot_give_the_same_loss_and_gradient():
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a.forward(SCORES, LABELS) == pytest.approx(b.forward(SCORES, ONEHOT), rel=1e-14)
    np.testing.assert_allclose(a.backward(), b.backward(), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.uint64, np.int64])
def test_softmax_labels_of_any_integer_dtype_pick_their_targets(dtype):
    # 300 rows of 10 classes: label * N passes 255 and 32767, where a narrow
    # integer type would wrap and pick the wrong entries.
    rng = np.random.default_rng(5)
    scores = rng.standard_normal((300, 10))
    labels = rng.integers(0, 10, 300)
    loss = SoftmaxWithLoss()
    value = loss.forward(scores, labels.astype(dtype))
    grad = loss.backward()
    probs = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    rows = np.arange(300)
    assert value == pytest.approx(-np.log(probs[rows, labels]).mean(), rel=1e-12)
    expected = probs.copy()
    expected[rows, labels] -= 1
    np.testing.assert_allclose(grad, expected / 300, rtol=1e-12, atol=1e-15)


def test_mse_scaling_is_half_sum_over_outputs_mean_over_batch():
    y = np.array([[1.0, 2.0], [3.0, 5.0]])
    t = np.array([[0.0, 2.0], [1.0, 1.0]])
    loss = MeanSquaredError()
    assert loss.forward(y, t) == pytest.approx(0.5 * (1 + 0 + 4 + 16) / 2)
    np.testing.assert_allclose(loss.backward(), (y - t) / 2)


def test_softmax_probs_view_and_fresh_gradient():
    scores = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    loss = SoftmaxWithLoss()
    assert loss.probs is None
    loss.forward(scores, np.array([2, 0], dtype=np.uint8))
    probs = loss.probs
    assert probs.shape == (2, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert not probs.flags.writeable
    dx = loss.backward()
    np.testing.assert_allclose(dx, (probs - np.eye(3)[[2, 0]]) / 2, rtol=1e-6)
    dx[...] = 7  # the gradient is the caller's: writing it changes nothing kept
    np.testing.assert_allclose(loss.backward(), (probs - np.eye(3)[[2, 0]]) / 2, rtol=1e-6)


def test_sigmoid_with_loss_by_hand_and_stable():
    loss = SigmoidWithLoss()
    assert loss.forward(np.array([0.0, 0.0]), np.array([1, 0])) == pytest.approx(np.log(2))
    np.testing.assert_allclose(loss.backward(), [-0.25, 0.25])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        assert loss.forward(np.array([1000.0, -1000.0]), np.array([0, 1])) == pytest.approx(1000.0)
        assert loss.forward(np.array([1000.0, -1000.0]), np.array([1, 0])) == 0.0


@pytest.mark.parametrize("targets, error, match", [
    (np.array([0, 1, 4]), ValueError, r"expected labels in \[0, 4\) for 4 classes, got 4"),
    (np.array([0, -1, 2]), ValueError, r"expected labels in \[0, 4\).*got -1"),
    (np.array([0, -128, 2], dtype=np.int8), ValueError, r"expected labels in \[0, 4\).*got -128"),
    (np.array([0, 255, 2], dtype=np.uint8), ValueError, r"expected labels in \[0, 4\).*got 255"),
    (np.array([0, -1, 2], dtype=np.int32)[::-1], ValueError, r"expected labels in \[0, 4\).*got -1"),
    (np.array([0, 1]), ValueError, "expected 3 targets for 3 scores, got 2"),
    (np.eye(5)[[0, 1, 2]], ValueError, r"expected one-hot targets of shape \(3, 4\), got rows of width 5"),
    (np.eye(4)[[0, 1]], ValueError, "expected 3 target rows for 3 scores, got 2"),
    (np.full((3, 4), 0.5), ValueError, "sum to 1"),
    (np.array([0.5, 1, 2]), TypeError, "expected integer class labels"),
    (np.zeros((3, 4, 1)), ValueError, "got shape"),
])
def test_softmax_target_errors(targets, error, match):
    with pytest.raises(error, match=match):
        SoftmaxWithLoss().forward(np.zeros((3, 4)), targets)


def test_score_errors_and_backward_before_forward():
    with pytest.raises(ValueError, match=r"expected scores of shape \(N, C\) with N >= 1, got \(4,\)"):
        SoftmaxWithLoss().forward(np.zeros(4), np.zeros(4, dtype=int))
    with pytest.raises(TypeError, match="expected float32 or float64 scores, got int64"):
        SoftmaxWithLoss().forward(np.zeros((2, 3), dtype=np.int64), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match=r"expected targets of shape \(2, 3\)"):
        MeanSquaredError().forward(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"expected targets in \[0, 1\]"):
        SigmoidWithLoss().forward(np.zeros(2), np.array([0, 2]))
    for cls in (SoftmaxWithLoss, MeanSquaredError, SigmoidWithLoss):
        with pytest.raises(RuntimeError, match=f"{cls.__name__}.backward called before forward"):
            cls().backward()
    loss = SoftmaxWithLoss()
    loss.forward(np.zeros((2, 3)), np.array([0, 1]))
    with pytest.raises(ValueError, match="expected dout as a finite number"):
        loss.backward(np.nan)
