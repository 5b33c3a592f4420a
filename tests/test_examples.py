"""The course demos: their claims (not their pictures), and that each runs and writes its PNG.

The demos are scripts in ``examples/``; they are imported from there with the
folder on ``sys.path`` (as when they run as ``python examples/<demo>.py``), so
these tests check the very functions the demos use. ``best_of_restarts`` is
tested here too, beside the demo built on it.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from nn.restarts import RestartResult, Restarts, best_of_restarts

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

DEMOS = ["perceptron", "xor", "vanishing_gradients", "gd_regimes", "random_restarts",
         "sensitivity", "shopping_graph"]


def demo(name: str):
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory, mnist_dir):
    """Each demo's ``main`` run once in --quick mode; its return value and output folder."""
    out = tmp_path_factory.mktemp("figures")
    return {name: demo(name).main(["--quick", "--out", out, "--data-dir", mnist_dir])
            for name in DEMOS}, out


@pytest.mark.parametrize("name", DEMOS)
def test_demo_runs_and_writes_its_png(quick_runs, name):
    _, out = quick_runs
    png = out / f"{name}.png"
    assert png.is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 5_000


# -- 1. the perceptron ---------------------------------------------------------
def test_perceptron_demo_claims(quick_runs):
    results = quick_runs[0]["perceptron"]
    for gate in ("AND", "OR", "NAND"):
        for mode in ("stochastic", "batch"):
            _, record, accuracy = results[gate, mode]
            assert record.converged and accuracy == 1.0, (gate, mode)
    for mode in ("stochastic", "batch"):
        _, record, accuracy = results["XOR", mode]
        assert not record.converged and record.epochs == 20  # --quick's epoch limit
        assert accuracy <= 0.75


# -- 2. XOR with a hidden layer ------------------------------------------------
def test_xor_mlp_reaches_100_percent(quick_runs):
    xor = demo("xor")
    from losses import SigmoidWithLoss
    import nn

    model, history = quick_runs[0]["xor"]
    assert nn.evaluate(model, SigmoidWithLoss(), xor.X, xor.T)[1] == 1.0
    model, history = xor.train_xor()  # the full run's settings
    loss, accuracy = nn.evaluate(model, SigmoidWithLoss(), xor.X, xor.T)
    assert accuracy == 1.0 and loss < 0.05
    assert history.updates == 1000  # full batch: one update per epoch


# -- 3. vanishing gradients ----------------------------------------------------
def test_deep_sigmoid_first_layer_gets_orders_of_magnitude_less_gradient(mnist_dir):
    vg = demo("vanishing_gradients")
    from datasets import load_mnist
    from losses import SoftmaxWithLoss

    (x, t), _ = load_mnist(data_dir=mnist_dir)
    x, t = x[:200], t[:200]
    sigmoid = vg.layer_gradient_norms(vg.deep_mlp("sigmoid", "xavier"), SoftmaxWithLoss(), x, t)
    sigmoid_he = vg.layer_gradient_norms(vg.deep_mlp("sigmoid", "he"), SoftmaxWithLoss(), x, t)
    relu = vg.layer_gradient_norms(vg.deep_mlp("relu", "he"), SoftmaxWithLoss(), x, t)
    assert len(sigmoid) == len(relu) == 10
    # relative to its own last layer, the sigmoid network's first layer is >= 100x worse off,
    # with its recommended init and with ReLU's
    for s in (sigmoid, sigmoid_he):
        assert vg.first_last_ratio(s) * 100 <= vg.first_last_ratio(relu)
    # and in absolute terms too
    assert sigmoid[0] * 100 <= relu[0]
    # the decay is steady: every layer gets less than the one above it
    assert np.all(np.diff(sigmoid) > 0)


def test_vanishing_gradients_demo_output(quick_runs):
    results = quick_runs[0]["vanishing_gradients"]
    vg = demo("vanishing_gradients")
    for when in ("before", "after"):
        assert (vg.first_last_ratio(results["sigmoid", "xavier"][when]) * 100
                <= vg.first_last_ratio(results["relu", "he"][when]))


# -- 4. full-batch vs mini-batch vs stochastic ---------------------------------
def test_gd_regimes_use_the_trainers_three_regimes(quick_runs):
    runs = quick_runs[0]["gd_regimes"]
    n_train = 1000  # --quick
    by_batch = {run.regime.batch_size: run for run in runs}
    assert set(by_batch) == {None, 100, 1}
    for batch_size, run in by_batch.items():
        epochs = len(run.history)
        per_epoch = 1 if batch_size is None else math.ceil(n_train / batch_size)
        assert run.history.updates == epochs * per_epoch
        assert run.test_loss < run.initial_loss  # every regime learned something
        assert len(run.history.time) == epochs and run.seconds > 0


