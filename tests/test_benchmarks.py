"""The benchmarks' reference implementations compute what they claim to."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from throughput import Ours, TunedNumPy, make_data  # noqa: E402


@pytest.mark.parametrize("sizes, activation, batch", [([784, 50, 10], "sigmoid", 100),
                                                      ([784, 100, 100, 10], "relu", 64)])
def test_the_tuned_numpy_loop_trains_exactly_as_the_trainer_does(sizes, activation, batch):
    # The reference loop is only a fair ceiling if it is the same training:
    # same weights, batches, loss and SGD step, to the last bit.
    x, t = make_data(1000)  # 1000 is not a multiple of 64: a short last batch too
    ours = Ours(sizes, activation, batch)
    tuned = TunedNumPy(ours, activation, batch)
    for _ in range(2):
        ours.run_epoch(x, t)
        tuned.run_epoch(x, t)
    mine = [p.data for p in ours.model.parameters()]
    theirs = [a for pair in zip(tuned.weights, tuned.biases) for a in pair]
    assert len(mine) == len(theirs)
    for a, b in zip(mine, theirs):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert tuned.loss_sum > 0


@pytest.mark.parametrize("make", [lambda: __import__("nn").mlp(784, [50], 10, activation_name="sigmoid", seed=0),
                                  lambda: __import__("nn").simple_convnet(seed=0)],
                         ids=["mlp", "simple_convnet"])
def test_the_pytorch_mirror_is_the_same_network(make):
    torch = pytest.importorskip("torch")
    from torch_mirror import mirror
    model = make()
    x = np.random.default_rng(0).random((4, *((784,) if len(model.layers) == 3 else (1, 28, 28))),
                                        dtype=np.float32)
    theirs = mirror(model)
    with torch.no_grad():
        out = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, model.forward(x), rtol=1e-4, atol=1e-5)
