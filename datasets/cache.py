"""The user cache folder and the processed (``.npz``) cache of parsed arrays.

Parsing the gzip IDX files costs a decompression on every load; the processed
cache stores the four uint8 arrays uncompressed, keyed by the source files'
path, size and modification time, so that a changed source misses the cache.
Every cache failure (read-only folder, corrupt or foreign file) is a miss,
never an error: the caller falls back to parsing the sources.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["cache_root", "processed_cache_path", "load_processed", "save_processed"]

log = logging.getLogger(__name__)

CACHE_ENV = "NN_CACHE_DIR"
_FORMAT_VERSION = 1
_KEYS = ("x_train", "t_train", "x_test", "t_test")


def cache_root() -> Path:
    """The cache root: ``$NN_CACHE_DIR``, else ``$XDG_CACHE_HOME/nn-from-scratch``,
    else ``~/.cache/nn-from-scratch``. Read on every call, never inside the package.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "nn-from-scratch"


def processed_cache_path(name: str, sources: list[Path]) -> Path | None:
    """Where the processed arrays for these source files live, or None if a source
    cannot be stat'ed. The file name changes whenever a source's resolved path,
    size or mtime changes.
    """
    digest = hashlib.sha256(f"v{_FORMAT_VERSION}|{name}".encode())
    try:
        for src in sources:
            st = src.stat()
            digest.update(f"|{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    except OSError:
        return None
    return cache_root() / "processed" / f"{name}-{digest.hexdigest()[:20]}.npz"


def _plausible(arrays: dict[str, np.ndarray]) -> bool:
    """Cheap structural check so a foreign or damaged cache is never trusted."""
    for split in ("train", "test"):
        x, t = arrays[f"x_{split}"], arrays[f"t_{split}"]
        if x.dtype != np.uint8 or t.dtype != np.uint8 or x.ndim != 3 or t.ndim != 1:
            return False
        if x.shape[0] != t.shape[0] or x.shape[1:] != (28, 28):
            return False
        if t.size and int(t.max()) > 9:
            return False
    return True


def load_processed(path: Path | None) -> dict[str, np.ndarray] | None:
    """The cached uint8 arrays, or None on a miss (absent, unreadable, corrupt)."""
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in _KEYS}
    except Exception as exc:  # any damage to the cache is just a miss
        log.debug("ignoring unreadable processed cache %s: %s", path, exc)
        return None
    if not _plausible(arrays):
        log.debug("ignoring implausible processed cache %s", path)
        return None
    return arrays


def save_processed(path: Path | None, arrays: dict[str, np.ndarray]) -> bool:
    """Write the arrays atomically (temp file + ``os.replace``); False if it failed."""
    if path is None:
        return False
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **{key: arrays[key] for key in _KEYS})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError as exc:  # read-only or full cache folder: run without the cache
        log.debug("cannot write processed cache %s: %s", path, exc)
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
