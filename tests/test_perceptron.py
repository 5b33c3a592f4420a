"""nn.Perceptron: the learning rule by hand, the gates it learns, XOR it cannot, its errors."""

from __future__ import annotations

import numpy as np
import pytest

from nn.perceptron import Perceptron, PerceptronRecord

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {"AND": [-1, -1, -1, 1], "OR": [-1, 1, 1, 1], "NAND": [1, 1, 1, -1]}
XOR = np.array([-1, 1, 1, -1])


@pytest.mark.parametrize("mode", ["stochastic", "batch"])
@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learns_separable_gates(gate, mode, seed):
    p = Perceptron(2, lr=0.1, mode=mode, max_epochs=100, init=0.5, rng=seed)
    record = p.fit(X, np.array(GATES[gate]))
    assert record.converged
    assert record.errors[-1] == 0 and len(record.errors) == record.epochs < 100
    assert p.accuracy(X, np.array(GATES[gate])) == 1.0
    np.testing.assert_array_equal(p.predict(X), GATES[gate])


@pytest.mark.parametrize("mode", ["stochastic", "batch"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_stops_on_xor_at_the_epoch_limit(mode, seed):
    p = Perceptron(2, lr=0.1, mode=mode, max_epochs=50, init=0.5, rng=seed)
    record = p.fit(X, XOR)
    assert not record.converged
    assert record.epochs == 50 and len(record.errors) == 50
    assert min(record.errors) > 0  # no epoch was error-free: no line separates XOR
    assert p.accuracy(X, XOR) <= 0.75


def test_stochastic_rule_by_hand():
    # w0 = 0; step(0) = -1. Sample 1: y=-1, t=+1 -> w += 0.5*2*[1,0,1] = [1,0,1].
    # Sample 2: w.[0,1,1] = 1 -> y=+1, t=-1 -> w += 0.5*(-2)*[0,1,1] = [1,-1,0].
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    t = np.array([1, -1])
    p = Perceptron(2, lr=0.5, init=0.0, shuffle=False, max_epochs=1, dtype=np.float64)
    np.testing.assert_array_equal(p.W.data, [0, 0, 0])
    record = p.fit(x, t)
    np.testing.assert_array_equal(p.W.data, [1.0, -1.0, 0.0])
    assert (record.errors, record.converged, record.epochs, record.updates) == ([2], False, 1, 2)
    record = p.fit(x, t)  # both right now: an error-free epoch, nothing changes
    np.testing.assert_array_equal(p.W.data, [1.0, -1.0, 0.0])
    assert (record.errors, record.converged, record.updates) == ([0], True, 0)


def test_batch_rule_sums_over_the_misclassified_set():
    # w0 = 0: every output is -1, so samples 1 and 2 (t=+1) are wrong and sample 3 (t=-1) right.
    # w += 0.25 * (2*[1,0,1] + 2*[0,1,1]) = [0.5, 0.5, 1].
    # Then outputs: 1.5 -> +1, 1.5 -> +1, 2 -> +1 (wrong): w += 0.25*(-2)*[1,1,1] = [0, 0, 0.5].
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = np.array([1, 1, -1])
    p = Perceptron(2, lr=0.25, mode="batch", init=0.0, max_epochs=1, dtype=np.float64)
    assert p.fit(x, t).errors == [2]
    np.testing.assert_array_equal(p.W.data, [0.5, 0.5, 1.0])
    assert p.fit(x, t).errors == [1]
    np.testing.assert_array_equal(p.W.data, [0.0, 0.0, 0.5])
    assert p.weights.tolist() == [0.0, 0.0] and p.bias == 0.5


def test_bias_is_folded_into_the_weights():
    p = Perceptron(3, init=1.0, rng=0, dtype=np.float64)
    assert p.W.shape == (4,)
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(p.augment(x), [[1, 2, 3, 1]])
    np.testing.assert_allclose(p.decision_function(x), x @ p.weights + p.bias)
    assert p.forward(x)[0] == (1.0 if p.decision_function(x)[0] > 0 else -1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["stochastic", "batch"])
def test_dtype_is_preserved(dtype, mode):
    p = Perceptron(2, mode=mode, rng=0, dtype=dtype)
    p.fit(X.astype(dtype), np.array(GATES["AND"]))
    assert p.W.data.dtype == dtype
    assert p.predict(X.astype(dtype)).dtype == dtype
    assert p.decision_function(X.astype(dtype)).dtype == dtype


@pytest.mark.parametrize("gate", sorted(GATES))
@pytest.mark.parametrize("data_dtype", [None, bool, np.uint8, np.int32, np.float16, np.float64])
def test_learns_the_gates_from_the_data_users_have(gate, data_dtype):
    # The course's truth table as people type it: np.array([[0, 0], ...]) is int64.
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=data_dtype)
    p = Perceptron(2, lr=0.1, init=0.5, rng=0)
    assert p.fit(x, np.array(GATES[gate])).converged
    np.testing.assert_array_equal(p.predict(x), GATES[gate])
    assert p.predict(x).dtype == p.W.data.dtype == np.float32  # converted, weights untouched
    assert p.accuracy(x.tolist(), GATES[gate]) == 1.0


@pytest.mark.parametrize("bad, error, match", [
    (np.array([[0, 1j], [1, 0]]), TypeError, "complex"),
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "real numbers"),
    (np.array([[0.0, np.nan], [1.0, 0.0]]), ValueError, "1 NaN"),
    (np.array([[1e300, 0.0], [1.0, 0.0]]), ValueError, "infinite"),
])
def test_input_that_is_not_real_numbers_is_refused(bad, error, match):
    with pytest.raises(error, match=match):
        Perceptron(2).fit(bad, np.array([1, -1]))


