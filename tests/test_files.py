"""Saved files: whole or not at all, with the user's permissions, through symbolic links,
and no temporary left behind by a writer that was killed."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datasets.files import StagedFile, check_writable
from nn import mlp
from nn.checkpoint import atomic_write

from conftest import ROOT


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    assert mode(mlp(4, [3], 2).save(tmp_path / "model.npz")) == expected
    assert mode(atomic_write(tmp_path / "plain.bin", lambda f: f.write(b"x"))) == expected


def test_replacing_a_file_keeps_its_permissions(tmp_path, umask):
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    mlp(4, [3], 2).save(path)
    assert mode(path) == 0o640 and path.read_bytes()[:2] == b"PK"


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "store" / "model.npz"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    assert mlp(4, [3], 2).save(link) == link
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes()[:2] == b"PK"
    assert sorted(p.name for p in real.parent.iterdir()) == ["model.npz"]

    dangling = tmp_path / "dangling.npz"
    dangling.symlink_to(tmp_path / "store" / "new.npz")
    mlp(4, [3], 2).save(dangling)
    assert dangling.is_symlink() and (tmp_path / "store" / "new.npz").is_file()


WRITER = """
import os, sys, time
from pathlib import Path
from datasets.files import StagedFile
staged = StagedFile(Path(sys.argv[1]), ".tmp")
os.write(staged.fd, bytes(1 << 20))
print(staged.path, flush=True)
time.sleep(60)
"""


def start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    """A process that is writing ``target``'s temporary and holds it."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    return child, Path(child.stdout.readline().strip())


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_temporaries_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    target = tmp_path / "run.npz"
    killed = []
    for _ in range(3):  # a save killed mid-way, three times
        child, temporary = start_writer(target)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert temporary.exists() and temporary.stat().st_size == 1 << 20
        age(temporary, 2)
        killed.append(temporary)
    live, live_temporary = start_writer(target)  # another process, still writing
    age(live_temporary, 3600)
    user_files = [tmp_path / ".run.npz.backup.tmp", tmp_path / "run.npz.tmp",
                  tmp_path / ".other.npz.0123456789abcdef.tmp"]
    for path in user_files:
        path.write_bytes(b"mine")
        age(path, 86400)
    try:
        mlp(4, [3], 2).save(target)
        assert not any(path.exists() for path in killed)
        assert live_temporary.exists()  # its writer holds it
        assert all(path.read_bytes() == b"mine" for path in user_files)
    finally:
        live.kill()
        live.wait()
    age(live_temporary, 2)
    mlp(4, [3], 2).save(target)  # now it is a dead writer's
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["run.npz", *(p.name for p in user_files)])


def test_a_fresh_temporary_is_never_taken_for_an_orphan(tmp_path):
    target = tmp_path / "model.npz"
    first = StagedFile(target, ".tmp")
    os.close(first.fd)
    first._unlock()  # as between a writer's create and its lock
    second = StagedFile(target, ".tmp")  # cleans the orphans of the same target
    try:
        assert first.path.exists()
    finally:
        os.close(second.fd)
        second.discard()
        first.discard()


def test_check_writable_names_the_problem(tmp_path):
    assert check_writable(tmp_path / "new" / "model.npz") == tmp_path / "new" / "model.npz"
    assert (tmp_path / "new").is_dir() and list((tmp_path / "new").iterdir()) == []
    with pytest.raises(IsADirectoryError, match=f"is a folder; name a file inside it: '{tmp_path}'"):
        check_writable(tmp_path)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OSError, match="cannot create its folder"):
        check_writable(tmp_path / "a-file" / "model.npz")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="model.npz"):
            check_writable(locked / "model.npz")
