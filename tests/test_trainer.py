"""Trainer: the three regimes, real epochs, reproducibility, early stopping, divergence."""

from __future__ import annotations

import io
import math
import time

import numpy as np
import pytest

import optimizers
from datasets import minibatches
from layers import Affine, Layer, Sigmoid
from layers.device import to_numpy
from losses import SoftmaxWithLoss
from nn import DivergenceError, Sequential, Trainer, evaluate, mlp


def blobs(n=120, seed=0):
    """Three separable Gaussian blobs in 4-D: a problem a small MLP learns in a few epochs."""
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, size=n)
    centres = np.array([[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 2, 0]], dtype=np.float32)
    x = centres[t] + 0.5 * rng.standard_normal((n, 4)).astype(np.float32)
    return x, t


def make_trainer(lr=0.1, **kwargs):
    model = mlp(4, [8], 3, seed=0)
    return Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=lr), **kwargs)


def test_full_batch_makes_exactly_one_update_per_epoch():
    x, t = blobs()
    trainer = make_trainer()
    history = trainer.fit(x, t, epochs=4, batch_size=None, verbose=0)
    assert history.updates == 4
    assert len(history) == 4


@pytest.mark.parametrize("batch_size, expected", [(1, 120), (32, 4), (120, 1), (None, 1)])
def test_every_sample_is_seen_exactly_once_per_epoch(batch_size, expected):
    x, t = blobs()
    x = x.copy()
    x[:, 3] = np.arange(len(x))  # tag each sample with its index
    model = Sequential([Affine(4, 3, rng=0)])
    seen = []
    original = model.forward

    def spy(xb):
        seen.append(xb[:, 3].astype(int).copy())
        return original(xb)

    model.forward = spy
    trainer = Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=1e-6))
    for epoch in range(2):
        seen.clear()
        history = trainer.fit(x, t, epochs=1, batch_size=batch_size, seed=epoch, verbose=0)
        assert history.updates == expected
        assert sorted(np.concatenate(seen).tolist()) == list(range(len(x)))


def test_same_seed_gives_the_same_history_bit_for_bit():
    x, t = blobs()
    runs = []
    for _ in range(2):
        trainer = make_trainer()
        h = trainer.fit(x, t, epochs=3, batch_size=16, seed=7, validation_data=blobs(30, 1), verbose=0)
        runs.append((h.loss, h.accuracy, h.val_loss, h.val_accuracy,
                     [p.data.copy() for p in trainer.model.parameters()]))
    assert runs[0][:4] == runs[1][:4]
    for a, b in zip(runs[0][4], runs[1][4]):
        np.testing.assert_array_equal(a, b)
    other = make_trainer().fit(x, t, epochs=3, batch_size=16, seed=8, verbose=0)
    assert other.loss != runs[0][0]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_fit_equals_the_plain_loop_over_fresh_batches(momentum):
    # fit gathers each batch into arrays it reuses; the plain loop gets new arrays
    # from minibatches: the updates must be the same, bit for bit.
    x, t = blobs(100)
    models = [mlp(4, [8], 3, seed=0) for _ in range(2)]
    opts = [optimizers.SGD(m.parameters(), lr=0.1, momentum=momentum) for m in models]
    history = Trainer(models[0], SoftmaxWithLoss(), opts[0]).fit(x, t, epochs=2, batch_size=16,
                                                                 seed=3, verbose=0)
    loss, rng, losses = SoftmaxWithLoss(), np.random.default_rng(3), []
    for _ in range(2):
        total = 0.0
        for xb, tb in minibatches(x, t, 16, rng=rng):
            total += loss.forward(models[1].forward(xb), tb) * len(xb)
            opts[1].zero_grad()
            models[1].backward(loss.backward())
            opts[1].step()
        losses.append(total / len(x))
    assert history.loss == losses
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_logged_loss_comes_from_the_training_forward_passes():
    x, t = blobs()
    trainer = make_trainer()
    calls = []
    original = trainer.model.forward
    trainer.model.forward = lambda xb: calls.append(len(xb)) or original(xb)
    trainer.fit(x, t, epochs=1, batch_size=40, verbose=0)
    assert calls == [40, 40, 40]  # no second forward pass just to print a number


