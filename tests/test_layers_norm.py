"""BatchNorm and Dropout: gradients in both modes, statistics, masks, dtypes, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from helpers import (assert_gradients_match, away_from_zero)
from layers import AvgPooling, BatchNorm, Convolution, Dropout, Flatten, Layer, MaxPooling, ReLU
from layer_cases import batchnorm
from nn import Sequential, gradcheck, load_model


def test_registered():
    assert Layer.registry["BatchNorm"] is BatchNorm and Layer.registry["Dropout"] is Dropout


# -- BatchNorm -------------------------------------------------------------------

def test_batchnorm_starts_with_unit_running_variance():
    layer = BatchNorm(4)
    np.testing.assert_array_equal(layer.running_mean, np.zeros(4))
    np.testing.assert_array_equal(layer.running_var, np.ones(4))
    np.testing.assert_array_equal(layer.gamma.data, np.ones(4))
    np.testing.assert_array_equal(layer.beta.data, np.zeros(4))
    assert layer.parameters() == [layer.gamma, layer.beta]
    buffers = layer.buffers()
    assert set(buffers) == {"running_mean", "running_var"}
    assert buffers["running_var"] is layer.running_var
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(layer.eval().forward(x), x, rtol=1e-4)   # identity up to eps


@pytest.mark.parametrize("shape, axes", [((64, 3), (0,)), ((8, 3, 5, 4), (0, 2, 3))])
def test_batchnorm_train_output_is_standardised(shape, axes):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) * 5 + 3).astype(np.float32)
    out = BatchNorm(3).forward(x)
    np.testing.assert_allclose(out.mean(axis=axes), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=axes), 1, atol=1e-3)


def test_batchnorm_running_statistics_and_eval_by_hand():
    layer = BatchNorm(2, momentum=0.5, eps=0.0001, dtype=np.float64)
    first = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 16.0]])    # mean (3, 12), unbiased var (4, 12)
    second = np.array([[0.0, 0.0], [2.0, 6.0]])                  # mean (1, 3), unbiased var (2, 18)
    layer.forward(first)
    np.testing.assert_allclose(layer.running_mean, [1.5, 6.0])   # 0.5*0 + 0.5*mean
    np.testing.assert_allclose(layer.running_var, [2.5, 6.5])    # 0.5*1 + 0.5*var
    layer.forward(second)
    np.testing.assert_allclose(layer.running_mean, [1.25, 4.5])
    np.testing.assert_allclose(layer.running_var, [2.25, 12.25])
    layer.gamma.data[...] = [2.0, 1.0]
    layer.beta.data[...] = [0.0, 1.0]
    layer.eval()
    x = np.array([[1.25, 4.5], [4.25, 8.0]])
    expected = np.array([[0.0, 1.0], [2 * 3 / np.sqrt(2.2501), 1 + 3.5 / np.sqrt(12.2501)]])
    np.testing.assert_allclose(layer.forward(x), expected)
    np.testing.assert_allclose(layer.running_mean, [1.25, 4.5])  # eval does not update
    # eval backward is that of the fixed affine map: dx = dout * gamma / sqrt(running_var + eps)
    np.testing.assert_allclose(layer.backward(np.ones((2, 2))),
                               np.tile([2 / np.sqrt(2.2501), 1 / np.sqrt(12.2501)], (2, 1)))


def test_batchnorm_4d_statistics_are_per_channel():
    layer = BatchNorm(2, momentum=0.0, dtype=np.float64)
    x = np.zeros((2, 2, 2, 2))
    x[:, 0] = np.arange(8.0).reshape(2, 2, 2)
    x[:, 1] = 7.0
    layer.forward(x)
    np.testing.assert_allclose(layer.running_mean, [3.5, 7.0])
    np.testing.assert_allclose(layer.running_var, [np.var(np.arange(8.0), ddof=1), 0.0])


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batchnorm_refuses_a_training_batch_of_one(shape):
    layer = BatchNorm(3)
    x = np.ones(shape, dtype=np.float32)
    with pytest.raises(ValueError, match=r"BatchNorm\(3\): a training batch needs at least 2 values "
                                         r"per feature .*got input of shape .*call \.eval\(\)"):
        layer.forward(x)
    np.testing.assert_array_equal(layer.running_var, np.ones(3))   # nothing was updated
    assert layer.eval().forward(x).shape == shape                   # fine in eval mode


@pytest.mark.parametrize("bad", [np.nan, np.inf, 3e38])  # 3e38 squared overflows float32
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_a_non_finite_batch_leaves_the_running_statistics_as_they_were(shape, bad):
    layer = batchnorm(3, np.float32)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    x = away_from_zero(shape).astype(np.float32)
    x[1, 2] = bad
    with np.errstate(all="ignore"):
        out = layer.forward(x)
    if not np.isfinite(bad):  # the NaN shows in the output, for the trainer to report
        assert not np.isfinite(out).all()
    np.testing.assert_array_equal(layer.running_mean, mean)
    np.testing.assert_array_equal(layer.running_var, var)
    layer.forward(away_from_zero(shape).astype(np.float32))  # a finite batch updates them again
    assert not np.array_equal(layer.running_mean, mean)


def test_batchnorm_train_gradient_is_not_the_eval_gradient():
    # Guards against a backward that ignores how the batch statistics depend on x.
    layer = batchnorm(3)
    x = away_from_zero((4, 3))
    layer.forward(x)
    dx_train = layer.backward(np.eye(4, 3))
    layer.eval().forward(x)
    dx_eval = layer.backward(np.eye(4, 3))
    assert not np.allclose(dx_train, dx_eval)
    np.testing.assert_allclose(dx_train.sum(axis=0), 0, atol=1e-12)  # shifting x changes nothing


def test_batchnorm_skips_input_gradient_when_not_needed():
    layer = BatchNorm(3)
    layer.forward(away_from_zero((4, 3)).astype(np.float32))
    assert layer.backward(np.ones((4, 3), dtype=np.float32), input_grad=False) is None
    assert layer.gamma.grad.any() and layer.beta.grad.any()


def test_batchnorm_buffers_follow_astype_and_load():
    layer = BatchNorm(3)
    layer.forward(away_from_zero((4, 3)).astype(np.float32))
    saved = {k: v.copy() for k, v in layer.buffers().items()}
    layer.astype(np.float64)
    assert layer.running_mean.dtype == np.float64 and layer.running_var.dtype == np.float64
    assert layer.forward(away_from_zero((4, 3))).dtype == np.float64
    fresh = BatchNorm(3)
    fresh.load_buffers(saved)
    np.testing.assert_array_equal(fresh.running_var, saved["running_var"])
    model = Sequential([BatchNorm(2), BatchNorm(3)])
    assert set(model.buffers()) == {"0.running_mean", "0.running_var", "1.running_mean", "1.running_var"}


def test_batchnorm_errors():
    layer = BatchNorm(3)
    with pytest.raises(ValueError, match=r"BatchNorm\(3\): expected input of shape \(N, 3\) or \(N, 3, H, W\), got \(4, 5\)"):
        layer.forward(np.zeros((4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"got \(4, 3, 2\)"):
        layer.forward(np.zeros((4, 3, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="expected float32 input .*got float64"):
        layer.forward(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\], got 1.5"):
        BatchNorm(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a positive number, got 0"):
        BatchNorm(3, eps=0)
    with pytest.raises(ValueError, match="num_features must be a positive integer, got 0"):
        BatchNorm(0)
    layer.forward(np.ones((4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="expected dout of shape"):
        layer.backward(np.ones((5, 3), dtype=np.float32))


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 5, 2)], ids=["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_against_torch(shape):
    torch = pytest.importorskip("torch")
    ours = BatchNorm(4, momentum=0.8, eps=1e-3, dtype=np.float64)
    cls = torch.nn.BatchNorm1d if len(shape) == 2 else torch.nn.BatchNorm2d
    theirs = cls(4, momentum=1 - 0.8, eps=1e-3, dtype=torch.float64)   # PyTorch's momentum is our 1 - momentum
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    ours.gamma.data[...], ours.beta.data[...] = gamma, beta
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(gamma))
        theirs.bias.copy_(torch.tensor(beta))
    for step in range(3):
        x = rng.standard_normal(shape) * (step + 1) + step
        dout = rng.standard_normal(shape)
        ours.zero_grad()
        out = ours.forward(x)
        dx = ours.backward(dout)
        xt = torch.tensor(x, requires_grad=True)
        theirs.zero_grad()
        ot = theirs(xt)
        ot.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(ours.gamma.grad, theirs.weight.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.beta.grad, theirs.bias.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-12)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(ours.forward(x), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10)


# -- Dropout ---------------------------------------------------------------------

def test_dropout_gradient_with_a_frozen_mask():
    layer = Dropout(0.5, rng=0)
    x = away_from_zero((4, 6))
    layer.forward(x)
    assert_gradients_match(layer.freeze_mask(), x)
    assert layer.mask_frozen


def test_dropout_gradient_check_fails_without_freezing():
    # Each of gradcheck's forwards draws a new mask, so the check must not pass.
    layer = Dropout(0.5, rng=0)
    assert not gradcheck(layer, away_from_zero((4, 6))).passed


def test_dropout_frozen_mask_is_reused_and_released():
    layer = Dropout(0.5, rng=1)
    x = np.ones((50, 40), dtype=np.float32)
    first = layer.forward(x)
    layer.freeze_mask()
    np.testing.assert_array_equal(layer.forward(x), first)
    np.testing.assert_array_equal(layer.forward(x * 3), first * 3)
    copied = copy.deepcopy(layer)                       # what gradcheck does
    np.testing.assert_array_equal(copied.forward(x.astype(np.float64)), first)
    with pytest.raises(ValueError, match=r"the frozen mask has shape \(50, 40\), got input of shape \(2, 2\)"):
        layer.forward(np.ones((2, 2), dtype=np.float32))
    layer.unfreeze_mask()
    assert not layer.mask_frozen
    assert not np.array_equal(layer.forward(x), first)


def test_dropout_freeze_mask_with_explicit_keep():
    layer = Dropout(0.75, rng=0).freeze_mask(np.array([[True, False, True]]))
    out = layer.forward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(out, [[4.0, 0.0, 12.0]])
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[4.0, 0.0, 4.0]])
    with pytest.raises(TypeError, match=r"boolean NumPy \(or CuPy\) array"):
        Dropout(0.5).freeze_mask(np.array([1.0, 0.0]))
    with pytest.raises(RuntimeError, match=r"freeze_mask\(\) has no mask to keep yet"):
        Dropout(0.5).freeze_mask()


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_is_inverted_mean_preserved_in_training(p):
    layer = Dropout(p, rng=0)
    x = np.random.default_rng(1).uniform(0.5, 1.5, (20, 10)).astype(np.float32)
    draws = np.stack([layer.forward(x) for _ in range(2000)])
    kept = draws != 0
    assert abs(kept.mean() - (1 - p)) < 0.01
    np.testing.assert_allclose(draws[kept], np.broadcast_to(x / (1 - p), draws.shape)[kept], rtol=1e-6)
    np.testing.assert_allclose(draws.mean(axis=0), x, rtol=0.15)   # per unit, about 4 standard errors
    assert abs(draws.mean() / x.mean() - 1) < 0.01


def test_dropout_eval_is_exactly_the_identity():
    layer = Dropout(0.5, rng=0).eval()
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x and out.dtype == np.float32
    dout = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(dout), dout)


def test_dropout_backward_uses_the_forward_mask():
    layer = Dropout(0.5, rng=3)
    out = layer.forward(np.ones((4, 5)))
    dx = layer.backward(np.full((4, 5), 3.0))
    np.testing.assert_array_equal(dx, 3.0 * out)


def test_dropout_seeded_masks_are_reproducible():
    x = np.ones((8, 8), dtype=np.float32)
    np.testing.assert_array_equal(Dropout(0.3, rng=5).forward(x), Dropout(0.3, rng=5).forward(x))
    assert not np.array_equal(Dropout(0.3, rng=5).forward(x), Dropout(0.3, rng=6).forward(x))
    layer = Dropout(0.3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(layer.forward(x), Dropout(0.3, rng=5).forward(x))


def test_dropout_mask_keeps_the_input_dtype():
    layer = Dropout(0.3, rng=0)
    out = layer.forward(np.ones((4, 4), dtype=np.float32))
    assert out.dtype == np.float32 and layer.mask.dtype == np.float32
    with pytest.raises(TypeError, match="expected float32 dout .*got float64"):
        layer.backward(np.ones((4, 4)))


def test_dropout_zero_p_keeps_everything():
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(Dropout(0.0, rng=0).forward(x), x)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan"), "0.5", True, None])
def test_dropout_p_validation(p):
    with pytest.raises(ValueError, match=r"Dropout p must be a probability in \[0, 1\)"):
        Dropout(p)


def test_dropout_describe():
    assert repr(Dropout(0.25)) == "Dropout(p=0.25)"
    assert Dropout().config() == {"p": 0.5}


def test_checkpoint_keeps_running_statistics_and_rebuilds_every_new_layer(tmp_path):
    model = Sequential([Convolution(1, 3, (3, 2), stride=(1, 2), pad=1, rng=0), BatchNorm(3),
                        ReLU(), MaxPooling(2), AvgPooling(1), Flatten(), Dropout(0.3, rng=0)])
    x = np.random.default_rng(0).standard_normal((4, 1, 6, 6)).astype(np.float32)
    for _ in range(3):
        model.forward(x)                   # train mode: running statistics move
    model.eval()
    expected = model.forward(x)
    assert not np.allclose(model[1].running_var, 1)
    loaded = load_model(model.save(tmp_path / "cnn.npz"))
    assert [repr(layer) for layer in loaded] == [repr(layer) for layer in model]
    np.testing.assert_array_equal(loaded[1].running_mean, model[1].running_mean)
    np.testing.assert_array_equal(loaded[1].running_var, model[1].running_var)
    np.testing.assert_array_equal(loaded.forward(x), expected)
