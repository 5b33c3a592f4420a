"""IDX files that lie: read_idx and load_mnist raise DatasetError naming the file, and
never allocate more than the file could fill.

The property-based tests generate headers and payloads (valid or not, raw or
gzip) and hold read_idx to an oracle: the array the header describes when
the file is valid, else DatasetError -- no other exception, ever.
"""

from __future__ import annotations

import gzip
import math
import struct
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasets import DatasetError, load_mnist, read_idx
from datasets import idx as idx_mod
from datasets import mnist as mnist_mod
from test_datasets import make_set

DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("NN_DATA_DIR", raising=False)
    monkeypatch.setattr(mnist_mod, "MNIST_MIRRORS", [])


def idx_bytes(dims, type_code=0x08, payload=None, zero=0) -> bytes:
    header = struct.pack(">HBB", zero, type_code, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
    if payload is None:
        payload = bytes(math.prod(dims) * DTYPES.get(type_code, np.dtype(np.uint8)).itemsize)
    return header + payload


def write(folder: Path, name: str, data: bytes, compress: bool) -> Path:
    path = folder / (name + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path


# --- the reproducers of the issue, one by one -----------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dims, match", [
    ((2**32 - 1,) * 3, "over the .*-byte limit"),              # overflows int64
    ((65536,) * 4, "over the .*-byte limit"),                  # 2**64 wraps to 0 in int64
    ((2**31, 2**31, 2), "over the .*-byte limit"),             # 2**63 wraps negative in int64
    ((0, 2**32 - 1, 2**32 - 1), "over the .*-byte limit"),     # empty, yet no array can have it
    ((60000, 28, 28), "truncated: header 60000x28x28 needs 47,040,000 data bytes"),
    ((2**31, 2), "truncated: header 2147483648x2 needs 4,294,967,296 data bytes"),
], ids=["overflow", "wraps-to-0", "wraps-negative", "zero-times-huge", "far-more-data", "4-GiB"])
def test_lying_headers_raise_before_allocating(tmp_path, dims, match, compress):
    path = write(tmp_path, "train-images-idx3-ubyte", idx_bytes(dims, payload=bytes(10)), compress)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=match) as info:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak < 1 << 20  # nothing near the claimed size was allocated


def test_too_many_dimensions(tmp_path):
    path = write(tmp_path, "x", idx_bytes((1,) * 70), compress=False)
    with pytest.raises(DatasetError, match="declares 70 dimensions"):
        read_idx(path)


def test_a_gz_inflating_past_its_claim_is_refused_without_inflating_it_all(tmp_path):
    # 10 bytes claimed, 100 MB of zeros following; the gzip trailer's CRC is broken,
    # so reading to the end would fail with a gzip error instead of this one.
    data = gzip.compress(idx_bytes((10,)) + bytes(100 << 20), compresslevel=1)
    path = tmp_path / "bomb.gz"
    path.write_bytes(data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:])
    with pytest.raises(DatasetError, match="more data than the header 10 describes"):
        read_idx(path)


def test_uncompressed_size_is_checked_exactly_before_reading(tmp_path):
    short = write(tmp_path, "short", idx_bytes((5, 4), payload=bytes(19)), compress=False)
    with pytest.raises(DatasetError, match="truncated: header 5x4 needs 20 data bytes, the file has 19"):
        read_idx(short)
    long = write(tmp_path, "long", idx_bytes((5, 4), payload=bytes(21)), compress=False)
    with pytest.raises(DatasetError, match="more data than the header 5x4 describes"):
        read_idx(long)


def test_an_empty_set_loads_flattened_and_not(tmp_path):
    folder = make_set(tmp_path / "empty", n_train=0, n_test=0)
    (x, t), (xt, tt) = load_mnist(data_dir=folder, cache=False)
    assert x.shape == (0, 784) and t.shape == (0,) and xt.shape == (0, 784)
    (x4, _), _ = load_mnist(data_dir=folder, flatten=False, one_hot_label=True, cache=False)
    assert x4.shape == (0, 1, 28, 28)


# --- generated files ---------------------------------------------------------------------

def reference(data: bytes) -> np.ndarray | None:
    """What a correct reader gives for these file bytes: the array, or None if malformed."""
    if len(data) < 4:
        return None
    zero, type_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or type_code not in DTYPES or not 1 <= ndim <= idx_mod.MAX_DIMS \
            or len(data) < 4 + 4 * ndim:
        return None
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    dtype = DTYPES[type_code]
    payload = data[4 + 4 * ndim:]
    if math.prod(max(d, 1) for d in dims) * dtype.itemsize > idx_mod.MAX_BYTES \
            or len(payload) != math.prod(dims) * dtype.itemsize:
        return None
    return np.frombuffer(payload, dtype).reshape(dims)