def test_training_learns_and_reports_validation():
    x, t = blobs(300)
    trainer = make_trainer(lr=0.5)
    history = trainer.fit(x, t, epochs=15, batch_size=20, validation_data=blobs(100, 1), seed=0, verbose=0)
    assert history.loss[-1] < history.loss[0] / 3
    assert history.val_accuracy[-1] > 0.95
    assert all(tm > 0 for tm in history.time)
    loss, acc = trainer.evaluate(*blobs(100, 1))
    assert loss == pytest.approx(history.val_loss[-1]) and acc == history.val_accuracy[-1]


def test_one_hot_targets_train_too():
    x, t = blobs()
    history = make_trainer().fit(x, np.eye(3, dtype=np.float32)[t], epochs=2, batch_size=10, verbose=0)
    assert 0 <= history.accuracy[-1] <= 1 and history.accuracy[-1] > 0.5


def test_early_stopping_restores_the_best_weights():
    x, t = blobs(200)
    xv, tv = blobs(60, 2)
    trainer = make_trainer(lr=0.5)
    snapshots = {}
    record = lambda tr, epoch, logs: snapshots.__setitem__(epoch, [p.data.copy() for p in tr.model.parameters()])
    trainer.callbacks.append(record)
    # An absurd learning rate after epoch 2 makes the validation loss worse from then on.
    schedule_lrs = iter([0.5, 50.0, 50.0, 50.0, 50.0, 50.0])

    class Jump:
        def step(self):
            trainer.optimizer.lr = next(schedule_lrs)

    trainer.schedule = Jump()
    history = trainer.fit(x, t, epochs=10, batch_size=20, validation_data=(xv, tv), patience=2,
                          seed=0, verbose=0)
    best = history.best_epoch
    assert len(history) < 10 and "early stopping" in history.stop_reason
    assert history.val_loss[best - 1] == min(history.val_loss)
    for p, saved in zip(trainer.model.parameters(), snapshots[best]):
        np.testing.assert_array_equal(p.data, saved)
    assert trainer.evaluate(xv, tv)[0] == pytest.approx(history.val_loss[best - 1])


def test_callback_can_stop_training():
    x, t = blobs()
    trainer = make_trainer()
    trainer.callbacks.append(lambda tr, epoch, logs: setattr(tr, "stop_training", epoch == 2))
    history = trainer.fit(x, t, epochs=10, batch_size=30, verbose=0)
    assert len(history) == 2 and history.stop_reason == "stopped by a callback"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is what this test provokes
def test_nan_loss_stops_with_a_clear_message():
    x, t = blobs()
    trainer = make_trainer(lr=1e30)
    with pytest.raises(DivergenceError, match=r"loss became (nan|inf) at epoch \d+, batch \d+ of 4 "
                                              r"\(learning rate 1e\+30\)") as info:
        trainer.fit(x, t, epochs=5, batch_size=30, verbose=0)
    assert isinstance(info.value.history.loss, list)


def test_schedule_is_called_once_per_epoch():
    x, t = blobs()
    trainer = make_trainer()
    trainer.schedule = optimizers.StepLR(trainer.optimizer, step_size=1, gamma=0.5)
    history = trainer.fit(x, t, epochs=3, batch_size=40, verbose=0)
    assert history.lr == [0.1, 0.05, 0.025]


