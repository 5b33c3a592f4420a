"""Hostile checkpoints: every damaged, foreign or lying file raises CheckpointError naming
the file and the field; nothing is cast silently, nothing huge is allocated, no code runs.

The property-based tests mutate a real checkpoint (its JSON header, its arrays,
its bytes) and accept only two outcomes: CheckpointError, or a model whose
weights are exactly the ones the file holds.
"""

from __future__ import annotations

import io
import json
import tempfile
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import optimizers
from layers import Affine
from losses import SoftmaxWithLoss
from nn import CheckpointError, Sequential, Trainer, load_metadata, load_model, load_weights, mlp

X = np.random.default_rng(0).standard_normal((16, 6)).astype(np.float32)
T = np.arange(16) % 3


def base_model():
    """Affine, BatchNorm (buffers), ReLU, Dropout (a generator), Affine."""
    return mlp(6, [5], 3, batchnorm=True, dropout=0.2, seed=0)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[dict[str, np.ndarray], dict, Sequential]:
    """The arrays and header of a real checkpoint with optimizer and resume state."""
    model = base_model()
    opt = optimizers.Adam(model.parameters(), lr=0.01)
    path = tmp_path_factory.mktemp("base") / "run.npz"
    Trainer(model, SoftmaxWithLoss(), opt, schedule=optimizers.StepLR(opt, 2)).fit(
        X, T, epochs=2, batch_size=4, seed=0, verbose=0, checkpoint=path,
        checkpoint_metadata={"dataset": "mnist"})
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return arrays, json.loads(str(arrays.pop("header"))), model


def write(path: Path, arrays: dict[str, np.ndarray], header, compressed: bool = False) -> Path:
    save = np.savez_compressed if compressed else np.savez
    save(path, header=np.array(header if isinstance(header, str) else json.dumps(header)), **arrays)
    return path


def changed(base, tmp_path: Path, change) -> Path:
    arrays, header, _ = base
    arrays, header = dict(arrays), json.loads(json.dumps(header))
    change(arrays, header)
    return write(tmp_path / "bad.npz", arrays, header)


def refused(path: Path, match: str) -> CheckpointError:
    with pytest.raises(CheckpointError, match=match) as info:
        load_model(path)
    assert str(path) in str(info.value)
    return info.value


# --- the reproducers of the issue -----------------------------------------------------

def test_deeply_nested_json(base, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    text = json.dumps({**base[1], "metadata": {}}).replace('"metadata": {}', f'"metadata": {{"x": {deep}}}')
    refused(write(tmp_path / "deep.npz", base[0], text), "header is damaged .*RecursionError")
    shallow_enough = "[" * 200 + "]" * 200  # parses, but deeper than a checkpoint ever is
    text = json.dumps({**base[1], "metadata": {}}).replace('"metadata": {}', f'"metadata": {{"x": {shallow_enough}}}')
    refused(write(tmp_path / "deep2.npz", base[0], text), "nested more than 64 levels")


def test_header_that_is_a_list(base, tmp_path):
    refused(write(tmp_path / "list.npz", base[0], [base[1]]), "header is a JSON list, expected an object")


@pytest.mark.parametrize("key", ["parameters", "buffers", "class", "config"])
def test_missing_header_fields(base, tmp_path, key):
    refused(changed(base, tmp_path, lambda a, h: h.pop(key)), f"has no '{key}' field")


@pytest.mark.parametrize("value", [["Sequential"], {"a": 1}, 3, None])
def test_unhashable_or_odd_class_names(base, tmp_path, value):
    refused(changed(base, tmp_path, lambda a, h: h.__setitem__("class", value)),
            "field 'class' must be a class name")


@pytest.mark.parametrize("name, value, match", [
    ("in_features", 10**12, r"parameter '0.W' has shape \(6, 5\) in the checkpoint, expected "
                            r"\(1000000000000, 5\)|do not match"),
    ("in_features", -3, "in_features must be a positive integer"),
    ("out_features", "5", "out_features must be a positive integer"),
])
def test_absurd_configs_are_refused_before_allocating(base, tmp_path, name, value, match):
    path = changed(base, tmp_path, lambda a, h: h["config"]["layers"][0]["config"].__setitem__(name, value))
    tracemalloc.start()
    try:
        refused(path, match)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_a_config_claiming_what_the_file_stores_cannot_allocate_more(base, tmp_path):
    # a header made consistent with a huge layer: the arrays' own .npy headers then lie
    def huge(arrays, header):
        header["config"]["layers"][0]["config"]["in_features"] = 10**12
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                                   "shape": (10**12, 5)})
        arrays["param/0.W"] = buf.getvalue()
    arrays, header, _ = base
    arrays, header = dict(arrays), json.loads(json.dumps(header))
    huge(arrays, header)
    raw_w = arrays.pop("param/0.W")
    path = write(tmp_path / "huge.npz", arrays, header)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("param/0.W.npy", raw_w + bytes(64))
    tracemalloc.start()
    try:
        refused(path, r"parameter '0.W' claims 20,000,000,000,000 bytes .* holds at most")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_buffer_of_the_wrong_shape(base, tmp_path):
    refused(changed(base, tmp_path, lambda a, h: a.__setitem__("buffer/1.running_var", np.ones(7, np.float32))),
            r"buffer '1.running_var' has shape \(7,\) in the checkpoint, expected \(5,\)")


