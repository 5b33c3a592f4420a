"""Download data set files from a list of mirrors, verified and atomically.

Each file goes to a uniquely named temporary file in the target folder and is
renamed into place (``os.replace``) only once its length and MD5 match, so an
interrupted or corrupt download never leaves a file a later run would trust,
and two processes downloading at once cannot corrupt each other's result.
A mirror that fails (refused, timeout, HTTP error, truncated, wrong checksum)
is skipped for the next one; a mirror that cannot be reached at all is not
retried for the remaining files. Each file has an overall deadline, so a
mirror that trickles bytes just fast enough to beat the per-read timeout is
given up too. A mirror's failure is reported on stderr once a later mirror
answers (at once, as a passing line, on a terminal); when every mirror
fails, the ``DownloadError`` alone says so, and the folders the download
created are removed again if they are still empty. Temporaries left by a
download that was killed outright are removed by the next download of the
same file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .files import StagedFile
from .idx import DatasetError, read_idx

__all__ = ["DownloadError", "fetch_files", "DOWNLOAD_TIMEOUT", "DOWNLOAD_DEADLINE"]

DOWNLOAD_TIMEOUT = 30.0  # seconds without progress before a mirror is given up
#: seconds one file may take from one mirror in all (about 17 kB/s for MNIST's largest file)
DOWNLOAD_DEADLINE = 600.0
_USER_AGENT = "nn-from-scratch-datasets/0.1 (+python urllib)"
_BLOCK = 1 << 16


class DownloadError(DatasetError):
    """Every mirror failed for at least one file.

    Attributes:
        tries: ``(url, reason)`` for every attempt, in order.
        missing: file names still missing from the target folder.
    """

    def __init__(self, message: str, tries: list[tuple[str, str]], missing: list[str]):
        super().__init__(message)
        self.tries = tries
        self.missing = missing


class _MirrorFailed(Exception):
    pass


class _Progress:
    """A live percentage line on a TTY; otherwise silent until ``done``."""

    def __init__(self, name: str, total: int | None):
        self.stream = sys.stderr
        self.name = name
        self.total = total
        self.live = bool(self.stream) and self.stream.isatty() and (total or 0) > 1 << 20
        self.last = 0.0

    def update(self, received: int) -> None:
        now = time.monotonic()
        if not self.live or now - self.last < 0.1:
            return
        self.last = now
        pct = 100 * received / self.total
        self.stream.write(f"\r  {self.name}: {pct:5.1f}% of {self.total / 1e6:.1f} MB")
        self.stream.flush()

    def done(self, message: str) -> None:
        if self.stream:
            self.stream.write(("\r" if self.live else "") + message + "\n")
            self.stream.flush()


class _MirrorReport:
    """One file's failed mirrors: shown on a terminal as a line that the next one
    overwrites, and printed for good only once a later mirror answers."""

    def __init__(self) -> None:
        self.stream = sys.stderr
        self.live = bool(self.stream) and self.stream.isatty()
        self.lines: list[str] = []

    def failed(self, line: str) -> None:
        self.lines.append(line)
        if self.live:
            self.stream.write(f"\r\033[K{line}")
            self.stream.flush()

    def finish(self, served: bool) -> None:
        """Clear the live line; print the failures if a later mirror answered."""
        if not self.stream:
            return
        if self.live and self.lines:
            self.stream.write("\r\033[K")
        if served and self.lines:
            self.stream.write("".join(line + "\n" for line in self.lines))
        self.stream.flush()
        self.lines = []


def _new_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _remove_if_empty(folders: list[Path]) -> None:
    """Remove the folders (deepest first) that are still empty; stop at the first that is not."""
    for path in folders:
        try:
            path.rmdir()
        except OSError:
            return


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return "timed out"
        return f"connection failed ({reason})"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def _fetch_one(url: str, name: str, md5: str | None, target_dir: Path, timeout: float,
               deadline: float, report: _MirrorReport) -> Path:
    """Download ``url`` to ``target_dir/name``; raise _MirrorFailed(reason) on any failure.

    ``report`` holds the mirrors that failed before; they are printed once
    this one answers.
    """
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    give_up = time.monotonic() + deadline
    try:
        staged = StagedFile(target_dir / name, ".part")
    except OSError as exc:  # no mirror can fix an unwritable folder
        raise DownloadError(f"cannot write into {target_dir}: {exc}", [], [name]) from exc
    try:
        digest = hashlib.md5(usedforsecurity=False)
        received = 0
        with os.fdopen(staged.fd, "wb") as out, \
                urllib.request.urlopen(request, timeout=min(timeout, deadline)) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            report.finish(served=True)
            progress = _Progress(name, total)
            # read1: whatever has arrived, so the deadline is checked between reads
            # (read(n) would wait for all n bytes of a trickle)
            while block := resp.read1(_BLOCK):
                if time.monotonic() > give_up:
                    of = "" if total is None else f" of {total}"
                    raise _MirrorFailed(f"too slow: {received + len(block)}{of} bytes after the "
                                        f"{deadline:g} s deadline")
                out.write(block)
                digest.update(block)
                received += len(block)
                progress.update(received)
        if total is not None and received != total:
            raise _MirrorFailed(f"truncated: received {received} of {total} bytes")
        if md5 is not None and digest.hexdigest() != md5:
            raise _MirrorFailed(f"checksum mismatch: md5 {digest.hexdigest()}, expected {md5}")
        if md5 is None:  # no official checksum known: at least insist on a valid IDX file
            try:
                read_idx(staged.path)
            except DatasetError as exc:
                raise _MirrorFailed(f"not a valid IDX file ({exc})") from None
        path = staged.commit()
        progress.done(f"Downloaded {name} ({received / 1e6:.1f} MB) from {url}")
        return path
    except _MirrorFailed:
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise _MirrorFailed(_describe(exc)) from None
    finally:
        staged.discard()


def fetch_files(
    names: list[str],
    mirrors: list[str],
    md5s: dict[str, str | None],
    target_dir: str | os.PathLike,
    *,
    timeout: float | None = None,
    deadline: float | None = None,
) -> dict[str, Path]:
    """Download each file from the first mirror that serves it intact.

    Args:
        names: file names (e.g. ``"train-images-idx3-ubyte.gz"``), appended to
            each mirror's base URL.
        mirrors: base URLs, tried in order.
        md5s: official MD5 per name; None means "validate the IDX structure".
        target_dir: created if needed; files appear there only once verified.
        timeout: socket timeout in seconds (default ``DOWNLOAD_TIMEOUT``):
            the longest wait for the connection or for any one read.
        deadline: the most seconds one file may take from one mirror
            (default ``DOWNLOAD_DEADLINE``), checked after every read.

    Returns:
        ``{name: path}`` for every name.

    Raises:
        DownloadError: with ``tries`` and ``missing`` when some file could not
            be fetched from any mirror (files already fetched stay, verified).

    Example:
        >>> from datasets.mnist import MNIST_MIRRORS, MNIST_MD5
        >>> fetch_files(["t10k-labels-idx1-ubyte.gz"], MNIST_MIRRORS, MNIST_MD5,
        ...             "data")  # doctest: +SKIP
        {'t10k-labels-idx1-ubyte.gz': PosixPath('data/t10k-labels-idx1-ubyte.gz')}
    """
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    deadline = DOWNLOAD_DEADLINE if deadline is None else deadline
    target_dir = Path(target_dir)
    created = _new_folders(target_dir)
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _remove_if_empty(created)
        raise DownloadError(
            f"cannot create download folder {target_dir}: {exc}", [], list(names)
        ) from exc
    tries: list[tuple[str, str]] = []
    unreachable: set[str] = set()
    fetched: dict[str, Path] = {}
    for name in names:
        report = _MirrorReport()
        for i, base in enumerate(mirrors):
            url = base if base.endswith("/") else base + "/"
            url += name
            if base in unreachable:
                tries.append((url, "skipped: mirror unreachable for an earlier file"))
                continue
            try:
                fetched[name] = _fetch_one(url, name, md5s.get(name), target_dir, timeout,
                                            deadline, report)
                break
            except _MirrorFailed as exc:
                reason = str(exc)
                tries.append((url, reason))
                if reason == "timed out" or reason.startswith(("connection failed", "too slow")):
                    unreachable.add(base)
                then = "trying the next mirror" if i + 1 < len(mirrors) else "no mirror left"
                report.failed(f"  {url}: {reason}; {then}")
            except BaseException:
                report.finish(served=False)
                raise
        else:
            report.finish(served=False)
            _remove_if_empty(created)
            missing = [n for n in names if n not in fetched]
            if not mirrors:
                tries.append(("(no mirrors configured)", "the mirror list is empty"))
            raise DownloadError(f"could not download {name}", tries, missing)
    return fetched
