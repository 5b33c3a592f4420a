"""Convolution, im2col/col2im, pooling and Flatten: gradients, values, dtypes, errors."""

from __future__ import annotations


import numpy as np
import pytest

from layers import (Affine, AvgPooling, Convolution, Flatten, Layer, MaxPooling, ReLU, col2im,
                    im2col)
from losses import SoftmaxWithLoss
from nn import Sequential, gradcheck


def test_new_layers_are_registered():
    for cls in (Convolution, MaxPooling, AvgPooling, Flatten):
        assert Layer.registry[cls.__name__] is cls


# -- im2col / col2im ---------------------------------------------------------------

GEOMETRIES = [  # (x shape, kh, kw, stride, pad)
    ((2, 3, 5, 5), 3, 3, 1, 0),
    ((2, 2, 6, 5), 3, 3, 2, 1),
    ((1, 3, 5, 7), 2, 3, (2, 1), (1, 0)),
    ((3, 1, 7, 6), 2, 2, 3, 1),
    ((2, 2, 4, 4), 1, 1, 1, 0),
    ((1, 2, 3, 3), 3, 3, 1, 2),
]


@pytest.mark.parametrize("per_sample", [False, True], ids=["rows", "per-sample"])
@pytest.mark.parametrize("shape, kh, kw, stride, pad", GEOMETRIES)
def test_col2im_is_the_adjoint_of_im2col(shape, kh, kw, stride, pad, per_sample):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    col = im2col(x, kh, kw, stride, pad, per_sample=per_sample)
    y = rng.standard_normal(col.shape)
    back = col2im(y, shape, kh, kw, stride, pad)
    assert back.shape == shape
    np.testing.assert_allclose(np.vdot(col, y), np.vdot(x, back), rtol=1e-12)


@pytest.mark.parametrize("shape, kh, kw, stride, pad", GEOMETRIES)
def test_im2col_layouts_hold_the_same_windows(shape, kh, kw, stride, pad):
    x = np.random.default_rng(1).standard_normal(shape)
    rows = im2col(x, kh, kw, stride, pad)
    per_sample = im2col(x, kh, kw, stride, pad, per_sample=True)
    n, k, p = per_sample.shape
    assert rows.shape == (n * p, k)
    np.testing.assert_array_equal(per_sample.transpose(0, 2, 1).reshape(n * p, k), rows)


def test_im2col_values_by_hand():
    x = np.arange(18.0).reshape(1, 2, 3, 3)
    col = im2col(x, 2, 2, stride=1, pad=0)
    assert col.shape == (4, 8)
    np.testing.assert_array_equal(col[0], [0, 1, 3, 4, 9, 10, 12, 13])   # (c, i, j) order
    np.testing.assert_array_equal(col[3], [4, 5, 7, 8, 13, 14, 16, 17])
    padded = im2col(np.ones((1, 1, 2, 2)), 2, 2, stride=1, pad=1)
    np.testing.assert_array_equal(padded.sum(axis=1), [1, 2, 1, 2, 4, 2, 1, 2, 1])
    assert im2col(x.astype(np.float32), 2, 2).dtype == np.float32