@pytest.mark.parametrize("dtype, match", [
    (np.complex64, "parameter '0.W' must be float32 or float64, the file holds complex64"),
    (np.int32, "parameter '0.W' must be float32 or float64, the file holds int32"),
    (np.float16, "parameter '0.W' must be float32 or float64, the file holds float16"),
    (np.float64, "parameter '0.W' is float64 in the checkpoint, the model's is float32"),
])
def test_no_silent_casts(base, tmp_path, dtype, match):
    path = changed(base, tmp_path, lambda a, h: a.__setitem__("param/0.W", a["param/0.W"].astype(dtype)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning either
        refused(path, match)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(base, tmp_path, value):
    def poison(arrays, header):
        w = arrays["param/1.gamma"].copy()
        w[3] = value
        arrays["param/1.gamma"] = w
    refused(changed(base, tmp_path, poison), r"parameter '1.gamma' holds 1 non-finite value\(s\)")


def test_object_arrays_are_never_unpickled(base, tmp_path):
    path = changed(base, tmp_path, lambda a, h: a.__setitem__("param/0.b", np.array([object()] * 5)))
    refused(path, "parameter '0.b' must be float32 or float64, the file holds object")


@pytest.mark.parametrize("damage", ["flip", "cut", "crc"])
def test_damaged_compressed_members(base, tmp_path, damage):
    path = write(tmp_path / "z.npz", base[0], base[1], compressed=True)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("param/0.W.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    if damage == "flip":  # inside the deflate stream: zlib.error
        data[start + 20] ^= 0xFF
    elif damage == "cut":  # a stream that stops: EOFError
        data[start + 10:start + info.compress_size] = b""
        path.write_bytes(bytes(data))
        with pytest.raises(CheckpointError) as info_:
            load_model(path)
        assert str(path) in str(info_.value)
        return
    else:  # the CRC-32 of its central directory entry (16 bytes in; the name at 46): BadZipFile
        name_at = data.find(b"param/0.W.npy", data.find(b"PK\x01\x02"))
        data[name_at - 46 + 16] ^= 0xFF
    path.write_bytes(bytes(data))
    refused(path, "parameter '0.W' is damaged|header is damaged")


def test_optimizer_state_must_be_whole(base, tmp_path):
    import optimizers as opt_module
    from nn import load_optimizer_state
    path = changed(base, tmp_path, lambda a, h: h["optimizer"]["state"][0].pop("exp_avg"))
    model = base_model()
    with pytest.raises(CheckpointError, match=r"optimizer state of parameter 0 holds \['exp_avg_sq'\], "
                                              r"Adam keeps \['exp_avg', 'exp_avg_sq'\]"):
        load_optimizer_state(opt_module.Adam(model.parameters()), path)


def test_text_from_the_file_is_shown_escaped_on_one_line(base, tmp_path):
    path = changed(base, tmp_path, lambda a, h: h["config"]["layers"][3]["config"].__setitem__(
        "\x1b[31mred\nline", 1))
    error = refused(path, "cannot rebuild the architecture")
    assert "\n" not in str(error) and "\x1b" not in str(error) and "\\x1b[31mred\\nline" in str(error)


def test_load_weights_and_metadata_are_checked_too(base, tmp_path):
    path = changed(base, tmp_path, lambda a, h: a.__setitem__("param/0.W", a["param/0.W"].astype(np.complex64)))
    with pytest.raises(CheckpointError, match="must be float32 or float64"):
        load_weights(base_model(), path)
    bad_meta = changed(base, tmp_path, lambda a, h: h.__setitem__("metadata", [1, 2]))
    with pytest.raises(CheckpointError, match="field 'metadata' must be an object"):
        load_metadata(bad_meta)


# --- generated damage -------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([10**12, -1, 0, 1, 5])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


@st.composite
def mutated_headers(draw, header):
    header = json.loads(json.dumps(header))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(header))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "number"]))
        if not path:
            header = [header] if action == "wrap" else draw(json_values)
            if not isinstance(header, dict):
                break
            continue
        parent = header
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "delete":
            del parent[key]
        elif action == "wrap":
            parent[key] = [parent[key]]
        elif action == "number":
            parent[key] = draw(st.sampled_from([0, -1, 10**12, 2**63, 1.5, float("nan"), True]))
        else:
            parent[key] = draw(json_values)
    return header


