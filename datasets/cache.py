"""The user cache folder and the processed (``.npz``) cache of parsed arrays.

Parsing the gzip IDX files costs a decompression on every load; the processed
cache stores the four uint8 arrays uncompressed, keyed by the source files'
path, size and modification time, so that a changed source misses the cache.
Every cache failure (read-only folder, corrupt or foreign file) is a miss,
never an error: the caller falls back to parsing the sources. Entries whose
sources changed are never hit again; they are removed once unused for 30 days.
Pruning touches only names of the exact form the cache writes
(``<data set>-<20 hex digits>.npz`` and their temporaries): any other file in
the folder is left alone, however old.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

import numpy as np

from .files import StagedFile, remove_orphans, remove_stale, temporary_names

__all__ = ["cache_root", "processed_cache_path", "load_processed", "save_processed"]

log = logging.getLogger(__name__)

CACHE_ENV = "NN_CACHE_DIR"
_FORMAT_VERSION = 1
_KEYS = ("x_train", "t_train", "x_test", "t_test")
#: processed entries not loaded for this long are removed when another one is written.
PRUNE_AFTER_S = 30 * 86400
_DIGEST_HEX = 20


def _entry_names(name: str) -> str:
    """A regular expression for the file names of ``name``'s processed entries."""
    return rf"{re.escape(name)}-[0-9a-f]{{{_DIGEST_HEX}}}\.npz"


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
    return cache_root() / "processed" / f"{name}-{digest.hexdigest()[:_DIGEST_HEX]}.npz"


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
    try:  # a used entry is a fresh entry: pruning goes by the time of last use
        os.utime(path)
    except OSError:
        pass
    return arrays


def save_processed(path: Path | None, arrays: dict[str, np.ndarray]) -> bool:
    """Write the arrays atomically (temp file + ``os.replace``); False if it failed.

    Then prune: entries for the same data set not used for ``PRUNE_AFTER_S``
    (their sources moved or changed long ago) and the temporaries of writers
    that were killed.
    """
    if path is None:
        return False
    staged = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = StagedFile(path, ".tmp")
        with os.fdopen(staged.fd, "wb") as fh:
            np.savez(fh, **{key: arrays[key] for key in _KEYS})
        staged.commit()
    except OSError as exc:  # read-only or full cache folder: run without the cache
        log.debug("cannot write processed cache %s: %s", path, exc)
        return False
    finally:
        if staged is not None:
            staged.discard()
    entries = _entry_names(path.name.rsplit("-", 1)[0])
    for old in remove_stale(path.parent, re.compile(entries), PRUNE_AFTER_S):
        log.debug("removed processed cache %s, unused for %d days", old, PRUNE_AFTER_S // 86400)
    remove_orphans(path.parent, temporary_names(entries, ".tmp"))
    return True