def test_col2im_sums_overlaps():
    counts = col2im(np.ones((4, 4)), (1, 1, 3, 3), 2, 2)
    np.testing.assert_array_equal(counts[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    col = np.ones((1, 4, 4), dtype=np.float32)
    assert col2im(col, (1, 1, 3, 3), 2, 2).dtype == np.float32


def test_im2col_col2im_errors():
    with pytest.raises(ValueError, match=r"im2col: expected images of shape \(N, C, H, W\), got \(3, 4\)"):
        im2col(np.zeros((3, 4)), 2, 2)
    with pytest.raises(ValueError, match=r"im2col: the 5x5 window is larger than the padded input 4x4"):
        im2col(np.zeros((1, 1, 4, 4)), 5, 5)
    with pytest.raises(ValueError, match=r"col2im: .*expected col of shape \(4, 4\) or \(1, 4, 4\), got \(4, 5\)"):
        col2im(np.zeros((4, 5)), (1, 1, 3, 3), 2, 2)
    with pytest.raises(ValueError, match="stride must be positive, got 0"):
        im2col(np.zeros((1, 1, 4, 4)), 2, 2, stride=0)


# -- Convolution ------------------------------------------------------------------

def conv_reference(x, W, b, stride, pad):
    """Direct loops over samples, filters and output pixels."""
    (sh, sw), (ph, pw) = stride, pad
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, oc, kh, kw = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((n, oc, oh, ow))
    for s in range(n):
        for f in range(oc):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[s, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[s, f, i, j] = np.sum(patch * W[f]) + b[f]
    return out


CONV_SETTINGS = [  # (in, out, kernel, stride, pad, x shape)
    (1, 2, 3, 1, 0, (2, 1, 5, 5)),
    (2, 3, 3, 2, 1, (2, 2, 7, 6)),
    (3, 2, (2, 3), (2, 1), (1, 2), (1, 3, 5, 4)),
    (2, 2, 2, 3, 0, (1, 2, 8, 8)),
]


@pytest.mark.parametrize("cin, cout, kernel, stride, pad, shape", CONV_SETTINGS)
def test_convolution_forward_against_loops(cin, cout, kernel, stride, pad, shape):
    layer = Convolution(cin, cout, kernel, stride=stride, pad=pad, rng=0, dtype=np.float64)
    layer.b.data[...] = np.arange(cout) * 0.5
    x = np.random.default_rng(1).standard_normal(shape)
    expected = conv_reference(x, layer.W.data, layer.b.data, layer.stride, layer.pad)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cin, cout, kernel, stride, pad, shape", CONV_SETTINGS)
def test_convolution_against_torch(cin, cout, kernel, stride, pad, shape):
    torch = pytest.importorskip("torch")
    layer = Convolution(cin, cout, kernel, stride=stride, pad=pad, rng=0, dtype=np.float64)
    layer.b.data[...] = np.linspace(-1, 1, cout)
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.W.data, requires_grad=True)
    bt = torch.tensor(layer.b.data, requires_grad=True)
    ot = torch.nn.functional.conv2d(xt, wt, bt, stride=layer.stride, padding=layer.pad)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.W.grad, wt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.b.grad, bt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_convolution_describe_config_and_shapes():
    layer = Convolution(1, 30, 5)
    assert repr(layer) == "Convolution(1 -> 30, 5x5, stride 1, pad 0)"
    assert layer.W.shape == (30, 1, 5, 5) and layer.b.shape == (30,)
    assert layer.output_shape((100, 1, 28, 28)) == (100, 30, 24, 24)
    odd = Convolution(3, 8, [3, 5], stride=(2, 1), pad=(1, 2))
    assert odd.describe() == "Convolution(3 -> 8, 3x5, stride (2, 1), pad (1, 2))"
    assert odd.config() == {"in_channels": 3, "out_channels": 8, "kernel_size": [3, 5],
                            "stride": [2, 1], "pad": [1, 2], "init": "he", "dtype": "float32"}
    assert odd.output_shape((4, 3, 9, 9)) == (4, 8, 5, 9)   # (9+2-3)//2+1, (9+4-5)//1+1


@pytest.mark.parametrize("init, expected_std", [("he", np.sqrt(2 / 144)), ("xavier", np.sqrt(1 / 144)),
                                                (0.01, 0.01)])
def test_convolution_init_uses_fan_in_of_the_window(init, expected_std):
    w = Convolution(16, 64, 3, init=init, rng=0).W.data    # fan_in = 16 * 3 * 3
    assert abs(w.std() / expected_std - 1) < 0.03
    np.testing.assert_array_equal(w, Convolution(16, 64, 3, init=init, rng=0).W.data)


def test_convolution_skips_input_gradient_when_not_needed():
    layer = Convolution(1, 2, 3, rng=0)
    out = layer.forward(np.ones((2, 1, 4, 4), dtype=np.float32))
    assert layer.backward(np.ones_like(out), input_grad=False) is None
    assert layer.W.grad.any() and layer.b.grad.any()
    np.testing.assert_allclose(layer.b.grad, [8, 8])


def test_convolution_backward_accumulates():
    layer = Convolution(2, 2, 2, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3))
    dout = np.ones((2, 2, 2, 2))
    layer.forward(x)
    layer.backward(dout)
    first = layer.W.grad.copy()
    layer.forward(x)
    layer.backward(dout)
    np.testing.assert_allclose(layer.W.grad, 2 * first)


def test_convolution_errors_name_layer_and_shapes():
    layer = Convolution(3, 8, 5)
    name = r"Convolution\(3 -> 8, 5x5, stride 1, pad 0\)"
    with pytest.raises(ValueError, match=name + r": expected input of shape \(N, 3, H, W\), got \(2, 28, 28\)"):
        layer.forward(np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=name + r": expected input of shape \(N, 3, H, W\), got \(2, 1, 28, 28\)"):
        layer.forward(np.zeros((2, 1, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match=name + r": the 5x5 window is larger than the padded input 4x6"):
        layer.forward(np.zeros((2, 3, 4, 6), dtype=np.float32))
    with pytest.raises(TypeError, match="expected float32 input .*got float64"):
        layer.forward(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"kernel_size must be an int or a pair of ints, got \(3, 3, 3\)"):
        Convolution(1, 1, (3, 3, 3))
    with pytest.raises(ValueError, match="kernel_size must be positive, got 0"):
        Convolution(1, 1, 0)
    with pytest.raises(ValueError, match=r"pad must be non-negative, got \(1, -1\)"):
        Convolution(1, 1, 3, pad=(1, -1))
    with pytest.raises(ValueError, match="in_channels must be a positive integer, got 0"):
        Convolution(0, 1, 3)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got float16"):
        Convolution(1, 1, 3, dtype=np.float16)


# -- pooling ------------------------------------------------------------------------

def pool_reference(x, kind, pool, stride, pad):
    (kh, kw), (sh, sw), (ph, pw) = pool, stride, pad
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    oh, ow = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((*x.shape[:2], oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = window.max(axis=(2, 3)) if kind == "max" else window.mean(axis=(2, 3))
    return out


POOL_SETTINGS = [  # (pool, stride, pad, x shape)
    (2, None, 0, (2, 3, 4, 4)),
    (2, None, 0, (1, 2, 5, 7)),        # sizes that do not divide: the remainder is dropped
    (3, 2, 1, (2, 2, 7, 6)),
    ((2, 3), (1, 2), (1, 1), (1, 2, 5, 6)),
    (3, 1, 0, (1, 1, 5, 5)),
]


@pytest.mark.parametrize("kind, cls", [("max", MaxPooling), ("avg", AvgPooling)])
@pytest.mark.parametrize("pool, stride, pad, shape", POOL_SETTINGS)
def test_pooling_forward_against_loops(kind, cls, pool, stride, pad, shape):
    layer = cls(pool, stride, pad)
    x = np.random.default_rng(0).standard_normal(shape)
    expected = pool_reference(x, kind, layer.pool_size, layer.stride, layer.pad)
    np.testing.assert_allclose(layer.forward(x), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind, cls", [("max", MaxPooling), ("avg", AvgPooling)])
@pytest.mark.parametrize("pool, stride, pad, shape", POOL_SETTINGS)
def test_pooling_against_torch(kind, cls, pool, stride, pad, shape):
    torch = pytest.importorskip("torch")
    layer = cls(pool, stride, pad)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    ot = fn(xt, layer.pool_size, layer.stride, layer.pad)
    ot.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_max_pooling_values_and_gradient_by_hand():
    layer = MaxPooling(2)
    x = np.array([[[[1, 5, 0, 2], [3, 4, 7, 1], [0, 0, 1, 1], [9, 2, 3, 8]]]], dtype=np.float32)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[[[5, 7], [9, 8]]]])
    dx = layer.backward(np.array([[[[1, 2], [3, 4]]]], dtype=np.float32))
    np.testing.assert_array_equal(dx, [[[[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 0, 4]]]])


def test_max_pooling_tie_routes_gradient_to_first_maximum():
    layer = MaxPooling(2)
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])   # three maxima: the top-right one is first in row-major order
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))), [[[[0, 1], [0, 0]]]])
    overlap = MaxPooling(2, stride=1)      # equal values shared by overlapping windows
    overlap.forward(np.ones((1, 1, 3, 3)))
    np.testing.assert_array_equal(overlap.backward(np.ones((1, 1, 2, 2)))[0, 0],
                                  [[1, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_max_pooling_ties_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).integers(0, 3, (2, 2, 6, 6)).astype(np.float64)  # many ties
    for layer in (MaxPooling(2), MaxPooling(3, stride=1, pad=1)):
        out = layer.forward(x)
        xt = torch.tensor(x, requires_grad=True)
        torch.nn.functional.max_pool2d(xt, layer.pool_size, layer.stride, layer.pad).backward(
            torch.ones(out.shape, dtype=torch.float64))
        np.testing.assert_array_equal(layer.backward(np.ones_like(out)), xt.grad.numpy())


def test_avg_pooling_values_by_hand():
    layer = AvgPooling(2)
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(layer.forward(x), [[[[2.5, 4.5], [10.5, 12.5]]]])
    dx = layer.backward(np.array([[[[4.0, 8.0], [0.0, -4.0]]]]))
    np.testing.assert_array_equal(dx[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, -1, -1], [0, 0, -1, -1]])
    padded = AvgPooling(2, pad=1)   # the zero padding counts in the mean
    np.testing.assert_array_equal(padded.forward(np.ones((1, 1, 2, 2)))[0, 0], [[0.25, 0.25], [0.25, 0.25]])


def test_pooling_describe_and_config():
    assert repr(MaxPooling(2)) == "MaxPooling(2x2, stride 2, pad 0)"
    assert repr(AvgPooling((2, 3), stride=(1, 2), pad=1)) == "AvgPooling(2x3, stride (1, 2), pad 1)"
    assert MaxPooling(3, stride=2).config() == {"pool_size": 3, "stride": 2, "pad": 0}
    assert MaxPooling(2).output_shape((100, 30, 24, 24)) == (100, 30, 12, 12)


@pytest.mark.parametrize("cls", [MaxPooling, AvgPooling])
def test_pooling_errors(cls):
    name = cls.__name__
    layer = cls(3)
    with pytest.raises(ValueError, match=name + r"\(3x3, stride 3, pad 0\): expected input of shape \(N, C, H, W\), got \(2, 9\)"):
        layer.forward(np.zeros((2, 9), dtype=np.float32))
    with pytest.raises(ValueError, match=name + r"\(3x3, stride 3, pad 0\): the 3x3 window is larger than the padded input 2x5"):
        layer.forward(np.zeros((1, 1, 2, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=name + r": pad must be at most half the pool size 2, got pad 2"):
        cls(2, pad=2)
    with pytest.raises(ValueError, match="pool_size must be positive, got 0"):
        cls(0)
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints, got 1.5"):
        cls(2, stride=1.5)


def test_pooling_skips_input_gradient_when_not_needed():
    for layer in (MaxPooling(2), AvgPooling(2)):
        out = layer.forward(np.ones((1, 1, 4, 4), dtype=np.float32))
        assert layer.backward(np.ones_like(out), input_grad=False) is None


# -- Flatten ---------------------------------------------------------------------------

def test_flatten_shapes_and_gradient():
    layer = Flatten()
    x = np.arange(24.0, dtype=np.float32).reshape(2, 3, 2, 2)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, x.reshape(2, 12))
    dout = np.arange(24.0, dtype=np.float32).reshape(2, 12) * -1
    dx = layer.backward(dout)
    assert dx.shape == (2, 3, 2, 2) and dx.dtype == np.float32
    np.testing.assert_array_equal(dx, dout.reshape(2, 3, 2, 2))
    assert layer.output_shape((7, 30, 12, 12)) == (7, 4320)
    with pytest.raises(ValueError, match=r"Flatten: expected input of shape \(N, \.\.\.\) with at least 2 dimensions, got \(5,\)"):
        layer.forward(np.zeros(5, dtype=np.float32))


# -- a small network end to end ----------------------------------------------------

def small_cnn() -> Sequential:
    return Sequential([Convolution(1, 4, 3, pad=1, rng=0), ReLU(), MaxPooling(2), Flatten(),
                       Affine(4 * 4 * 4, 10, rng=1)])


def test_small_cnn_passes_gradcheck_with_loss():
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
    labels = np.array([1, 7, 3])
    report = gradcheck(model, x, labels, loss=SoftmaxWithLoss())
    assert report.passed, str(report)
    assert report.max_norm_rel < 1e-6, str(report)
    assert {e.name for e in report.entries} == {"x", "0.W", "0.b", "4.W", "4.b"}


def test_small_cnn_shapes_and_float32_training_step():
    model = small_cnn()
    assert model.output_shape((3, 1, 8, 8)) == (3, 10)
    assert "(N, 4, 4, 4)" in model.summary((1, 8, 8))
    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    loss = SoftmaxWithLoss()
    value = loss(model.forward(x), np.array([1, 7, 3]))
    assert model.backward(loss.backward(), input_grad=False) is None
    assert np.isfinite(value)
    assert all(p.grad.dtype == np.float32 and p.grad.any() for p in model.parameters())
