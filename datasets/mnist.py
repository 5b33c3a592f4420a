"""MNIST and Fashion-MNIST loaders: local copy first, verified download second.

Where the four IDX files are looked for, in order (first folder holding all
four wins; ``.gz`` or uncompressed ``...-ubyte`` both count):

1. the ``data_dir`` argument, or its ``mnist/`` / ``fashion-mnist/`` subfolder;
2. ``$NN_DATA_DIR``, or its ``mnist/`` / ``fashion-mnist/`` subfolder;
3. ``<cache root>/mnist`` (or ``fashion-mnist``), the cache root being
   ``$NN_CACHE_DIR`` or ``$XDG_CACHE_HOME/nn-from-scratch`` or
   ``~/.cache/nn-from-scratch``;
4. Fashion-MNIST only: ``/usr/share/datasets/fashion-mnist`` (Debian's
   ``dataset-fashion-mnist`` package).

If none holds them and ``download=True``, the missing files are fetched from
``MNIST_MIRRORS`` / ``FASHION_MNIST_MIRRORS`` (module-level lists: change them
in place, or assign new lists to this module's attributes) into ``data_dir``
when given, else into the cache-root folder. Local files are validated by IDX
structure; the official MD5s apply to downloads only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from . import cache as _cache
from .download import DownloadError, fetch_files
from .idx import IMAGES_MAGIC, LABELS_MAGIC, DatasetError, read_idx

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "MNIST_MIRRORS",
    "FASHION_MNIST_MIRRORS",
    "MNIST_MD5",
    "FASHION_MNIST_MD5",
    "DATA_ENV",
]

DATA_ENV = "NN_DATA_DIR"

MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
FASHION_MNIST_MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
]
# Official MD5 of the published gzip files (checked on downloads only).
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_MNIST_SYSTEM_DIRS = [Path("/usr/share/datasets/fashion-mnist")]

# Stems of the four files, in the order (x_train, t_train, x_test, t_test).
FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_KEYS = ("x_train", "t_train", "x_test", "t_test")
_NUM_CLASSES = 10

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _file_in(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _complete_set(folder: Path) -> list[Path] | None:
    files = [_file_in(folder, stem) for stem in FILES]
    return files if all(files) else None


def _search_dirs(subdir: str, data_dir, system_dirs) -> list[tuple[Path, str]]:
    """Candidate folders, in priority order, each with where it came from."""
    dirs: list[tuple[Path, str]] = []
    if data_dir is not None:
        base = Path(data_dir).expanduser()
        dirs += [(base, "data_dir"), (base / subdir, "data_dir")]
    env = os.environ.get(DATA_ENV)
    if env:
        base = Path(env).expanduser()
        dirs += [(base, f"${DATA_ENV}"), (base / subdir, f"${DATA_ENV}")]
    dirs.append((_cache.cache_root() / subdir, "cache"))
    dirs += [(Path(d), "system") for d in system_dirs]
    return dirs


def _check_pair(images: np.ndarray, labels: np.ndarray, x_path: Path, t_path: Path) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DatasetError(
            f"{x_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DatasetError(f"{t_path}: expected uint8 labels of shape (N,), got {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{x_path} holds {images.shape[0]} images but {t_path} holds "
            f"{labels.shape[0]} labels; the two files do not belong together"
        )
    if labels.size and int(labels.max()) >= _NUM_CLASSES:
        bad = int(np.argmax(labels >= _NUM_CLASSES))
        raise DatasetError(
            f"{t_path}: label {int(labels[bad])} at index {bad} is outside 0..{_NUM_CLASSES - 1}"
        )


def _parse(paths: list[Path]) -> dict[str, np.ndarray]:
    arrays = {}
    for key, path in zip(_KEYS, paths):
        arrays[key] = read_idx(path, magic=IMAGES_MAGIC if key[0] == "x" else LABELS_MAGIC)
    _check_pair(arrays["x_train"], arrays["t_train"], paths[0], paths[1])
    _check_pair(arrays["x_test"], arrays["t_test"], paths[2], paths[3])
    return arrays


def _missing_message(title, dirs, target, md5s, subdir, tries=None, missing=None) -> str:
    lines = [title]
    if tries:
        lines.append("Tried:")
        lines += [f"  {url}: {reason}" for url, reason in tries]
    lines.append("Looked for local files in:")
    lines += [f"  {folder} ({origin})" for folder, origin in dirs]
    if not os.environ.get(DATA_ENV):
        lines.append(f"  (${DATA_ENV} is not set)")
    names = missing or [f"{stem}.gz" for stem in FILES]
    lines.append(f"To fix this, download these files yourself and place them in {target}:")
    lines += [f"  {name}  (official md5 {md5s.get(name)})" for name in names]
    lines.append(
        f"or put all four (.gz or uncompressed) in a folder of your choice and pass "
        f"data_dir=<folder> (--data-dir <folder> on the command line), or set the "
        f"environment variable {DATA_ENV}=<folder> "
        f"(the folder itself or a parent holding {subdir}/)."
    )
    return "\n".join(lines)


def _missing_summary(title, dirs, failure: DownloadError | None = None) -> str:
    """The one-line form of ``_missing_message`` (what a command line prints)."""
    places = ", ".join(dict.fromkeys(str(folder) for folder, _ in dirs))
    if failure is None:
        why = "and downloading was turned off"
    else:
        attempts = [reason for _, reason in failure.tries if not reason.startswith("skipped")]
        detail = f"{len(attempts)} mirrors tried, the last: {attempts[-1]}" if attempts else str(failure)
        why = f"and the download failed ({detail})"
    return (f"{title} not found in {places}, {why}; put its four IDX files (train-images, "
            f"train-labels, t10k-images, t10k-labels, .gz or not) in a folder and pass that "
            f"folder with --data-dir (data_dir= in Python) or {DATA_ENV}")


def _locate(title, subdir, data_dir, download, mirrors, md5s, system_dirs) -> list[Path]:
    dirs = _search_dirs(subdir, data_dir, system_dirs)
    for folder, _ in dirs:
        files = _complete_set(folder)
        if files:
            return files
    target = Path(data_dir).expanduser() if data_dir is not None else _cache.cache_root() / subdir
    if not download:
        message = _missing_message(f"{title} files not found (download=False).", dirs, target,
                                   md5s, subdir)
        raise DatasetError(message, summary=_missing_summary(title, dirs))
    present = {stem: _file_in(target, stem) for stem in FILES}
    wanted = [f"{stem}.gz" for stem, path in present.items() if path is None]
    try:
        fetched = fetch_files(wanted, list(mirrors), md5s, target)
    except DownloadError as exc:
        message = _missing_message(f"Could not get {title}: no complete local copy, and {exc}.",
                                   dirs, target, md5s, subdir, exc.tries, exc.missing)
        raise DatasetError(message, summary=_missing_summary(title, dirs, exc)) from None
    return [present[stem] or fetched[f"{stem}.gz"] for stem in FILES]


def _convert(arrays, normalize: bool, flatten: bool, one_hot_label: bool, dtype) -> Arrays:
    """Consumes ``arrays``: each uint8 split is released once converted (lower peak memory)."""
    out = []
    for split in ("train", "test"):
        images, labels = arrays.pop(f"x_{split}"), arrays.pop(f"t_{split}")
        n = images.shape[0]
        # explicit sizes: reshape(0, -1) of an empty set cannot infer the -1
        images = images.reshape(n, 28 * 28) if flatten else images.reshape(n, 1, 28, 28)
        if normalize:  # one pass, uint8 -> dtype, no float64 intermediate
            x = np.divide(images, dtype.type(255), dtype=dtype)
        else:
            x = images.astype(dtype, copy=False)
        if one_hot_label:
            t = np.zeros((n, _NUM_CLASSES), dtype=dtype)
            t[np.arange(n), labels] = 1
        else:
            t = labels.astype(np.int64)
        out.append((x, t))
    return out[0], out[1]


def _load(title, subdir, mirrors, md5s, system_dirs, *, normalize, flatten, one_hot_label,
          data_dir, download, dtype, cache) -> Arrays:
    dtype = np.dtype(dtype)
    if dtype.kind not in "fiu":
        raise ValueError(f"dtype must be a real numeric dtype, got {dtype}")
    if normalize and dtype.kind != "f":
        raise ValueError(f"normalize=True needs a floating dtype, got {dtype}")
    paths = _locate(title, subdir, data_dir, download, mirrors, md5s, system_dirs)
    cache_path = _cache.processed_cache_path(subdir, paths) if cache else None
    arrays = _cache.load_processed(cache_path)
    if arrays is None:
        arrays = _parse(paths)
        _cache.save_processed(cache_path, arrays)
    return _convert(arrays, normalize, flatten, one_hot_label, dtype)


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    dtype: DTypeLike = np.float32,
    cache: bool = True,
) -> Arrays:
    """Load MNIST as ``(x_train, t_train), (x_test, t_test)``.

    Args:
        normalize: scale pixels to [0, 1]; if False they keep 0..255 (in ``dtype``).
        flatten: images as ``(N, 784)``; if False, ``(N, 1, 28, 28)``.
        one_hot_label: labels as one-hot ``(N, 10)`` in ``dtype``; else int64 ``(N,)``.
        data_dir: a folder holding the four IDX files (or a parent holding
            ``mnist/``); searched first, and the download target when given.
        download: fetch missing files from ``MNIST_MIRRORS`` (MD5-verified).
        dtype: dtype of the images and one-hot labels (float32 by default).
        cache: read/write the processed ``.npz`` cache in the user cache folder.

    Returns:
        ``(x_train, t_train), (x_test, t_test)``; official MNIST has 60,000
        training and 10,000 test samples.

    Raises:
        DatasetError: files missing and not downloadable (the message lists the
            mirrors tried and which files to put where), or a corrupt file.
        ValueError: ``normalize=True`` with a non-floating dtype.

    Example:
        >>> (x_train, t_train), (x_test, t_test) = load_mnist()  # doctest: +SKIP
        >>> x_train.shape, x_train.dtype, t_train[:3]  # doctest: +SKIP
        ((60000, 784), dtype('float32'), array([5, 0, 4]))
    """
    return _load("MNIST", "mnist", MNIST_MIRRORS, MNIST_MD5, (),
                 normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                 data_dir=data_dir, download=download, dtype=dtype, cache=cache)


def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    dtype: DTypeLike = np.float32,
    cache: bool = True,
) -> Arrays:
    """Load Fashion-MNIST as ``(x_train, t_train), (x_test, t_test)``.

    Same arguments, shapes and search order as :func:`load_mnist` (subfolder
    ``fashion-mnist/``, mirrors ``FASHION_MNIST_MIRRORS``), and additionally
    looks in ``/usr/share/datasets/fashion-mnist`` (Debian package
    ``dataset-fashion-mnist``) before downloading.

    Returns:
        ``(x_train, t_train), (x_test, t_test)``: 60,000 and 10,000 samples.

    Example:
        >>> (x_train, t_train), _ = load_fashion_mnist(flatten=False)  # doctest: +SKIP
        >>> x_train.shape  # doctest: +SKIP
        (60000, 1, 28, 28)
    """
    return _load("Fashion-MNIST", "fashion-mnist", FASHION_MNIST_MIRRORS, FASHION_MNIST_MD5,
                 FASHION_MNIST_SYSTEM_DIRS,
                 normalize=normalize, flatten=flatten, one_hot_label=one_hot_label,
                 data_dir=data_dir, download=download, dtype=dtype, cache=cache)