def test_progress_lines_and_silence():
    x, t = blobs()
    out = io.StringIO()
    make_trainer().fit(x, t, epochs=2, batch_size=40, validation_data=blobs(30, 1), verbose=1, file=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "val_acc" in lines[0]
    assert "\r" not in out.getvalue()  # not a terminal: plain lines, no bar
    quiet = io.StringIO()
    make_trainer().fit(x, t, epochs=2, batch_size=40, verbose=0, file=quiet)
    assert quiet.getvalue() == ""


class _Stall(Layer):
    """Identity whose forward sleeps ``delay`` seconds: an epoch on a suddenly busy machine."""

    def __init__(self) -> None:
        super().__init__()
        self.delay = 0.0

    def forward(self, x):
        time.sleep(self.delay)
        return x

    def backward(self, dout, *, input_grad=True):
        return dout


def test_an_epoch_far_slower_than_the_first_prints_one_hint():
    x, t = blobs()
    stall = _Stall()
    model = Sequential([Affine(4, 3, rng=0), stall])
    trainer = Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=0.1),
                      callbacks=[lambda tr, epoch, logs: setattr(stall, "delay", 0.0 if epoch == 3 else 0.7)])
    out = io.StringIO()
    history = trainer.fit(x, t, epochs=4, batch_size=None, verbose=1, file=out)
    lines = out.getvalue().splitlines()
    assert history.time[1] > 0.7 and history.time[2] > 0.7  # epochs 2 and 3 stalled: one hint
    assert [line.split()[0] for line in lines] == ["epoch", "epoch", "note:", "epoch", "epoch"]
    assert lines[2].startswith("note: epoch 2 took ") and "--threads 1" in lines[2]
    quiet = io.StringIO()  # verbose=0 stays silent
    stall.delay = 0.0
    Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=0.1),
            callbacks=[lambda tr, epoch, logs: setattr(stall, "delay", 0.7)]).fit(
        x, t, epochs=2, batch_size=None, verbose=0, file=quiet)
    assert quiet.getvalue() == ""


def test_binary_classifier_with_one_output():
    from losses import SigmoidWithLoss
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    t = np.array([0, 1, 1, 1])
    model = Sequential([Affine(2, 1, rng=0)])
    trainer = Trainer(model, SigmoidWithLoss(), optimizers.SGD(model.parameters(), lr=1.0))
    history = trainer.fit(x, t, epochs=200, batch_size=None, verbose=0)
    assert history.accuracy[-1] == 1.0  # OR is linearly separable


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be a positive integer, got 0"),
    ({"batch_size": 0}, "batch_size"),
    ({"patience": 0}, "patience must be a positive integer or None, got 0"),
])
def test_bad_arguments(kwargs, match):
    x, t = blobs()
    with pytest.raises(ValueError, match=match):
        make_trainer().fit(x, t, **{"epochs": 1, **kwargs}, verbose=0)


def test_bad_data_and_objects():
    x, t = blobs()
    with pytest.raises(ValueError, match="x has 120 samples but t has 100"):
        make_trainer().fit(x, t[:100], epochs=1, verbose=0)
    with pytest.raises(TypeError, match="expected a loss object"):
        Trainer(mlp(4, [3], 3), "cross_entropy", None)
    model = Sequential([Affine(4, 3), Sigmoid()])
    with pytest.raises(TypeError, match="expected an optimizer with step"):
        Trainer(model, SoftmaxWithLoss(), "sgd")
    assert math.isnan(make_trainer().fit(x, t, epochs=1, verbose=0).val_loss[0])


# -- the contract: layers compute gradients, the optimizer alone updates ------

def plain_loop(model, optimizer, x, t, epochs, batch_size, seed):
    """The textbook's loop, written out: forward, loss, zero_grad, backward, step."""
    loss, order = SoftmaxWithLoss(), np.random.default_rng(seed)
    for _ in range(epochs):
        for xb, tb in minibatches(x, t, batch_size, rng=order):
            loss.forward(model.forward(xb), tb)
            optimizer.zero_grad()
            model.backward(loss.backward(), input_grad=False)
            optimizer.step()


@pytest.mark.parametrize("name, kwargs", [("sgd", dict(lr=0.1)), ("sgd", dict(lr=0.1, momentum=0.9)),
                                          ("sgd", dict(lr=0.1, weight_decay=0.01)),
                                          ("adam", dict(lr=1e-3)), ("rmsprop", dict(lr=1e-3))])
@pytest.mark.parametrize("shared", [False, True])
def test_fit_is_the_plain_loop_bit_for_bit(name, kwargs, shared):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((96, 100)).astype(np.float32)
    t = rng.integers(0, 3, size=96)
    models = [mlp(100, [100, 100], 3, seed=0) for _ in range(2)]
    if shared:  # layers 0 and 2 hold one 100 x 100 weight matrix: both gradients must reach it
        for model in models:
            model.layers[2].W = model.layers[0].W
    unique = lambda m: list({id(p): p for p in m.parameters()}.values())  # noqa: E731
    trainer = Trainer(models[0], SoftmaxWithLoss(), optimizers.get_optimizer(name, unique(models[0]), **kwargs))
    trainer.fit(x, t, epochs=2, batch_size=32, seed=1, verbose=0)
    plain_loop(models[1], optimizers.get_optimizer(name, unique(models[1]), **kwargs), x, t, 2, 32, 1)
    for a, b in zip(unique(models[0]), unique(models[1])):
        np.testing.assert_array_equal(a.data, b.data)
        np.testing.assert_array_equal(a.grad, b.grad)


