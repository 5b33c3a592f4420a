"""Files that appear whole or not at all, and the clean-up of what a killed writer left.

``StagedFile`` is the one way this project writes a file others may read
(downloads, the processed cache, checkpoints, plots): a hidden temporary
``.<name>.<16 hex digits><suffix>`` beside the target, renamed into place
(``os.replace``, atomic on one file system) only when the writer says it is
complete, and removed otherwise.  The finished file gets the permissions a
new file gets under the user's umask, or keeps those of the file it replaces;
a target that is a symbolic link is written through (the link stays, the file
it points to is replaced).

A process killed outright (SIGKILL, power loss) cannot remove its temporary.
While it lives, a writer holds an exclusive ``flock`` on its temporary; the
next ``StagedFile`` for the same target removes the temporaries nobody holds
any more.  Only names of exactly that form are ever removed.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: fall back to the age of a temporary
    fcntl = None  # type: ignore[assignment]

__all__ = ["StagedFile", "check_writable", "remove_orphans", "remove_stale", "temporary_names",
           "STALE_AFTER_S"]

#: Without ``flock`` (not POSIX), a temporary nobody has written to for this long is orphaned.
STALE_AFTER_S = 3600.0
#: A temporary is created before its writer locks it: one this fresh is never removed.
_GRACE_S = 1.0
_TOKEN_HEX = 16


def temporary_names(target: str, suffix: str) -> re.Pattern[str]:
    """The exact names ``StagedFile`` gives the temporaries of targets named by the
    regular expression ``target`` (``re.escape(name)`` for one file)."""
    return re.compile(rf"\.(?:{target})\.[0-9a-f]{{{_TOKEN_HEX}}}{re.escape(suffix)}")


def _resolve(target: Path) -> Path:
    """The file a write to ``target`` must replace: through symbolic links, absolute."""
    return Path(os.path.realpath(target))


class StagedFile:
    """A temporary file beside ``target``, to be committed into place or discarded.

    >>> staged = StagedFile(Path("data/file.gz"), ".part")  # doctest: +SKIP
    >>> try:
    ...     with os.fdopen(staged.fd, "wb") as fh:
    ...         fh.write(payload)
    ...     staged.commit()        # now data/file.gz exists, complete
    ... finally:
    ...     staged.discard()       # no-op after commit; removes the temporary otherwise

    The folder must exist. Raises ``OSError`` from the constructor when it is
    not writable, naming ``target`` rather than the temporary.
    """

    def __init__(self, target: Path, suffix: str) -> None:
        self.target = Path(target)
        real = _resolve(self.target)
        self.suffix = suffix
        remove_orphans(real.parent, temporary_names(re.escape(real.name), suffix))
        path = real.parent / f".{real.name}.{secrets.token_hex(_TOKEN_HEX // 2)}{suffix}"
        try:
            # 0o666: the umask decides, as for any new file (mkstemp would force 0600)
            self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                              0o666)
        except OSError as exc:
            raise type(exc)(exc.errno, exc.strerror, str(self.target)) from None
        self.path: Path | None = path
        self._lock_fd: int | None = None
        try:
            if fcntl is not None:
                # a duplicate keeps the lock after the writer closes ``fd``, until commit
                self._lock_fd = os.dup(self.fd)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                mode = stat.S_IMODE(os.stat(real).st_mode)
            except OSError:
                mode = None
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(self.fd, mode)  # replacing a file keeps its permissions
        except BaseException:
            os.close(self.fd)
            self.discard()
            raise

    def commit(self) -> Path:
        """Rename the complete file over the target; returns the target as given."""
        if self.path is None:
            raise RuntimeError(f"{self.target}: the staged file was already committed or discarded")
        real = _resolve(self.target)
        os.replace(self.path, real)
        self.path = None
        self._unlock()
        _sync_folder(real.parent)
        return self.target

    def discard(self) -> None:
        """Remove the temporary file if it was not committed; never raises."""
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _sync_folder(folder: Path) -> None:
    """Make a rename durable (best effort: not every system can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _orphaned(path: Path) -> bool:
    """True if no live process writes ``path``."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if fcntl is None:
        return age > STALE_AFTER_S
    if age < _GRACE_S:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its writer holds it
    finally:
        os.close(fd)
    return True


def remove_orphans(folder: Path, name: re.Pattern[str]) -> list[Path]:
    """Delete the files in ``folder`` whose whole name matches ``name`` and whose
    writer is gone; return what was deleted.  Never fails: clean-up is a courtesy.
    """
    return [path for path in _matching(folder, name) if _orphaned(path) and _unlink(path)]


def remove_stale(folder: Path, name: re.Pattern[str], older_than_s: float) -> list[Path]:
    """Delete the files in ``folder`` whose whole name matches ``name`` and that were
    last modified over ``older_than_s`` seconds ago; return what was deleted.
    """
    now = time.time()
    removed = []
    for path in _matching(folder, name):
        try:
            old = now - path.lstat().st_mtime > older_than_s
        except OSError:
            continue
        if old and _unlink(path):
            removed.append(path)
    return removed


def _matching(folder: Path, name: re.Pattern[str]) -> list[Path]:
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    return [Path(folder) / entry for entry in entries if name.fullmatch(entry)]


def _unlink(path: Path) -> bool:
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return False
        path.unlink()
        return True
    except OSError:
        return False


def check_writable(path: str | os.PathLike, what: str = "file") -> Path:
    """Make sure a file can be written at ``path`` later, before any work is done.

    Creates missing parent folders (as the write would) and a temporary file
    there, which is removed again.  Returns ``path`` as a ``Path``.

    Raises:
        IsADirectoryError: ``path`` is a folder.
        OSError: the folder cannot be created or written to (the message names ``path``).
    """
    path = Path(path)
    real = _resolve(path)
    if real.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"is a folder; name a {what} inside it", str(path))
    if real.exists() and not real.is_file():
        raise OSError(errno.EINVAL, f"is not a regular file; name a {what}", str(path))
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot create its folder ({exc.strerror})", str(path)) from None
    staged = StagedFile(path, ".tmp")
    os.close(staged.fd)
    staged.discard()
    return path
