"""Every demo run as a script: with no data and no network each data demo exits 1 with one
line (no traceback), the others still run; and with nothing set, a demo finds the shared copy
beside the repository, as the tests do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, without_network

SCRIPTS = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))


def _uses_mnist(script: Path) -> bool:
    text = script.read_text()
    return "mnist_subset(" in text or "load_mnist(" in text


def offline_env(tmp_path: Path) -> dict[str, str]:
    """No data anywhere the loader or the demos look, and every download refused at once."""
    env = without_network({k: v for k, v in os.environ.items()
                           if k not in ("NN_DATA_DIR", "XDG_CACHE_HOME")})
    env.update(NN_SHARED_DIR=str(tmp_path / "no-shared"), NN_CACHE_DIR=str(tmp_path / "cache"),
               MPLBACKEND="Agg")
    return env


def run(script: Path, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), "--quick", "--out", str(cwd / "figures"),
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_there_are_ten_demos_and_six_need_mnist():
    assert len(SCRIPTS) == 10
    assert sum(map(_uses_mnist, SCRIPTS)) == 6


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_offline_without_data(script, tmp_path):
    result = run(script, tmp_path, offline_env(tmp_path))
    assert "Traceback" not in result.stderr + result.stdout
    if not _uses_mnist(script):
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: MNIST not found in {tmp_path / 'cache' / 'mnist'}, "
                                    "and the download failed (")
    assert "--data-dir" in result.stderr and "NN_DATA_DIR" in result.stderr
    assert not (tmp_path / "cache").exists()  # a failed download leaves no empty folder


def test_a_demo_finds_the_shared_copy_beside_the_repository(tmp_path, mnist_dir):
    env = offline_env(tmp_path)
    env.pop("NN_SHARED_DIR")  # as the tests find it: ../shared unless NN_SHARED_DIR says otherwise
    if "NN_SHARED_DIR" in os.environ:
        env["NN_SHARED_DIR"] = os.environ["NN_SHARED_DIR"]
    result = run(ROOT / "examples" / "gd_regimes.py", tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "figures" / "gd_regimes.png").is_file()
    assert not (tmp_path / "cache" / "mnist").exists()  # nothing downloaded


def test_nn_data_dir_is_honoured(tmp_path, mnist_dir):
    env = offline_env(tmp_path)  # no shared copy: only what is given counts
    env["NN_DATA_DIR"] = str(mnist_dir.parent)  # a parent holding mnist/ works too
    result = run(ROOT / "examples" / "gd_regimes.py", tmp_path, env)
    assert result.returncode == 0, result.stderr