@st.composite
def idx_files(draw) -> bytes:
    """IDX file bytes, mostly near-valid: every header field may lie."""
    zero = draw(st.sampled_from([0, 0, 0, 0, 1, 0xFFFF]))
    type_code = draw(st.sampled_from([*DTYPES, *DTYPES, 0x00, 0x0A, 0xFF]))
    ndim = draw(st.integers(0, 4) | st.sampled_from([33, 255]))
    small = st.integers(0, 6)
    dims = draw(st.lists(small | st.sampled_from([2**16, 2**31, 2**32 - 1]), min_size=ndim,
                         max_size=ndim))
    header = struct.pack(">HBB", zero, type_code, ndim) + b"".join(struct.pack(">I", d) for d in dims)
    if draw(st.integers(0, 9)) == 0:
        header = header[:draw(st.integers(0, len(header)))]
    itemsize = DTYPES[type_code].itemsize if type_code in DTYPES else 1
    claimed = math.prod(dims) * itemsize
    exact = claimed if claimed <= 4096 else draw(st.integers(0, 64))
    size = draw(st.sampled_from([exact, exact, exact, max(exact - 1, 0), exact + 1])
                | st.integers(0, 300))
    payload = draw(st.binary(min_size=size, max_size=size)) if size <= 300 else bytes(size)
    return header + payload


def assert_reads_as(path: Path, expected: np.ndarray | None) -> None:
    try:
        got = read_idx(path)
    except DatasetError as exc:
        assert str(path) in str(exc)
        assert expected is None, f"a valid file was refused: {exc}"
        return
    assert expected is not None, f"a malformed file was read as {got.dtype} {got.shape}"
    assert got.shape == expected.shape and got.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(got, expected)


@given(idx_files(), st.booleans())
def test_generated_idx_files_read_or_raise_dataset_error(data, compress):
    with tempfile.TemporaryDirectory() as folder:
        assert_reads_as(write(Path(folder), "file-idx", data, compress), reference(data))


@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_read_or_raise_dataset_error(data, compress):
    with tempfile.TemporaryDirectory() as folder:
        assert_reads_as(write(Path(folder), "f", data, compress), reference(data))


@given(st.binary(max_size=200))
def test_random_bytes_named_gz_are_refused(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.gz"
        path.write_bytes(data)
        with pytest.raises(DatasetError) as info:
            read_idx(path)
        assert str(path) in str(info.value)


@st.composite
def damaged_gzip(draw):
    original = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    data = bytearray(gzip.compress(idx_bytes((3, 4, 5), payload=original.tobytes())))
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "append-member", "append-garbage"]))
        at = draw(st.integers(0, len(data)))
        if action == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "append-member":
            data += gzip.compress(draw(st.binary(max_size=20)))
        else:
            data += draw(st.binary(min_size=1, max_size=20))
    return bytes(data), original


@given(damaged_gzip())
def test_damaged_gzip_gives_the_original_or_dataset_error(case):
    data, original = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "f.gz"
        path.write_bytes(data)
        try:
            got = read_idx(path)
        except DatasetError as exc:
            assert str(path) in str(exc)
        else:  # a change the format tolerates (a gzip header field, an empty extra member)
            np.testing.assert_array_equal(got, original)


FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")


@given(st.sampled_from(FILES), idx_files(), st.booleans(), st.booleans())
def test_load_mnist_with_one_generated_file(which, data, compress, flatten):
    with tempfile.TemporaryDirectory() as folder:
        make_set(Path(folder), n_train=3, n_test=2)
        (Path(folder) / f"{which}.gz").unlink()
        write(Path(folder), which, data, compress)
        try:
            (x, t), (xt, tt) = load_mnist(data_dir=folder, flatten=flatten, cache=False)
        except DatasetError as exc:
            assert which in str(exc)
            return
    # what loads is a consistent data set
    assert len(x) == len(t) and len(xt) == len(tt)
    assert x.shape[1:] == ((784,) if flatten else (1, 28, 28)) and x.dtype == np.float32
    assert t.dtype == np.int64 and (t.size == 0 or 0 <= t.min() <= t.max() <= 9)
