"""Devices: the same layers, losses, optimizers and trainer on the CPU and on the stand-in for CuPy.

The stand-in (tests/standin.py) keeps its data in NumPy but refuses, as CuPy
does, every mix of NumPy and device arrays, so code that forgets to take its
array module from its data fails here in CI.  tests/test_gpu.py runs the
layer contract on a real GPU where there is one.
"""

from __future__ import annotations

import numpy as np
import pytest

import optimizers
import standin
from layers import Affine, BatchNorm, Convolution, Dropout, ReLU
from layers.device import (CPU, DeviceError, array_module, device_of, get_device, is_array,
                           to_numpy)
from losses import MeanSquaredError, SigmoidWithLoss, SoftmaxWithLoss
from nn import Sequential, Trainer, gradcheck, load_model, mlp, simple_convnet



@pytest.fixture
def dev():
    """The device under test: the CPU stand-in for CuPy here, a real GPU in tests/test_gpu.py."""
    return standin.register()


# -- the stand-in fails the way CuPy does -------------------------------------

def test_the_stand_in_refuses_every_mix_of_numpy_and_device_arrays():
    DEV = standin.register()
    a = DEV.asarray(np.arange(6.0).reshape(2, 3))
    host = np.ones((2, 3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError):
        np.exp(a)                       # a NumPy ufunc on a device array
    with pytest.raises(TypeError, match="np.concatenate"):
        np.concatenate([a, a])          # a NumPy function on device arrays
    with pytest.raises(TypeError):
        a + host                        # mixing in an operation
    with pytest.raises(TypeError):
        host + a
    with pytest.raises(TypeError):
        host += a                       # an in-place write into NumPy from the device
    with pytest.raises(TypeError):
        host[...] = a
    with pytest.raises(TypeError):
        a[...] = host
    with pytest.raises(AttributeError, match="no reduce"):
        DEV.xp.maximum.reduce(a, axis=0)  # CuPy offers reduce for add and multiply only
    # what CuPy allows
    np.testing.assert_array_equal(to_numpy(DEV.xp.exp(a) * np.float32(2) + 1.0),
                                  np.exp(np.arange(6.0).reshape(2, 3)) * 2 + 1)
    np.testing.assert_array_equal(to_numpy(a[np.array([1, 0])]), [[3, 4, 5], [0, 1, 2]])
    assert float(DEV.xp.sum(a)) == 15.0 and is_array(a) and device_of(a) is DEV


def test_devices_by_name_and_the_gpu_without_cupy():
    DEV = standin.register()
    assert get_device("cpu") is CPU and get_device("numpy") is CPU
    assert get_device("standin") is DEV and get_device(DEV) is DEV
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        get_device("tpu")
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(DeviceError, match=r'pip install -e "\.\[gpu\]"'):
            get_device("gpu")


# -- models on the device ------------------------------------------------------

def test_to_moves_parameters_buffers_and_caches_and_back(dev):
    model = Sequential([Affine(4, 3, rng=0), BatchNorm(3), ReLU(), Dropout(0.5, rng=0)])
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    model.forward(x)  # caches on the CPU
    model.to(dev.name)
    assert model.device is dev
    assert all(device_of(p.data) is dev and device_of(p.grad) is dev for p in model.parameters())
    assert all(device_of(b) is dev for b in model.buffers().values())
    assert device_of(model.layers[0].x) is dev  # the cache moved too
    out = model.forward(dev.asarray(x))
    assert device_of(out) is dev
    with pytest.raises(TypeError, match=f"the input is on cpu but the layer's parameters are on {dev.name}"):
        model.forward(x)
    model.to("cpu")
    assert model.device is CPU and type(model.layers[1].running_mean) is np.ndarray


@pytest.mark.parametrize("name, kwargs", [("sgd", dict(lr=0.1)), ("momentum", {}), ("nesterov", {}),
                                          ("adam", {}), ("adamw", {}), ("rmsprop", dict(momentum=0.5)),
                                          ("adagrad", {})])
def test_every_optimizer_steps_on_the_device_as_on_the_cpu(name, kwargs, dev):
    rng = np.random.default_rng(4)
    start = rng.standard_normal((150, 100)).astype(np.float32)  # above the BLAS threshold on the CPU
    grads = [rng.standard_normal(start.shape).astype(np.float32) for _ in range(5)]
    results = []
    for device in (CPU, dev):
        from layers import Parameter
        p = Parameter(device.asarray(start))
        opt = optimizers.get_optimizer(name, [p], weight_decay=0.01, **kwargs)
        for g in grads:
            opt.zero_grad()
            p.grad[...] = device.asarray(g)
            opt.step()
        assert all(device_of(v) is device for v in opt.state[0].values())
        results.append(to_numpy(p.data))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_optimizer_state_follows_a_model_moved_after_it_was_built(dev):
    model = mlp(6, [5], 3, seed=0)
    opt = optimizers.Adam(model.parameters())
    x, t = np.random.default_rng(1).standard_normal((8, 6)), np.arange(8) % 3
    Trainer(model, SoftmaxWithLoss(), opt).fit(x, t, epochs=1, batch_size=4, verbose=0)
    assert all(type(v) is np.ndarray for s in opt.state for v in s.values())
    model.to(dev.name)
    Trainer(model, SoftmaxWithLoss(), opt).fit(x, t, epochs=1, batch_size=4, verbose=0)
    assert all(device_of(v) is dev for s in opt.state for v in s.values())
    assert isinstance(opt.state_dict()["state"][0]["exp_avg"], np.ndarray)  # checkpoints hold NumPy


@pytest.mark.parametrize("make", [lambda d: mlp(20, [16, 8], 3, seed=0, device=d),
                                  lambda d: mlp(20, [16], 3, seed=0, batchnorm=True, dropout=0.2, device=d),
                                  lambda d: simple_convnet((1, 8, 8), filters=4, kernel_size=3, hidden=8,
                                                           out_features=3, seed=0, device=d)],
                         ids=["mlp", "mlp-batchnorm-dropout", "convnet"])
@pytest.mark.parametrize("data_on_device", [False, True])
def test_training_on_the_device_follows_the_cpu(make, data_on_device, dev):
    rng = np.random.default_rng(2)
    conv = isinstance(make("cpu").layers[0], Convolution)
    x = rng.standard_normal((60, 1, 8, 8) if conv else (60, 20)).astype(np.float32)
    t = rng.integers(0, 3, size=60)
    runs = {}
    for name in ("cpu", dev.name):
        model = make(name)
        trainer = Trainer(model, SoftmaxWithLoss(), optimizers.Adam(model.parameters(), lr=1e-2))
        xs, ts = (dev.asarray(x), dev.asarray(t)) if data_on_device and name == dev.name else (x, t)
        history = trainer.fit(xs, ts, epochs=3, batch_size=16, seed=0, verbose=0,
                              validation_data=(xs[:20], ts[:20]))
        runs[name] = (history, [to_numpy(p.data) for p in model.parameters()], model)
    (h_cpu, w_cpu, m_cpu), (h_dev, w_dev, m_dev) = runs["cpu"], runs[dev.name]
    np.testing.assert_allclose(h_dev.loss, h_cpu.loss, rtol=1e-4)
    np.testing.assert_allclose(h_dev.val_loss, h_cpu.val_loss, rtol=1e-4)
    for a, b in zip(w_dev, w_cpu):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    assert m_dev.device is dev
    # predictions: on the device unless asked for NumPy
    pred = m_dev.predict(x)
    assert device_of(pred) is dev
    np.testing.assert_array_equal(m_dev.predict(x, to_numpy=True), m_cpu.predict(x))
    scores = m_dev.scores(x.astype(np.float64), to_numpy=True)
    assert type(scores) is np.ndarray and scores.dtype == np.float32


def test_checkpoints_are_numpy_and_load_onto_either_device(tmp_path, dev):
    model = mlp(6, [5], 3, seed=0, batchnorm=True, device=dev.name)
    model.forward(dev.asarray(np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)))
    path = model.save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as archive:  # plain NumPy arrays inside
        assert all(archive[name].dtype.kind in "fU" for name in archive.files)
    on_cpu = load_model(path)
    on_dev = load_model(path, device=dev.name)
    assert on_cpu.device is CPU and on_dev.device is dev
    x = np.random.default_rng(1).standard_normal((7, 6)).astype(np.float32)
    np.testing.assert_array_equal(on_dev.scores(x, to_numpy=True), on_cpu.scores(x))
    np.testing.assert_array_equal(on_cpu.scores(x), model.scores(x, to_numpy=True))


