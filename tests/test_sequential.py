"""Sequential: chaining, modes, predict, summary, containers; and the whole-network check."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from layers import Affine, Layer, ReLU, Sigmoid
from losses import SoftmaxWithLoss
from nn import Sequential, gradcheck


def small_model(dtype=np.float32) -> Sequential:
    return Sequential([Affine(4, 5, rng=0, dtype=dtype), ReLU(), Affine(5, 3, rng=1, dtype=dtype)])


def test_forward_and_backward_chain_the_layers():
    model = small_model(np.float64)
    x = np.random.default_rng(0).standard_normal((6, 4))
    a, r, b = model.layers
    np.testing.assert_array_equal(model.forward(x), b.forward(r.forward(a.forward(x))))
    dout = np.ones((6, 3))
    dx = model.backward(dout)
    np.testing.assert_allclose(dx, a.backward(r.backward(b.backward(dout))))


def test_backward_can_skip_the_data_gradient():
    model = small_model()
    model.forward(np.ones((2, 4), dtype=np.float32))
    assert model.backward(np.ones((2, 3), dtype=np.float32), input_grad=False) is None
    assert all(p.grad.any() for p in model.parameters() if p.name == "W")


def test_parameters_in_order_and_zero_grad():
    model = small_model()
    assert model.parameters() == [model[0].W, model[0].b, model[2].W, model[2].b]
    assert [n for n, _ in model.named_parameters()] == ["0.W", "0.b", "2.W", "2.b"]
    assert model.num_parameters() == 4 * 5 + 5 + 5 * 3 + 3
    model.forward(np.ones((2, 4), dtype=np.float32))
    model.backward(np.ones((2, 3), dtype=np.float32))
    model.zero_grad()
    assert not any(p.grad.any() for p in model.parameters())


def test_train_and_eval_reach_every_layer():
    model = small_model()
    assert model.eval() is model and not model.training
    assert not any(layer.training for layer in model)
    model.train()
    assert all(layer.training for layer in model)


def test_predict_returns_class_indices_in_batches_and_restores_mode():
    model = small_model(np.float64)
    x = np.random.default_rng(0).standard_normal((10, 4))
    expected = model.forward(x).argmax(axis=1)
    model.train()
    np.testing.assert_array_equal(model.predict(x, batch_size=3), expected)
    assert model.training
    binary = Sequential([Affine(4, 1, rng=0, dtype=np.float64)])
    np.testing.assert_array_equal(binary.predict(x), (binary.forward(x)[:, 0] > 0).astype(int))


def test_indexing_len_iteration_and_repr():
    model = small_model()
    assert len(model) == 3 and isinstance(model[1], ReLU)
    assert isinstance(model[:2], Sequential) and len(model[:2]) == 2
    assert list(model) == model.layers
    text = repr(model)
    assert "(0): Affine(4 -> 5)" in text and "(1): ReLU()" in text
    assert Sequential(Affine(2, 2), ReLU()).layers[1].__class__ is ReLU  # separate arguments
    with pytest.raises(TypeError, match="expected Layer objects, got str at position 1"):
        Sequential([Affine(2, 2), "relu"])


def test_summary_lists_shapes_and_counts():
    model = Sequential([Affine(784, 100, rng=0), ReLU(), Affine(100, 10, rng=1)])
    text = model.summary()
    assert "(N, 100)" in text and "(N, 10)" in text
    assert "78,500" in text and "1,010" in text
    assert "Total parameters: 79,510 (float32" in text


def test_astype_converts_everything():
    model = small_model().astype(np.float64)
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model.forward(np.ones((1, 4))).dtype == np.float64


def test_sequential_is_registered_for_checkpoints():
    assert Layer.registry["Sequential"] is Sequential
    assert small_model().config()["layers"][0] == {
        "class": "Affine", "config": {"in_features": 4, "out_features": 5, "init": "he",
                                      "dtype": "float32"}}


def read_idx(path):
    """Just enough of an IDX reader for this test (the datasets package is tested on its own)."""
    data = gzip.open(path).read()
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_whole_network_gradient_check_on_real_mnist(mnist_dir):
    images = read_idx(mnist_dir / "train-images-idx3-ubyte.gz")[:3].reshape(3, 784) / 255.0
    labels = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")[:3].astype(np.int64)
    model = Sequential([Affine(784, 50, rng=0), ReLU(), Affine(50, 10, rng=1)])
    # Moving one weight, bias or pixel by h moves a hidden pre-activation by at most
    # h * max(1, |x|, |W|) = h here; no unit may sit that close to ReLU's kink.
    hidden = images @ model[0].W.data.astype(np.float64) + model[0].b.data
    assert np.abs(hidden).min() > 2e-4 and np.abs(model[0].W.data).max() < 1

    report = gradcheck(model, images, labels, loss=SoftmaxWithLoss(), h=1e-4)
    print(report)
    assert report.passed, str(report)
    assert [e.name for e in report.entries] == ["x", "0.W", "0.b", "2.W", "2.b"]
    for entry in report.entries:
        assert entry.checked == np.prod(entry.shape)
        assert entry.max_abs < 1e-9, str(report)
        assert entry.norm_rel < 1e-8, str(report)


def test_model_is_left_untouched_by_gradcheck():
    model = Sequential([Affine(3, 2, rng=0), Sigmoid()])
    before = [p.data.copy() for p in model.parameters()]
    gradcheck(model, np.ones((2, 3)))
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    for p, b in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
        assert not p.grad.any()


# -- the model's door: the data users have -----------------------------------

@pytest.mark.parametrize("data_dtype", [bool, np.uint8, np.int64, np.float16, np.float64])
def test_predict_and_scores_convert_real_input_to_the_models_dtype(data_dtype):
    from nn import mlp
    model = mlp(4, [5], 3, seed=0)
    x = (np.arange(24).reshape(6, 4) % 2).astype(data_dtype)
    scores = model.scores(x)
    assert scores.dtype == np.float32 and scores.shape == (6, 3)
    np.testing.assert_array_equal(scores, model.forward(x.astype(np.float32)))
    np.testing.assert_array_equal(model.predict(x), scores.argmax(axis=1))
    np.testing.assert_array_equal(model.predict(x.tolist()), scores.argmax(axis=1))


def test_a_float64_batch_through_a_float32_model_gives_float32_scores():
    from nn import mlp
    model = mlp(784, [50], 10, seed=0)
    x = np.random.default_rng(0).random((7, 784))  # float64
    assert model.scores(x).dtype == np.float32
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    with pytest.raises(TypeError, match=r"expected float32 input"):
        model.forward(x)  # a bare forward stays strict


@pytest.mark.parametrize("bad, error, match", [
    (np.array([[1 + 2j, 0, 0, 0]]), TypeError, "complex"),
    (np.array([["1", "2", "3", "4"]]), TypeError, "real numbers"),
    (np.array([[np.nan, 0, 0, 0], [np.inf, 1, 1, 1]]), ValueError, "1 NaN, 1 infinite"),
    ([[1, 2], [3]], TypeError, "array of numbers"),
])
def test_predict_refuses_what_is_not_real_numbers(bad, error, match):
    from nn import mlp
    with pytest.raises(error, match=match):
        mlp(4, [5], 3, seed=0).predict(bad)