# -- 5. random restarts ----------------------------------------------------------
def test_best_of_restarts_returns_the_best_and_every_result():
    built = []

    def build(seed):
        built.append(seed)
        return {"seed": seed}

    def train(model, seed):
        assert model["seed"] == seed
        return {"loss": (seed - 3) ** 2 + 0.5, "accuracy": 1 / (1 + abs(seed - 3))}

    restarts = best_of_restarts(build, train, n=6)
    assert isinstance(restarts, Restarts)
    assert built == [0, 1, 2, 3, 4, 5]
    model, results = restarts[:2]
    assert model == {"seed": 3}
    assert [r.seed for r in results] == [0, 1, 2, 3, 4, 5]
    assert [r.score for r in results] == [9.5, 4.5, 1.5, 0.5, 1.5, 4.5]
    assert all(isinstance(r, RestartResult) and r.model is None for r in results)
    assert restarts.best.seed == 3 and restarts.best_index == 3
    assert results[0].metrics == {"loss": 9.5, "accuracy": 0.25}
    np.testing.assert_array_equal(restarts.scores, [9.5, 4.5, 1.5, 0.5, 1.5, 4.5])

    # rank by accuracy instead, higher is better; given seeds; keep every model
    restarts = best_of_restarts(build, train, seeds=[10, 4, 7], key="accuracy", minimize=False,
                                keep_models=True)
    assert restarts.model == {"seed": 4} and restarts.seeds == [10, 4, 7]
    assert [r.model for r in restarts.results] == [{"seed": 10}, {"seed": 4}, {"seed": 7}]


def test_best_of_restarts_ties_nans_and_errors():
    seen = []
    scores = {0: float("nan"), 1: 2.0, 2: 2.0, 3: float("nan")}
    restarts = best_of_restarts(lambda s: s, lambda m, s: scores[s], n=4, on_result=seen.append)
    assert restarts.model == 1  # NaN never wins; ties go to the earlier seed
    assert [r.seed for r in seen] == [0, 1, 2, 3]

    with pytest.raises(ValueError, match="NaN"):
        best_of_restarts(lambda s: s, lambda m, s: float("nan"), n=2)
    with pytest.raises(ValueError, match="give the number of restarts"):
        best_of_restarts(lambda s: s, lambda m, s: 0.0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        best_of_restarts(lambda s: s, lambda m, s: 0.0, n=0)
    with pytest.raises(ValueError, match="n=3 but 2 seeds"):
        best_of_restarts(lambda s: s, lambda m, s: 0.0, n=3, seeds=[1, 2])
    with pytest.raises(ValueError, match="without the score key 'loss'"):
        best_of_restarts(lambda s: s, lambda m, s: {"acc": 1.0}, n=1)
    with pytest.raises(ValueError, match="a number or a mapping"):
        best_of_restarts(lambda s: s, lambda m, s: "good", n=1)


def test_random_restarts_demo_keeps_the_best_xor_network(quick_runs):
    rr = demo("random_restarts")
    restarts = quick_runs[0]["random_restarts"]
    assert len(restarts.results) == 8  # --quick
    assert restarts.best.score == min(r.score for r in restarts.results)
    assert restarts.best.metrics["accuracy"] == 1.0
    # the kept model is the trained best one, not a fresh build
    from losses import SigmoidWithLoss
    import nn
    loss, accuracy = nn.evaluate(restarts.model, SigmoidWithLoss(), rr.X, rr.T)
    assert loss == pytest.approx(restarts.best.score) and accuracy == 1.0
    # non-convexity: identical settings, yet not every seed ends at the same loss
    assert max(restarts.scores) > 10 * min(restarts.scores)


# -- 6. sensitivity of the cost to each weight -----------------------------------
def test_sensitivity_gradient_and_ranking(quick_runs):
    out = quick_runs[0]["sensitivity"]
    grad, top = out["grad"], out["top"]
    assert grad.shape == (784, 16)
    assert abs(top[0].grad) == np.abs(grad).max()
    assert [abs(s.grad) for s in top] == sorted((abs(s.grad) for s in top), reverse=True)
    for s in top:
        assert grad[s.row * 28 + s.col, s.unit] == s.grad
    # nudging two weights changes the cost in the ratio of their gradients
    d_top, d_median = out["nudges"]
    assert abs(d_top / d_median) == pytest.approx(out["ratio"], rel=0.02)
    assert out["ratio"] > 1


def test_sensitivity_first_layer_gradient_is_an_outer_product(mnist_dir):
    sens = demo("sensitivity")
    from datasets import load_mnist

    (x, t), _ = load_mnist(data_dir=mnist_dir)
    model = sens.train_network(x[:500], t[:500], epochs=1)
    grad, delta, cost = sens.first_layer_gradient(model, x[0], int(t[0]))
    np.testing.assert_allclose(grad, np.outer(x[0], delta), rtol=1e-5, atol=1e-9)
    assert cost > 0 and all(p.grad.max() == 0 for p in model.parameters())  # grads cleared


# -- 7. the shopping graph -------------------------------------------------------
def test_shopping_graph_forward_and_backward_values():
    values, grads = demo("shopping_graph").shopping_graph()
    assert (values["apple_price"], values["orange_price"], values["all_price"]) == (200, 450, 650)
    assert values["price"] == pytest.approx(715, rel=1e-15)
    expected = {"apple": 2.2, "apple_num": 110, "orange": 3.3, "orange_num": 165, "tax": 650,
                "all_price": 1.1, "apple_price": 1.1, "orange_price": 1.1, "price": 1}
    for name, value in expected.items():
        assert grads[name] == pytest.approx(value, rel=1e-15), name
    assert isinstance(values["price"], float) and isinstance(grads["tax"], float)


def test_shopping_graph_demo_prints_the_figures(capsys, tmp_path):
    demo("shopping_graph").main(["--out", tmp_path])
    printed = capsys.readouterr().out
    for line in ("price        = 715", "d apple        = 2.2", "d apple_num    = 110",
                 "d orange       = 3.3", "d orange_num   = 165", "d tax          = 650"):
        assert line in printed