# -- losses and the gradient check on the device --------------------------------

@pytest.mark.parametrize("loss, scores_shape, targets", [
    (SoftmaxWithLoss(), (5, 4), np.array([0, 3, 1, 2, 3])),
    (SoftmaxWithLoss(), (5, 4), np.eye(4)[[0, 3, 1, 2, 3]]),
    (MeanSquaredError(), (5, 4), np.array([0, 3, 1, 2, 3])),
    (SigmoidWithLoss(), (5, 1), np.array([0.0, 1.0, 1.0, 0.0, 1.0])),
])
def test_losses_on_the_device_match_the_cpu_and_the_numerical_gradient(loss, scores_shape, targets, dev):
    scores = np.random.default_rng(5).standard_normal(scores_shape)
    on_cpu = loss.forward(scores, targets), loss.backward()
    value = loss.forward(dev.asarray(scores), targets)  # targets follow the scores to the device
    grad = loss.backward()
    assert device_of(grad) is dev
    assert value == pytest.approx(on_cpu[0], rel=1e-12)
    np.testing.assert_allclose(to_numpy(grad), on_cpu[1], rtol=1e-12)
    assert gradcheck(loss, dev.asarray(scores), targets).passed


def test_gradcheck_runs_in_float64_on_the_device(dev):
    model = mlp(5, [4], 3, seed=0, device=dev.name)
    report = gradcheck(model, np.random.default_rng(6).standard_normal((3, 5)),
                       np.array([0, 2, 1]), loss=SoftmaxWithLoss())
    assert report.passed, str(report)
    assert model.layers[0].W.data.dtype == np.float32  # the check worked on a float64 copy


def test_array_module_is_numpy_for_numpy_and_the_stand_in_for_its_arrays():
    DEV = standin.register()
    assert array_module(np.ones(2)) is np and array_module(3.0) is np
    assert array_module(DEV.asarray(np.ones(2))) is DEV.xp
    with pytest.raises(TypeError, match="expected a NumPy or CuPy array"):
        device_of([1, 2])


def test_numpy_subclasses_such_as_memmap_live_on_the_cpu(tmp_path):
    data = np.random.default_rng(7).standard_normal((6, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", data)
    x = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert type(x) is np.memmap and device_of(x) is CPU and is_array(x) and array_module(x) is np
    model = mlp(4, [3], 2, seed=0)
    np.testing.assert_array_equal(model.forward(x), model.forward(data))