def test_after_fit_every_grad_is_the_last_batchs_gradient(mnist_dir):
    from datasets import load_mnist
    (x, t), _ = load_mnist(data_dir=mnist_dir)
    x, t = x[:1000], t[:1000]
    model = mlp(784, [100], 10, seed=0)
    lr = 0.1
    trainer = Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=lr))
    trainer.fit(x, t, epochs=2, batch_size=100, seed=3, verbose=0)
    grads = [p.grad.copy() for p in model.parameters()]
    assert all(np.any(g != 0) for g in grads)
    # The last batch of epoch 2, and the weights it was computed at (before the last step).
    order = np.random.default_rng(3)
    order.permutation(len(x))
    last = order.permutation(len(x))[-100:]
    for p, g in zip(model.parameters(), grads):
        p.data += np.float32(lr) * g
    loss = SoftmaxWithLoss()
    loss.forward(model.forward(x[last]), t[last])
    model.zero_grad()
    model.backward(loss.backward())
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_allclose(p.grad, g, rtol=1e-4, atol=1e-6)


def test_after_one_batch_grad_equals_backward_at_the_initial_weights(device):
    x, t = blobs(n=64)
    model = mlp(4, [8], 3, seed=0, device=device)
    start = [to_numpy(p.data).copy() for p in model.parameters()]
    trainer = Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=0.1))
    trainer.fit(x, t, epochs=1, batch_size=None, verbose=0)
    reference = mlp(4, [8], 3, seed=0)
    loss = SoftmaxWithLoss()
    loss.forward(reference.forward(x), t)
    reference.zero_grad()
    reference.backward(loss.backward())
    for p, q, w0 in zip(model.parameters(), reference.parameters(), start):
        np.testing.assert_array_equal(to_numpy(p.grad), q.grad)
        np.testing.assert_array_equal(to_numpy(p.data), w0 - np.float32(0.1) * q.grad)  # step() did it


@pytest.mark.parametrize("data_dtype", [np.uint8, np.int64, np.float64])
def test_fit_and_evaluate_take_integer_and_float64_data(data_dtype):
    x, t = blobs()
    xi = np.round(x * 10).astype(data_dtype) if data_dtype != np.float64 else x.astype(np.float64)
    if data_dtype == np.uint8:
        xi = np.clip(np.round(x * 10) + 20, 0, 255).astype(np.uint8)
    reference = make_trainer()
    expected = reference.fit(xi.astype(np.float32), t, epochs=2, batch_size=16, seed=1, verbose=0)
    trainer = make_trainer()
    history = trainer.fit(xi, t, epochs=2, batch_size=16, seed=1, verbose=0,
                          validation_data=(xi, t))
    assert history.loss == expected.loss  # converted once: the same training, bit for bit
    assert all(p.data.dtype == np.float32 for p in trainer.model.parameters())
    assert trainer.evaluate(xi, t) == reference.evaluate(xi.astype(np.float32), t)


# --- edge cases: BatchNorm's last batch, empty and NaN data ------------------------------

def bn_trainer(model=None):
    model = model or mlp(4, [8], 3, batchnorm=True, seed=0)
    return Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=0.1))


def test_a_last_batch_of_one_sample_is_left_out_for_batchnorm_with_a_warning():
    x, t = blobs(257)
    with pytest.warns(UserWarning, match="257 samples in batches of 128 leave a last batch of 1 "
                                         "sample, too few for BatchNorm's batch statistics: it is "
                                         r"left out of every epoch \(a different sample each epoch\)"):
        history = bn_trainer().fit(x, t, epochs=2, batch_size=128, verbose=0)
    assert history.updates == 4 and all(math.isfinite(v) for v in history.loss)
    with pytest.warns(UserWarning, match=r"left out of every epoch \(sample 256\)"):
        bn_trainer().fit(x, t, epochs=1, batch_size=128, shuffle=False, verbose=0)