def assert_loads_or_refuses(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """CheckpointError naming the file, or a model holding exactly the file's arrays."""
    try:
        model = load_model(path)
    except CheckpointError as exc:
        assert str(path) in str(exc)
        return
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, arrays[f"param/{name}"])
        assert p.data.dtype == arrays[f"param/{name}"].dtype.newbyteorder("=")  # any byte order


def _check_header(base, header):
    arrays, _, _ = base
    with tempfile.TemporaryDirectory() as folder:
        assert_loads_or_refuses(write(Path(folder) / "m.npz", arrays, header), arrays)


@given(st.data())
def test_mutated_headers_load_or_raise_checkpoint_error(base, data):
    _check_header(base, data.draw(mutated_headers(base[1])))


@given(st.data())
def test_mutated_layer_configs_load_or_raise_checkpoint_error(base, data):
    header = json.loads(json.dumps(base[1]))
    layer = data.draw(st.integers(0, len(header["config"]["layers"]) - 1))
    header["config"]["layers"][layer] = data.draw(mutated_headers(header["config"]["layers"][layer]))
    _check_header(base, header)


arrays_strategy = st.sampled_from(["float32", "float64", "float16", "int8", "int64", "complex64",
                                   "bool", "<U3", ">f4", ">f8"]).flatmap(
    lambda dtype: st.tuples(st.just(dtype), st.lists(st.integers(0, 7), max_size=3),
                            st.sampled_from([0.0, 1.0, np.nan, np.inf, -1e38]), st.booleans()))


@given(st.data())
def test_replaced_arrays_load_or_raise_checkpoint_error(base, data):
    arrays, header, _ = base
    arrays = dict(arrays)
    names = sorted(arrays)
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(names))
        dtype, shape, fill, fortran = data.draw(arrays_strategy)
        if data.draw(st.booleans()) and name in arrays:  # the original's shape: the subtler case
            shape = list(arrays[name].shape)
        with np.errstate(over="ignore"):  # -1e38 in float16 is -inf: one more bad value
            value = np.full(shape, fill if np.dtype(dtype).kind in "fc" else 1).astype(dtype)
        arrays[name] = np.asfortranarray(value) if fortran else value
        if data.draw(st.integers(0, 5)) == 0:
            del arrays[name]
    with tempfile.TemporaryDirectory() as folder:
        assert_loads_or_refuses(write(Path(folder) / "m.npz", arrays, header), arrays)


@pytest.fixture(scope="module")
def base_bytes(base, tmp_path_factory) -> dict[bool, bytes]:
    folder = tmp_path_factory.mktemp("bytes")
    return {compressed: write(folder / f"{compressed}.npz", base[0], base[1], compressed).read_bytes()
            for compressed in (False, True)}


@given(st.data())
def test_damaged_bytes_load_or_raise_checkpoint_error(base, base_bytes, data):
    compressed = data.draw(st.booleans())
    raw = bytearray(base_bytes[compressed])
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "flip", "cut", "insert", "zero-run"]))
        at = data.draw(st.integers(0, len(raw) - 1))
        if action == "flip":
            raw[at] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del raw[at:at + data.draw(st.integers(1, 64))]
        elif action == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            raw[at:at + 16] = bytes(16)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.npz"
        path.write_bytes(bytes(raw))
        assert_loads_or_refuses(path, base[0])


@given(st.data())
def test_resuming_from_a_mutated_run_continues_or_raises_checkpoint_error(base, data):
    arrays, header, _ = base
    header = json.loads(json.dumps(header))
    part = data.draw(st.sampled_from(["resume", "resume", "optimizer", None]))
    if part is None:
        header = data.draw(mutated_headers(header))
    else:
        header[part] = data.draw(mutated_headers(header[part]))
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder) / "run.npz", arrays, header)
        model = base_model()
        opt = optimizers.Adam(model.parameters(), lr=0.01)
        trainer = Trainer(model, SoftmaxWithLoss(), opt, schedule=optimizers.StepLR(opt, 2))
        try:
            history = trainer.fit(X, T, epochs=3, batch_size=4, verbose=0, resume=path)
        except CheckpointError as exc:
            assert str(path) in str(exc)
        else:
            assert len(history) == 3 or history.stop_reason


def test_a_model_built_from_config_never_exceeds_what_is_stored(base):
    """The shapes each layer declares are the shapes it builds (the loader's bound)."""
    model = base[2]
    shapes = type(model).parameter_shapes(json.loads(json.dumps(model.config())))
    built = {name: p.shape for name, p in model.named_parameters()}
    built.update({name: v.shape for name, v in model.buffers().items()})
    assert shapes == built
    assert Affine.parameter_shapes({"in_features": 10**12, "out_features": 3})["W"] == (10**12, 3)
