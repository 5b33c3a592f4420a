"""datasets/: loading real MNIST / Fashion-MNIST, IDX validation, the processed
cache, mini-batching and the train/validation split. Download tests live in
test_datasets_download.py."""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import datasets
from datasets import (
    DatasetError,
    load_fashion_mnist,
    load_mnist,
    minibatches,
    num_batches,
    read_idx,
    train_val_split,
)
from datasets import mnist as mnist_mod

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Never write to the real home, never reach the internet."""
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NN_DATA_DIR", raising=False)
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [])
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_MIRRORS", [])


@pytest.fixture(scope="module")
def mnist_f32(mnist_dir):
    return load_mnist(data_dir=mnist_dir, cache=False)


def write_idx(path: Path, magic: int, shape: tuple, payload: bytes | None = None) -> Path:
    """Write an IDX file (gzip if the name ends in .gz); payload defaults to zeros."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)
    if payload is None:
        payload = bytes(int(np.prod(shape)))
    data = header + payload
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def make_set(folder: Path, n_train: int = 6, n_test: int = 4, seed: int = 0) -> Path:
    """A small valid MNIST-format set: random pixels, labels i % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 2051, (n, 28, 28), pixels.tobytes())
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 2049, (n,), labels.tobytes())
    return folder


# --- real MNIST --------------------------------------------------------------

def test_mnist_shapes_dtypes_and_range(mnist_f32):
    (x_train, t_train), (x_test, t_test) = mnist_f32
    assert x_train.shape == (22699, 784) and x_test.shape == (10000, 784)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert t_train.shape == (22699,) and t_test.shape == (10000,)
    assert t_train.dtype == np.int64 and t_test.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert x_test.min() == 0.0 and x_test.max() == 1.0
    assert set(np.unique(t_train)) == set(range(10))


def test_mnist_first_labels_match_the_files(mnist_f32, mnist_dir):
    (_, t_train), (_, t_test) = mnist_f32
    assert t_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert t_test[:5].tolist() == [7, 2, 1, 0, 4]
    raw = read_idx(mnist_dir / "train-labels-idx1-ubyte.gz", magic=2049)
    np.testing.assert_array_equal(t_train, raw)


def test_mnist_float64_and_unnormalized(mnist_f32, mnist_dir):
    (x32, _), _ = mnist_f32
    (x64, t64), _ = load_mnist(data_dir=mnist_dir, dtype=np.float64, cache=False)
    assert x64.dtype == np.float64 and t64.dtype == np.int64
    np.testing.assert_allclose(x64, x32, atol=1e-7)
    (xraw, _), (xraw_test, _) = load_mnist(normalize=False, data_dir=mnist_dir, cache=False)
    assert xraw.dtype == np.float32 and xraw.max() == 255.0 and xraw.min() == 0.0
    np.testing.assert_array_equal(xraw, np.round(xraw))
    pixels = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz", magic=2051)
    np.testing.assert_array_equal(xraw_test, pixels.reshape(10000, 784))
    # normalized values are exactly k / 255 rounded to the dtype
    np.testing.assert_array_equal(x32, (xraw.astype(np.float64) / 255).astype(np.float32))


def test_mnist_unflattened_and_one_hot(mnist_f32, mnist_dir):
    (x_flat, t), _ = mnist_f32
    (x, t1), (x_test, t1_test) = load_mnist(flatten=False, one_hot_label=True,
                                            data_dir=mnist_dir, dtype=np.float64)
    assert x.shape == (22699, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    np.testing.assert_allclose(x.reshape(22699, 784), x_flat, atol=1e-7)
    assert t1.shape == (22699, 10) and t1_test.shape == (10000, 10)
    assert t1.dtype == np.float64
    np.testing.assert_array_equal(t1.sum(axis=1), 1.0)
    np.testing.assert_array_equal(t1.argmax(axis=1), t)


@pytest.mark.parametrize("use_parent", [False, True], ids=["folder", "parent"])
def test_mnist_via_env_var(mnist_dir, monkeypatch, use_parent):
    monkeypatch.setenv("NN_DATA_DIR", str(mnist_dir.parent if use_parent else mnist_dir))
    (x, t), (xt, tt) = load_mnist(cache=False)
    assert x.shape == (22699, 784) and tt[:5].tolist() == [7, 2, 1, 0, 4]


def test_data_dir_parent_and_uncompressed_files(mnist_dir, tmp_path, mnist_f32):
    (x_ref, t_ref), (xt_ref, _) = mnist_f32
    (x, _), _ = load_mnist(data_dir=mnist_dir.parent, cache=False)  # parent holding mnist/
    np.testing.assert_array_equal(x, x_ref)
    raw = tmp_path / "raw"
    raw.mkdir()
    for stem in FILES:
        with gzip.open(mnist_dir / f"{stem}.gz") as src, open(raw / stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    (x, t), (xt, _) = load_mnist(data_dir=raw, cache=False)
    np.testing.assert_array_equal(x, x_ref)
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(xt, xt_ref)


def test_nothing_is_written_beside_read_only_sources(mnist_dir):
    before = sorted(os.listdir(mnist_dir))
    load_mnist(data_dir=mnist_dir)  # with the processed cache
    assert sorted(os.listdir(mnist_dir)) == before


def test_missing_files_without_download_explain_what_to_do(tmp_path):
    empty = tmp_path / "empty"
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=empty, download=False)
    msg = str(info.value)
    assert "download=False" in msg and str(empty) in msg
    assert "NN_DATA_DIR" in msg and "data_dir" in msg
    for stem in FILES:
        assert f"{stem}.gz" in msg
    assert not empty.exists()


def test_bad_dtype_arguments(mnist_dir):
    with pytest.raises(ValueError, match="floating dtype"):
        load_mnist(data_dir=mnist_dir, dtype=np.uint8)
    with pytest.raises(ValueError, match="numeric dtype"):
        load_mnist(data_dir=mnist_dir, dtype=np.bool_)


def test_uint8_unnormalized_is_allowed(tmp_path):
    (x, t), _ = load_mnist(normalize=False, data_dir=make_set(tmp_path / "s"), dtype=np.uint8)
    assert x.dtype == np.uint8 and x.shape == (6, 784) and x.flags.writeable


# --- IDX validation -----------------------------------------------------------

def test_read_idx_shapes_and_big_endian_types(tmp_path):
    values = np.arange(6, dtype=">i4").reshape(2, 3)
    path = write_idx(tmp_path / "ints.idx", 0x00000C02, (2, 3), values.tobytes())
    out = read_idx(path)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [[0, 1, 2], [3, 4, 5]])
    misnamed = tmp_path / "labels-without-gz-suffix"  # gzip content, no .gz: sniffed
    misnamed.write_bytes(gzip.compress(write_idx(tmp_path / "l", 2049, (3,), b"\x01\x02\x03")
                                       .read_bytes()))
    assert read_idx(misnamed, magic=2049).tolist() == [1, 2, 3]
    short = tmp_path / "short.gz"
    short.write_bytes(gzip.compress(b"\x00\x00"))
    with pytest.raises(DatasetError, match="short.gz: file too short"):
        read_idx(short)


def test_synthetic_set_loads(tmp_path):
    (x, t), (xt, tt) = load_mnist(data_dir=make_set(tmp_path / "s"), cache=False)
    assert x.shape == (6, 784) and xt.shape == (4, 784) and t.tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "file, magic, shape, payload, match",
    [
        ("train-images-idx3-ubyte.gz", 2049, (6, 28, 28), None, "wrong magic number 2049"),
        ("train-labels-idx1-ubyte.gz", 2051, (6,), None, "wrong magic number 2051"),
        ("train-images-idx3-ubyte.gz", 2051, (6, 28, 28), bytes(5 * 784), "truncated"),
        ("train-images-idx3-ubyte.gz", 2051, (6, 28, 28), bytes(6 * 784 + 3), "more data"),
        ("t10k-labels-idx1-ubyte.gz", 2049, (3,), bytes(3), "4 images but .* 3 labels"),
        ("t10k-labels-idx1-ubyte.gz", 2049, (4,), bytes([1, 2, 10, 3]), "label 10 at index 2"),
        ("t10k-images-idx3-ubyte.gz", 2051, (4, 27, 28), bytes(4 * 27 * 28), r"\(N, 28, 28\)"),
    ],
    ids=["images-magic", "labels-magic", "truncated", "trailing", "counts", "label-range", "dims"],
)
def test_corrupt_local_files_raise_naming_the_file(tmp_path, file, magic, shape, payload, match):
    folder = make_set(tmp_path / "bad")
    write_idx(folder / file, magic, shape, payload)
    with pytest.raises(DatasetError, match=match) as info:
        load_mnist(data_dir=folder, cache=False)
    assert file in str(info.value)


@pytest.mark.parametrize("damage", ["garbage", "cut", "crc"])
def test_bad_gzip_raises_naming_the_file(tmp_path, damage):
    folder = make_set(tmp_path / "bad")
    path = folder / "train-images-idx3-ubyte.gz"
    good = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not gzip at all" * 10)
    elif damage == "cut":
        path.write_bytes(good[: len(good) // 2])
    else:  # flip a byte of the CRC32 trailer
        path.write_bytes(good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:])
    with pytest.raises(DatasetError, match="gzip") as info:
        load_mnist(data_dir=folder, cache=False)
    assert "train-images-idx3-ubyte.gz" in str(info.value)


# --- processed cache ------------------------------------------------------------

def _cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "processed").glob("*.npz"))


def _forbid_parsing(monkeypatch):
    def fail(paths):
        raise AssertionError("the IDX files were parsed; expected a processed-cache hit")
    monkeypatch.setattr(mnist_mod, "_parse", fail)


def test_second_load_is_served_from_the_cache(mnist_dir, tmp_path, monkeypatch):
    first = load_mnist(data_dir=mnist_dir)
    [cached] = _cache_files(tmp_path)
    assert cached.name.startswith("mnist-")
    _forbid_parsing(monkeypatch)
    second = load_mnist(data_dir=mnist_dir)
    for a, b in zip(first[0] + first[1], second[0] + second[1]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-arrays"])
def test_corrupt_cache_is_ignored_and_rewritten(tmp_path, damage):
    folder = make_set(tmp_path / "s")
    (x_ref, _), _ = load_mnist(data_dir=folder)
    [cached] = _cache_files(tmp_path)
    if damage == "garbage":
        cached.write_bytes(b"\x00not a zip")
    elif damage == "truncated":
        cached.write_bytes(cached.read_bytes()[:1000])
    else:
        np.savez(cached, x_train=np.zeros((2, 3)), t_train=np.zeros(2),
                 x_test=np.zeros((2, 3)), t_test=np.zeros(2))
    (x, _), _ = load_mnist(data_dir=folder)
    np.testing.assert_array_equal(x, x_ref)
    with np.load(cached) as npz:  # rewritten with the real arrays
        assert npz["x_train"].shape == (6, 28, 28) and npz["x_train"].dtype == np.uint8


def test_entries_unused_for_30_days_are_pruned_when_another_is_written(tmp_path):
    from datasets.cache import PRUNE_AFTER_S
    processed = tmp_path / "cache" / "processed"
    processed.mkdir(parents=True)
    old_time = time.time() - PRUNE_AFTER_S - 86400
    forgotten = processed / "mnist-0123456789abcdef0123.npz"       # sources changed long ago
    other_set = processed / "fashion-mnist-0123456789abcdef0123.npz"
    dead_tmp = processed / ".mnist-0123456789abcdef0123.npz.00112233445566ff.tmp"  # a killed writer's
    # files the cache never writes, however old and however alike: a user's, never touched
    users = [processed / name for name in (
        "mnist-final.npz", "mnist-0123456789abcdef012.npz", "mnist-0123456789ABCDEF0123.npz",
        "mnist-0123456789abcdef0123.npz.bak", ".mnist-notes.tmp", ".model.npz.1234.tmp",
        ".mnist-0123456789abcdef0123.npz.0011.tmp")]
    for path in (forgotten, other_set, dead_tmp, *users):
        path.write_bytes(b"old")
        os.utime(path, (old_time, old_time))
    folder = make_set(tmp_path / "s")
    load_mnist(data_dir=folder)
    assert not forgotten.exists() and not dead_tmp.exists()
    assert other_set.exists()  # another data set's entries are its own business
    assert all(path.read_bytes() == b"old" for path in users)
    assert [p.name.startswith("mnist-") for p in _cache_files(tmp_path)
            if p not in users] == [False, True]


def test_a_cache_hit_keeps_the_entry_fresh(tmp_path):
    folder = make_set(tmp_path / "s")
    load_mnist(data_dir=folder)
    [cached] = _cache_files(tmp_path)
    long_ago = time.time() - 90 * 86400
    os.utime(cached, (long_ago, long_ago))
    load_mnist(data_dir=folder)  # a hit
    assert time.time() - cached.stat().st_mtime < 3600


def test_unwritable_cache_root_falls_back_to_parsing(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NN_CACHE_DIR", str(blocker / "cache"))  # works even as root
    (x, _), _ = load_mnist(data_dir=make_set(tmp_path / "s"))
    assert x.shape == (6, 784)


def test_changed_source_invalidates_the_cache(tmp_path):
    folder = make_set(tmp_path / "s")
    _, (_, t_old) = load_mnist(data_dir=folder)
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, 2049, (4,), bytes([9, 8, 7, 6]))
    st = labels.stat()
    os.utime(labels, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    _, (_, t_new) = load_mnist(data_dir=folder)
    assert t_old.tolist() == [0, 1, 2, 3] and t_new.tolist() == [9, 8, 7, 6]


def test_concurrent_loads_share_the_cache_safely(tmp_path):
    folder = make_set(tmp_path / "s", n_train=200, n_test=50)
    results: list = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        results.append(load_mnist(data_dir=folder))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(results) == 4
    for (x, t), _ in results[1:]:
        np.testing.assert_array_equal(x, results[0][0][0])
    [cached] = _cache_files(tmp_path)  # one complete cache file, no temp files
    assert sorted(p.name for p in cached.parent.iterdir()) == [cached.name]


def test_cache_false_writes_nothing(tmp_path):
    load_mnist(data_dir=make_set(tmp_path / "s"), cache=False)
    assert not (tmp_path / "cache").exists()


# --- Fashion-MNIST ----------------------------------------------------------------

@pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_the_system_folder(monkeypatch):
    monkeypatch.setattr(mnist_mod, "FASHION_MNIST_SYSTEM_DIRS", [FASHION_DIR])
    (x, t), (xt, tt) = load_fashion_mnist(normalize=False, dtype=np.uint8, download=False)
    assert x.shape == (60000, 784) and xt.shape == (10000, 784)
    assert t.shape == (60000,) and tt.shape == (10000,) and t.dtype == np.int64
    assert t[:5].tolist() == [9, 0, 0, 3, 0] and tt[:5].tolist() == [9, 2, 1, 1, 6]
    np.testing.assert_array_equal(np.bincount(t), np.full(10, 6000))
    (x4, t4), _ = load_fashion_mnist(flatten=False, one_hot_label=True, download=False)
    assert x4.shape == (60000, 1, 28, 28) and x4.dtype == np.float32 and x4.max() == 1.0
    assert t4.shape == (60000, 10) and t4.dtype == np.float32


# --- mini-batches ---------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", [1, 3, 7, 50, 64])
@pytest.mark.parametrize("drop_last", [False, True])
def test_each_epoch_visits_every_index_once(rng, batch_size, drop_last):
    n = 50
    x = np.arange(n * 2).reshape(n, 2)
    t = np.arange(n)
    batches = list(minibatches(x, t, batch_size, rng=rng, drop_last=drop_last))
    assert len(batches) == num_batches(n, batch_size, drop_last)
    seen = np.concatenate([tb for _, tb in batches]) if batches else np.array([], int)
    for xb, tb in batches:
        np.testing.assert_array_equal(xb[:, 0], 2 * tb)  # x and t stay aligned
        assert len(tb) == batch_size or (not drop_last and tb is batches[-1][1])
    if drop_last:
        assert len(seen) == (n // batch_size) * batch_size and len(set(seen)) == len(seen)
    else:
        np.testing.assert_array_equal(np.sort(seen), t)


def test_batch_size_none_yields_the_arrays_themselves(rng):
    x, t = np.zeros((5, 3)), np.arange(5)
    [(xb, tb)] = list(minibatches(x, t, None, rng=rng))
    assert xb is x and tb is t
    assert num_batches(5, None) == 1 and num_batches(0, None) == 0


def test_batch_size_n_is_one_shuffled_batch(rng):
    t = np.arange(20)
    [(_, tb)] = list(minibatches(t, t, 20, rng=rng))
    assert sorted(tb.tolist()) == list(range(20)) and tb.tolist() != list(range(20))


def test_same_seed_same_order_new_epoch_new_order():
    t = np.arange(100)
    def epoch(gen):
        return np.concatenate([tb for _, tb in minibatches(t, t, 10, rng=gen)])
    g1, g2 = np.random.default_rng(42), np.random.default_rng(42)
    e1, e2 = epoch(g1), epoch(g1)
    np.testing.assert_array_equal(e1, epoch(g2))
    np.testing.assert_array_equal(e2, epoch(g2))
    assert not np.array_equal(e1, e2)


def test_no_shuffle_yields_views_in_order():
    x, t = np.arange(20).reshape(10, 2), np.arange(10)
    batches = list(minibatches(x, t, 4, shuffle=False))
    assert [tb.tolist() for _, tb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(np.shares_memory(xb, x) for xb, _ in batches)


def test_an_epoch_never_copies_the_whole_set(rng):
    x = np.zeros((100_000, 100), dtype=np.float32)  # 40 MB
    t = np.zeros(100_000, dtype=np.int64)
    tracemalloc.start()
    try:
        for _ in minibatches(x, t, 100, rng=rng):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes / 10, f"peak {peak} bytes for a {x.nbytes}-byte data set"


def test_out_buffers_are_reused_and_match(rng):
    x, t = np.arange(30, dtype=np.float32).reshape(10, 3), np.arange(10)
    plain = list(minibatches(x, t, 4, rng=np.random.default_rng(1)))
    bufs = (np.empty((4, 3), np.float32), np.empty(4, np.int64))
    reused = minibatches(x, t, 4, rng=np.random.default_rng(1), out=bufs)
    for (xp, tp), (xb, tb) in zip(plain, reused):
        assert np.shares_memory(xb, bufs[0]) and np.shares_memory(tb, bufs[1])
        np.testing.assert_array_equal(xb, xp)
        np.testing.assert_array_equal(tb, tp)
    with pytest.raises(ValueError, match="out buffer for x"):
        next(minibatches(x, t, 4, rng=rng, out=(np.empty((4, 3), np.float64), bufs[1])))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "8"])
def test_bad_batch_size_raises_with_the_value(bad):
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match=f"batch_size .* got {bad!r}"):
        next(minibatches(x, np.zeros(4), bad))
    with pytest.raises(ValueError, match="batch_size"):
        num_batches(4, bad)


def test_minibatches_length_mismatch():
    with pytest.raises(ValueError, match="same length, got 4 and 3"):
        next(minibatches(np.zeros((4, 2)), np.zeros(3), 2))


@pytest.mark.parametrize("n, bs, drop, expected",
                         [(10, 3, False, 4), (10, 3, True, 3), (9, 3, False, 3), (2, 5, True, 0),
                          (0, 4, False, 0), (7, 1, False, 7)])
def test_num_batches(n, bs, drop, expected):
    assert num_batches(n, bs, drop) == expected


# --- train/validation split ----------------------------------------------------------

@pytest.mark.parametrize("val_size, n_val", [(0.1, 10), (0.25, 25), (1, 1), (30, 30)])
def test_train_val_split_sizes_disjoint_aligned(val_size, n_val):
    x = np.arange(100 * 3).reshape(100, 3)
    t = np.arange(100)
    (x_tr, t_tr), (x_va, t_va) = train_val_split(x, t, val_size, seed=0)
    assert len(t_va) == n_val and len(t_tr) == 100 - n_val
    assert not set(t_tr) & set(t_va)
    np.testing.assert_array_equal(np.sort(np.concatenate([t_tr, t_va])), t)
    np.testing.assert_array_equal(x_tr[:, 0], 3 * t_tr)
    np.testing.assert_array_equal(x_va[:, 0], 3 * t_va)


def test_train_val_split_is_reproducible():
    t = np.arange(1000)
    a = train_val_split(t, t, 0.2, seed=7)[1][1]
    b = train_val_split(t, t, 0.2, seed=7)[1][1]
    c = train_val_split(t, t, 0.2, seed=8)[1][1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("bad", [0, 0.0, 1.0, 1.5, -0.1, 100, 101, -1, True, "0.1", 0.001])
def test_train_val_split_rejects_out_of_range(bad):
    t = np.arange(100)
    with pytest.raises(ValueError, match="val_size"):
        train_val_split(t, t, bad)


def test_train_val_split_length_mismatch():
    with pytest.raises(ValueError, match="same length"):
        train_val_split(np.zeros(5), np.zeros(4))


def test_public_api_is_exported():
    for name in ("load_mnist", "load_fashion_mnist", "minibatches", "num_batches",
                 "train_val_split", "DatasetError", "MNIST_MIRRORS", "FASHION_MNIST_MIRRORS",
                 "read_idx"):
        assert hasattr(datasets, name), name
    assert issubclass(DatasetError, ValueError)
    assert datasets.MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
