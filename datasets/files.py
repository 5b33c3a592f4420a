"""Files that appear whole or not at all, and the clean-up of what a killed process left.

``StagedFile`` is the one way this package writes a file others may read: a
uniquely named hidden temporary beside the target, renamed into place
(``os.replace``, atomic on one file system) only when the writer says it is
complete, and removed otherwise.  A process killed outright (SIGKILL, power
loss) cannot remove its temporary; ``remove_stale`` deletes such leftovers
once nothing has written to them for a long time.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

__all__ = ["StagedFile", "remove_stale", "STALE_AFTER_S"]

#: A temporary file nobody has written to for this long belongs to a dead writer.
STALE_AFTER_S = 3600.0


class StagedFile:
    """A temporary file beside ``target``, to be committed into place or discarded.

    >>> staged = StagedFile(Path("data/file.gz"), ".part")  # doctest: +SKIP
    >>> try:
    ...     with os.fdopen(staged.fd, "wb") as fh:
    ...         fh.write(payload)
    ...     staged.commit()        # now data/file.gz exists, complete
    ... finally:
    ...     staged.discard()       # no-op after commit; removes the temporary otherwise

    Raises ``OSError`` from the constructor when the folder is not writable.
    """

    def __init__(self, target: Path, suffix: str) -> None:
        self.target = Path(target)
        self.fd, name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.",
                                         suffix=suffix)
        self.path: Path | None = Path(name)

    def commit(self) -> Path:
        """Make the file readable to all (mkstemp gives 0600) and rename it over ``target``."""
        if self.path is None:
            raise RuntimeError(f"{self.target}: the staged file was already committed or discarded")
        os.chmod(self.path, 0o644)
        os.replace(self.path, self.target)
        self.path = None
        return self.target

    def discard(self) -> None:
        """Remove the temporary file if it was not committed; never raises."""
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


def remove_stale(folder: Path, pattern: str, older_than_s: float = STALE_AFTER_S) -> list[Path]:
    """Delete the files in ``folder`` matching ``pattern`` last modified over
    ``older_than_s`` seconds ago; return what was deleted.  Files that vanish
    or cannot be removed meanwhile are skipped: clean-up never fails a load.
    """
    removed = []
    now = time.time()
    try:
        candidates = list(Path(folder).glob(pattern))
    except OSError:
        return removed
    for path in candidates:
        try:
            if now - path.stat().st_mtime > older_than_s:
                path.unlink()
                removed.append(path)
        except OSError:
            continue
    return removed