def test_seed_makes_runs_reproducible():
    a = Perceptron(2, init=0.5, rng=7)
    b = Perceptron(2, init=0.5, rng=7)
    ra, rb = a.fit(X, XOR), b.fit(X, XOR)
    assert ra == rb
    np.testing.assert_array_equal(a.W.data, b.W.data)


@pytest.mark.parametrize("targets", [[0, 0, 0, 1], [-1, -1, 2, 1], [0.5, 1, 1, 1]])
def test_targets_must_be_plus_minus_one(targets):
    with pytest.raises(ValueError, match=r"targets -1 or \+1.*t = 2 \* t - 1"):
        Perceptron(2).fit(X, np.array(targets))


def test_wrong_shapes_raise():
    p = Perceptron(2)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2\), got \(4, 3\)"):
        p.fit(np.zeros((4, 3), dtype=np.float32), np.ones(4))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 2\), got \(2,\)"):
        p.predict(np.zeros(2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"targets of shape \(4,\) for 4 samples, got \(3,\)"):
        p.fit(X, np.ones(3))
    # a column of targets is accepted
    assert p.fit(X, np.array(GATES["OR"]).reshape(4, 1)).converged


@pytest.mark.parametrize("lr", [0, -0.1, float("nan")])
def test_learning_rate_must_be_positive(lr):
    with pytest.raises(ValueError, match="learning rate must be positive"):
        Perceptron(2, lr=lr)


def test_other_hyperparameters_are_checked():
    with pytest.raises(ValueError, match='mode must be "stochastic" or "batch"'):
        Perceptron(2, mode="online")
    with pytest.raises(ValueError, match="max_epochs must be a positive integer"):
        Perceptron(2, max_epochs=0)
    with pytest.raises(ValueError, match="init must be a non-negative"):
        Perceptron(2, init=-1.0)
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        Perceptron(0)


def test_backward_explains_there_is_no_gradient():
    p = Perceptron(2)
    p.forward(X)
    with pytest.raises(RuntimeError, match="Perceptron.fit"):
        p.backward(np.ones(4, dtype=np.float32))


def test_is_a_layer_with_one_parameter():
    p = Perceptron(2, rng=0)
    assert [q.name for q in p.parameters()] == ["W"]
    assert p.config()["mode"] == "stochastic"
    assert isinstance(p.fit(X, np.array(GATES["AND"])), PerceptronRecord)
