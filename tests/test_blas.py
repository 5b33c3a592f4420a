"""The BLAS fast path (layers/blas.py): same results as NumPy, declines what it cannot take,
and the SGD step that Affine applies in backward."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from layers import Parameter, blas
from optimizers import SGD

BIG = blas.MIN_SIZE * 3 + 5  # above the size threshold, and not a multiple of any SIMD width


def numpy_bundles_openblas() -> bool:
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    return bool(glob.glob(os.path.join(libs, "libscipy_openblas*")))


def test_numpy_wheels_openblas_is_found():
    if not numpy_bundles_openblas():
        pytest.skip("this NumPy is not a wheel with its own OpenBLAS; the NumPy route is used")
    assert blas.blas_library() is not None
    assert "openblas" in os.path.basename(blas.blas_library())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(BIG).astype(dtype)
    y = rng.standard_normal(BIG).astype(dtype)
    expected = y - dtype(0.3) * x
    done = blas.blas_axpy(-0.3, x, y)
    assert done == (blas.blas_library() is not None)
    if done:
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
        assert y.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpby_matches_numpy(dtype):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(BIG).astype(dtype)
    y = rng.standard_normal(BIG).astype(dtype)
    expected = dtype(0.1) * x + dtype(0.9) * y
    done = blas.blas_axpby(0.1, x, 0.9, y)
    assert done == (blas.blas_library() is not None)
    if done:
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", ["small", "strided", "dtypes", "shapes", "readonly"])
def test_axpy_declines_and_leaves_y_alone(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(BIG).astype(np.float32)
    y = rng.standard_normal(BIG).astype(np.float32)
    if case == "small":
        x, y = x[:10].copy(), y[:10].copy()
    elif case == "strided":
        x = np.repeat(x, 2)[::2]
    elif case == "dtypes":
        x = x.astype(np.float64)
    elif case == "shapes":
        y = y[:-1].copy()
    elif case == "readonly":
        y.flags.writeable = False
    before = y.copy()
    assert blas.blas_axpy(-0.5, x, y) is False
    assert blas.blas_axpby(-0.5, x, 2.0, y) is False
    np.testing.assert_array_equal(y, before)


def test_axpy_on_a_2d_parameter():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 100)).astype(np.float32)
    y = rng.standard_normal((300, 100)).astype(np.float32)
    expected = y + np.float32(2.0) * x
    if blas.blas_axpy(2.0, x, y):
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                                    dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)])
def test_sgd_same_trajectory_with_and_without_blas(monkeypatch, kwargs):
    rng = np.random.default_rng(3)
    start = rng.standard_normal((200, 100)).astype(np.float32)
    grads = [rng.standard_normal((200, 100)).astype(np.float32) for _ in range(5)]

    def run() -> np.ndarray:
        p = Parameter(start)
        opt = SGD([p], **kwargs)
        for g in grads:
            opt.zero_grad()
            p.grad[...] = g
            opt.step()
            np.testing.assert_array_equal(p.grad, g)  # the optimizer never writes p.grad
        return p.data

    with_blas = run()
    monkeypatch.setattr(blas, "_ROUTINES", {})
    without = run()
    np.testing.assert_allclose(with_blas, without, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", ["C", "F", "1-D", "read-only", "empty", "read-only F"])
def test_address_is_numpys_data_pointer(case):
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    m = {"C": a, "F": a.T, "1-D": a[1], "read-only": a.copy(), "empty": a[:0],
         "read-only F": np.asfortranarray(a)}[case]
    if case.startswith("read-only"):
        m.flags.writeable = False
    assert blas._address(m) == m.ctypes.data


# -- the weight update fused into the gradient's GEMM -------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order_a, order_b", [("C", "C"), ("C", "F"), ("F", "C"), ("F", "F")])
def test_gemm_update_matches_numpy(dtype, order_a, order_b):
    rng = np.random.default_rng(4)
    a = np.asarray(rng.standard_normal((9, 130)), dtype=dtype, order=order_a)
    b = np.asarray(rng.standard_normal((9, 70)), dtype=dtype, order=order_b)
    c = rng.standard_normal((130, 70)).astype(dtype)
    expected = c - dtype(0.1) * (a.T @ b)
    done = blas.blas_gemm_update(-0.1, a, b, c)
    assert done == (blas.blas_library() is not None)
    if done:
        tol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", ["strided a", "dtype", "c fortran", "shapes", "readonly", "small"])
def test_gemm_update_declines_and_leaves_c_alone(case):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((9, 130)).astype(np.float32)
    b = rng.standard_normal((9, 70)).astype(np.float32)
    c = rng.standard_normal((130, 70)).astype(np.float32)
    if case == "small":
        a, b, c = a[:, :6].copy(), b[:, :4].copy(), c[:6, :4].copy()
    elif case == "strided a":
        a = np.repeat(a, 2, axis=1)[:, ::2]
    elif case == "dtype":
        b = b.astype(np.float64)
    elif case == "c fortran":
        c = np.asfortranarray(c)
    elif case == "shapes":
        b = b[:-1]
    elif case == "readonly":
        c.flags.writeable = False
    before = c.copy()
    assert blas.blas_gemm_update(-0.1, a, b, c) is False
    np.testing.assert_array_equal(c, before)


def affine_pair(dtype):
    from layers import Affine
    return Affine(150, 60, rng=0, dtype=dtype), Affine(150, 60, rng=0, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_applies_an_offered_step_and_says_so(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 150)).astype(dtype)
    dout = np.asfortranarray(rng.standard_normal((8, 60)).astype(dtype))  # as SoftmaxWithLoss gives
    fused, plain = affine_pair(dtype)
    lr = dtype(0.05)
    for layer in (fused, plain):
        layer.zero_grad()
        layer.forward(x)
    fused.W.request_step_in_backward(lr)
    dx_fused = fused.backward(dout)
    dx_plain = plain.backward(dout)
    np.testing.assert_array_equal(dx_fused, dx_plain)  # computed with the old weights
    np.testing.assert_array_equal(fused.b.grad, plain.b.grad)
    assert fused.W.finish_step() is True
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(fused.W.data, plain.W.data - lr * plain.W.grad, rtol=tol, atol=tol)
    assert not fused.W.grad.any()  # no gradient array was filled
    assert fused.W.data.dtype == dtype
    assert fused.W.step_in_backward_lr() is None  # the offer is withdrawn
    assert fused.b.finish_step() is False  # the bias was not offered: its gradient is there


def test_no_step_in_backward_once_a_gradient_is_accumulated():
    x = np.ones((4, 150), dtype=np.float32)
    dout = np.ones((4, 60), dtype=np.float32)
    layer, _ = affine_pair(np.float32)
    layer.zero_grad()
    layer.forward(x)
    layer.backward(dout)  # first contribution into W.grad
    layer.W.request_step_in_backward(np.float32(0.1))
    assert layer.W.step_in_backward_lr() is None
    before = layer.W.data.copy()
    layer.backward(dout)  # second contribution: accumulated, weights untouched
    np.testing.assert_array_equal(layer.W.data, before)
    np.testing.assert_allclose(layer.W.grad, 2 * x.T @ dout)
    assert layer.W.finish_step() is False


def train_both_ways(optimizer_kwargs, monkeypatch=None, share=False):
    """Weights after Trainer.fit and after the same steps in a plain loop (no step in backward)."""
    from datasets import minibatches
    from losses import SoftmaxWithLoss
    from nn import Trainer, mlp
    from optimizers import SGD
    rng = np.random.default_rng(7)
    x = rng.standard_normal((96, 100)).astype(np.float32)
    t = rng.integers(0, 3, size=96)
    models = []
    for _ in range(2):
        models.append(mlp(100, [100, 100], 3, seed=0))
    if share:  # layers 2 and 0 hold one weight matrix (100 x 100)
        for model in models:
            model.layers[2].W = model.layers[0].W
    unique = lambda m: list({id(p): p for p in m.parameters()}.values())  # noqa: E731
    trainer = Trainer(models[0], SoftmaxWithLoss(), SGD(unique(models[0]), **optimizer_kwargs))
    trainer.fit(x, t, epochs=2, batch_size=32, seed=1, verbose=0)
    model, loss = models[1], SoftmaxWithLoss()
    opt = SGD(unique(model), **optimizer_kwargs)
    order = np.random.default_rng(1)
    for _ in range(2):
        for xb, tb in minibatches(x, t, 32, rng=order):
            loss.forward(model.forward(xb), tb)
            opt.zero_grad()
            model.backward(loss.backward(), input_grad=False)
            opt.step()
    # The last layer's 100 x 3 weights take NumPy's route, the others BLAS's.
    affines = [layer for layer in models[0].layers if hasattr(layer, "W")]
    assert [a.W.size >= blas.MIN_SIZE for a in affines] == [True, True, False]
    weights_grads_after_fit = [p.grad for a in affines for p in (a.W, a.b)]
    return [p.data for p in unique(models[0])], [p.data for p in unique(model)], weights_grads_after_fit


@pytest.mark.parametrize("kwargs", [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.1, weight_decay=0.01)])
def test_trainer_steps_in_backward_follow_the_plain_loop(kwargs):
    fitted, looped, weight_grads = train_both_ways(kwargs)
    offered = not (kwargs.get("momentum") or kwargs.get("weight_decay"))
    # Where the step was applied in backward, no gradient was stored.
    assert [not g.any() for g in weight_grads] == [offered] * 6  # weights and biases
    for a, b in zip(fitted, looped):
        if kwargs.get("momentum") or kwargs.get("weight_decay"):
            np.testing.assert_array_equal(a, b)  # nothing offered: the very same arithmetic
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_trainer_does_not_offer_the_step_when_layers_share_a_weight():
    fitted, looped, _ = train_both_ways(dict(lr=0.1), share=True)
    for a, b in zip(fitted, looped):
        np.testing.assert_array_equal(a, b)


def test_without_blas_the_trainer_takes_the_numpy_route(monkeypatch):
    with_blas, _, _ = train_both_ways(dict(lr=0.1))
    monkeypatch.setattr(blas, "_ROUTINES", {})
    without, looped, _ = train_both_ways(dict(lr=0.1))
    for a, b, c in zip(with_blas, without, looped):
        np.testing.assert_array_equal(b, c)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_the_environment_variable_turns_the_direct_calls_off():
    import subprocess
    import sys
    code = "from layers import blas; print(blas.blas_library())"
    env = {**os.environ, "NN_NO_DIRECT_BLAS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "None"


def test_the_blas_warm_up_runs_on_import_unless_turned_off():
    import subprocess
    import sys
    code = "from layers import blas; print(blas.WARMUP_SECONDS)"
    for value, warmed in (("1", False), ("0", True), ("", True)):
        env = {**os.environ, "NN_NO_BLAS_WARMUP": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                             check=True).stdout.strip()
        if warmed:
            assert 0 < float(out) < 10, f"NN_NO_BLAS_WARMUP={value!r}: warm-up took {out} s"
        else:
            assert out == "None"


def test_warm_up_blas_can_be_run_again_and_changes_nothing_it_was_not_given():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    before = x.copy()
    seconds = blas.warm_up_blas()
    assert np.isfinite(seconds) and seconds > 0
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(x @ x.T, before @ before.T)
