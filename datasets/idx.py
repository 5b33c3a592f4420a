"""Read IDX files (the MNIST container format), gzip-compressed or not.

An IDX file is a big-endian header -- two zero bytes, a type code, the number
of dimensions, then one uint32 per dimension -- followed by the raw array.
MNIST images have magic 2051 (``0x00000803``: uint8, 3 dims), labels 2049
(``0x00000801``: uint8, 1 dim).
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DatasetError", "read_idx", "IMAGES_MAGIC", "LABELS_MAGIC"]

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049

# IDX type code -> big-endian NumPy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CHUNK = 1 << 20  # decompress in 1 MiB steps straight into the result array
_GZIP_MAGIC = b"\x1f\x8b"
#: the largest array ``read_idx`` reads (MNIST's largest file holds 47 MB)
MAX_BYTES = 1 << 32
#: more dimensions than any IDX file has; NumPy itself stops at 64
MAX_DIMS = 32
# Deflate cannot compress better than about 1032:1, so a gzip file of n bytes
# inflates to at most this many times n: a header claiming more is a lie.
_MAX_INFLATE = 1032


class DatasetError(ValueError):
    """A data set file is missing, corrupt, or could not be downloaded.

    ``str(error)`` is the whole explanation, possibly several lines;
    ``error.summary`` says the same in one line, for a command line's error.
    """

    def __init__(self, message: str, summary: str | None = None) -> None:
        super().__init__(message)
        self._summary = summary

    @property
    def summary(self) -> str:
        """One line: the given summary, else the message's lines joined."""
        if self._summary:
            return self._summary
        return " ".join(line.strip() for line in str(self).splitlines() if line.strip())


def _read_exact(stream, buf: memoryview) -> int:
    """Fill ``buf`` from ``stream``; return how many bytes were read (short at EOF)."""
    pos = 0
    total = len(buf)
    while pos < total:
        n = stream.readinto(buf[pos:pos + _CHUNK])
        if not n:
            break
        pos += n
    return pos


def _read_stream(stream, name: str, magic: int | None, room: int, exact: bool) -> np.ndarray:
    """Parse one IDX stream whose payload can be at most ``room`` bytes (exactly that if ``exact``)."""
    header = stream.read(4)
    if len(header) < 4:
        raise DatasetError(f"{name}: file too short for an IDX header ({len(header)} bytes)")
    zero, type_code, ndim = struct.unpack(">HBB", header)
    found_magic = int.from_bytes(header, "big")
    if magic is not None and found_magic != magic:
        raise DatasetError(
            f"{name}: wrong magic number {found_magic} (0x{found_magic:08x}), "
            f"expected {magic} (0x{magic:08x}); is this the right file?"
        )
    if zero != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(f"{name}: not an IDX file (header bytes {header.hex()})")
    if ndim > MAX_DIMS:
        raise DatasetError(f"{name}: the header declares {ndim} dimensions, more than the "
                           f"{MAX_DIMS} an IDX file may have here; the file is corrupt")
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DatasetError(f"{name}: truncated IDX header (expected {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", dims_raw)
    dtype = _IDX_DTYPES[type_code]
    shown = "x".join(map(str, shape))
    # Python integers: a product that overflows int64 cannot wrap to a small size.
    expected = math.prod(shape) * dtype.itemsize
    if math.prod(max(d, 1) for d in shape) * dtype.itemsize > MAX_BYTES:
        raise DatasetError(
            f"{name}: the header claims a {shown} array of {dtype.name}, over the "
            f"{MAX_BYTES:,}-byte limit (datasets.idx.MAX_BYTES); the file is corrupt"
        )
    room -= 4 + 4 * ndim
    # Checked before allocating: a lying header never costs more memory than the file could fill.
    if expected > room:
        raise DatasetError(
            f"{name}: truncated: header {shown} needs {expected:,} data bytes, the file "
            f"{'has' if exact else 'can hold at most'} {max(room, 0):,}"
        )
    if exact and expected < room:
        raise DatasetError(
            f"{name}: more data than the header {shown} describes ({expected} bytes); "
            f"the file is corrupt or not this format"
        )

    data = np.empty(expected, dtype=np.uint8)
    got = _read_exact(stream, memoryview(data))
    if got < expected:
        raise DatasetError(
            f"{name}: truncated: header {shown} needs {expected} data bytes, file has {got}"
        )
    if stream.read(1):  # one byte past the claim is enough: the rest is never inflated
        raise DatasetError(
            f"{name}: more data than the header {shown} describes "
            f"({expected} bytes); the file is corrupt or not this format"
        )
    out = data.view(dtype).reshape(shape)
    if dtype.byteorder == ">":
        out = out.astype(dtype.newbyteorder("="))
    return out


def read_idx(path: str | os.PathLike, *, magic: int | None = None) -> np.ndarray:
    """Read one IDX file into a NumPy array, checking its structure.

    Gzip files (name ending in ``.gz``, or starting with the gzip magic bytes)
    are decompressed on the fly, in chunks, straight into the result: no
    full-size intermediate copy.

    Args:
        path: the ``.gz`` or uncompressed IDX file.
        magic: the magic number the file must carry (``IMAGES_MAGIC`` = 2051,
            ``LABELS_MAGIC`` = 2049), or None to accept any IDX type.

    Returns:
        A writable array with the shape from the header (e.g. ``(N, 28, 28)``
        uint8 for MNIST images, ``(N,)`` uint8 for labels), native byte order.

    Raises:
        DatasetError: naming the file, for a bad gzip stream, a wrong magic
            number, a header claiming more data than the file holds (checked
            before allocating, as is the ``MAX_BYTES`` limit), a truncated
            file, or trailing bytes after the data (a ``.gz`` is not inflated
            past its claim).
        FileNotFoundError: the file does not exist.

    Example:
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz", magic=LABELS_MAGIC)  # doctest: +SKIP
        >>> labels.shape, labels.dtype  # doctest: +SKIP
        ((10000,), dtype('uint8'))
    """
    path = Path(path)
    name = str(path)
    try:
        with open(path, "rb") as raw:
            st = os.fstat(raw.fileno())
            regular = stat.S_ISREG(st.st_mode)
            # a raw IDX file starts with 00 00, gzip with 1f 8b: sniff, so misnamed files work
            if path.name.endswith(".gz") or raw.read(2) == _GZIP_MAGIC:
                raw.seek(0)
                room = _MAX_INFLATE * st.st_size if regular else MAX_BYTES
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _read_stream(stream, name, magic, room, exact=False)
            raw.seek(0)
            return _read_stream(raw, name, magic, st.st_size if regular else MAX_BYTES,
                                exact=regular)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DatasetError(f"{name}: corrupt or truncated gzip data ({exc})") from exc
