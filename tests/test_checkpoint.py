"""Checkpoints: save -> load gives identical predictions; bad files raise CheckpointError."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

import optimizers
from layers import Affine, LeakyReLU, ReLU, Sigmoid, Step
from losses import SoftmaxWithLoss
from nn import (CheckpointError, Sequential, Trainer, load_model, load_optimizer_state, load_weights,
                mlp)

X = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
T = np.random.default_rng(1).integers(0, 3, size=20)


def trained_model():
    model = Sequential([Affine(6, 5, init="xavier", rng=0), LeakyReLU(0.2), Affine(5, 4, init=0.05, rng=1),
                        Sigmoid(), Affine(4, 3, rng=2)])
    opt = optimizers.Adam(model.parameters(), lr=0.01)
    Trainer(model, SoftmaxWithLoss(), opt).fit(X, T, epochs=3, batch_size=5, seed=0, verbose=0)
    return model, opt


def test_save_load_gives_identical_predictions(tmp_path):
    model, _ = trained_model()
    model.eval()
    path = model.save(tmp_path / "model.npz")
    loaded = load_model(path)
    assert repr(loaded) == repr(model)
    assert not loaded.training
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    for a, b in zip(loaded.parameters(), model.parameters()):
        assert a.data.dtype == b.data.dtype and not a.grad.any()
    assert [p.name for p in loaded.parameters()] == ["W", "b"] * 3


def test_float64_models_round_trip(tmp_path):
    model = mlp(6, [4], 3, dtype=np.float64, activation_name="tanh")
    loaded = load_model(model.save(tmp_path / "m.npz"))
    assert loaded.parameters()[0].dtype == np.float64
    np.testing.assert_array_equal(loaded.forward(X.astype(np.float64)), model.forward(X.astype(np.float64)))


def test_optimizer_state_round_trip_resumes_the_same_trajectory(tmp_path):
    model, opt = trained_model()
    path = model.save(tmp_path / "m.npz", optimizer=opt, metadata={"note": "test"})
    loaded = load_model(path)
    opt2 = load_optimizer_state(optimizers.Adam(loaded.parameters(), lr=0.01), path)
    for m, o in ((model, opt), (loaded, opt2)):
        Trainer(m, SoftmaxWithLoss(), o).fit(X, T, epochs=2, batch_size=5, seed=3, verbose=0)
    for a, b in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_load_weights_into_an_existing_model(tmp_path):
    model, _ = trained_model()
    path = model.save(tmp_path / "m.npz")
    other = Sequential([Affine(6, 5, init="xavier"), LeakyReLU(0.2), Affine(5, 4, init=0.05), Sigmoid(),
                        Affine(4, 3)])
    load_weights(other, path)
    np.testing.assert_array_equal(other.forward(X), model.forward(X))
    with pytest.raises(CheckpointError, match="different architecture"):
        load_weights(mlp(6, [5], 3), path)


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    model, _ = trained_model()
    path = tmp_path / "m.npz"
    model.save(path)
    good = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == good  # the old checkpoint is intact
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_not_a_checkpoint(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(CheckpointError, match="not a checkpoint saved by model.save"):
        load_model(bad)
    plain = tmp_path / "plain.npz"
    np.savez(plain, W=np.zeros(3))
    with pytest.raises(CheckpointError, match="no header entry"):
        load_model(plain)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_model(tmp_path / "missing.npz")


def rewrite(path, target, change):
    """Copy the checkpoint at ``path`` to ``target`` with ``change(arrays, header)`` applied."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["header"]))
    change(arrays, header)
    arrays["header"] = np.array(json.dumps(header))
    np.savez(target, **arrays)
    return target


def test_missing_array_wrong_shape_and_unknown_layer(tmp_path):
    model, _ = trained_model()
    path = model.save(tmp_path / "m.npz")
    missing = rewrite(path, tmp_path / "missing.npz", lambda a, h: a.pop("param/2.W"))
    with pytest.raises(CheckpointError, match=r"parameter '2.W' is missing \(no array 'param/2.W'\)"):
        load_model(missing)
    shape = rewrite(path, tmp_path / "shape.npz", lambda a, h: a.__setitem__("param/0.b", np.zeros(7, np.float32)))
    with pytest.raises(CheckpointError, match=r"parameter '0.b' has shape \(7,\) in the checkpoint, expected \(5,\)"):
        load_model(shape)
    unknown = rewrite(path, tmp_path / "unknown.npz",
                      lambda a, h: h["config"]["layers"][1].__setitem__("class", "Swish"))
    with pytest.raises(CheckpointError, match="unknown layer class 'Swish'"):
        load_model(unknown)
    version = rewrite(path, tmp_path / "version.npz", lambda a, h: h.__setitem__("version", 99))
    with pytest.raises(CheckpointError, match="version 99 is not supported"):
        load_model(version)


def test_truncated_file(tmp_path):
    model, _ = trained_model()
    path = model.save(tmp_path / "m.npz")
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model(cut)


def test_optimizer_state_absent(tmp_path):
    model, _ = trained_model()
    path = model.save(tmp_path / "m.npz")
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_optimizer_state(optimizers.Adam(model.parameters()), path)


def test_checkpoint_never_unpickles(tmp_path):
    model, _ = trained_model()
    path = model.save(tmp_path / "m.npz")
    with zipfile.ZipFile(path) as z:
        assert all(name.endswith(".npy") for name in z.namelist())
    with np.load(path, allow_pickle=False) as z:
        assert "header" in z.files


def test_parameter_free_layers_with_config(tmp_path):
    model = Sequential([Affine(2, 2, rng=0), Step(low=-1, high=1)])
    loaded = load_model(model.save(tmp_path / "s.npz"))
    assert loaded[1].low == -1 and loaded[1].high == 1
    assert isinstance(Sequential([ReLU()]), Sequential)