def test_batchnorm_refuses_batches_of_one_before_the_first_epoch():
    x, t = blobs(10)
    trainer = bn_trainer()
    before = [p.data.copy() for p in trainer.model.parameters()]
    with pytest.raises(ValueError, match="BatchNorm, which needs at least 2 samples per training "
                                         "batch; 10 sample.s. with batch_size=1 give it 1"):
        trainer.fit(x, t, epochs=1, batch_size=1, verbose=0)
    with pytest.raises(ValueError, match="1 sample.s. with batch_size=None"):
        trainer.fit(x[:1], t[:1], epochs=1, batch_size=None, verbose=0)
    assert all(np.array_equal(a, p.data) for a, p in zip(before, trainer.model.parameters()))


def test_batchnorm_on_feature_maps_trains_on_single_images(recwarn):
    """(1, C, H, W) still gives H*W values per channel: nothing is left out or refused."""
    from layers import BatchNorm, Convolution, Flatten, ReLU
    model = Sequential([Convolution(1, 2, 3, rng=0), BatchNorm(2), ReLU(), Flatten(), Affine(8, 3, rng=1)])
    x = np.random.default_rng(0).standard_normal((5, 1, 4, 4)).astype(np.float32)
    history = bn_trainer(model).fit(x, np.arange(5) % 3, epochs=1, batch_size=1, verbose=0)
    assert history.updates == 5 and not recwarn.list


def test_no_batchnorm_no_change():
    x, t = blobs(257)
    assert make_trainer().fit(x, t, epochs=1, batch_size=128, verbose=0).updates == 3


def test_evaluate_on_empty_data_says_so():
    model = mlp(4, [3], 3)
    with pytest.raises(ValueError, match="evaluation data: no samples"):
        evaluate(model, SoftmaxWithLoss(), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="evaluation data: no samples"):
        make_trainer().evaluate(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))


@pytest.mark.parametrize("bad, kind", [(np.nan, "NaN"), (np.inf, "infinite values")])
def test_nan_in_the_data_is_reported_as_bad_data_not_as_divergence(bad, kind):
    x, t = blobs()
    x = x.copy()
    x[17, 2] = x[40, 0] = bad
    trainer = make_trainer()
    with pytest.raises(ValueError, match=f"training data: x holds {kind} in 2 sample.s., the first "
                                         "at index 17; clean the data first") as info:
        trainer.fit(x, t, epochs=1, verbose=0)
    assert "learning rate" not in str(info.value).split(";")[0]
    xv, tv = blobs(30, 1)
    xv = xv.copy()
    xv[5, 1] = bad
    with pytest.raises(ValueError, match=f"validation data: x holds {kind} in 1 sample.s., the first at index 5"):
        make_trainer().fit(blobs()[0], t, epochs=1, validation_data=(xv, tv), verbose=0)
    one_hot = np.eye(3, dtype=np.float32)[t]
    one_hot[3, 0] = np.nan
    with pytest.raises(ValueError, match="training data: t holds NaN in 1 sample.s., the first at index 3"):
        make_trainer().fit(blobs()[0], one_hot, epochs=1, verbose=0)
    trainer = bn_trainer()  # nothing of the model is poisoned on the way
    with pytest.raises(ValueError, match=f"training data: x holds {kind}"):
        trainer.fit(x, t, epochs=1, batch_size=30, verbose=0)
    assert all(np.isfinite(p.data).all() for p in trainer.model.parameters())
    assert all(np.isfinite(v).all() for v in trainer.model.buffers().values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is what this test provokes
def test_a_diverging_run_leaves_batchnorm_running_statistics_finite():
    x, t = blobs()
    model = mlp(4, [8], 3, batchnorm=True, seed=0)
    trainer = Trainer(model, SoftmaxWithLoss(), optimizers.SGD(model.parameters(), lr=1e30))
    with pytest.raises(DivergenceError):
        trainer.fit(x, t, epochs=5, batch_size=30, verbose=0)
    for value in trainer.model.buffers().values():
        assert np.isfinite(value).all()
