"""Installed beside a namesake (Hugging Face's ``datasets``), ``import nn`` says so instead of
failing somewhere deep inside; and the version is one number everywhere."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

import nn
from conftest import ROOT


def _import_nn_with_first_on_path(folder: Path, code: str = "import nn") -> subprocess.CompletedProcess:
    # The stand-in goes first on sys.path, where an installed Hugging Face `datasets`
    # would sit relative to a project installed in editable mode.
    script = f"import sys; sys.path.insert(0, {str(folder)!r}); {code}"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=folder,
                          timeout=120)


def _stand_in(folder: Path, name: str) -> None:
    package = folder / name
    package.mkdir()
    # Importing it would be a bug of the check itself: it must look, not import.
    (package / "__init__.py").write_text('raise RuntimeError("the stand-in was imported")\n')


@pytest.mark.parametrize("name, culprit", [
    ("datasets", "most likely Hugging Face's `datasets` library"),
    ("layers", "most likely another installed package with the same top-level name"),
])
def test_a_namesake_first_on_the_path_is_an_explained_import_error(tmp_path, name, culprit):
    _stand_in(tmp_path, name)
    result = _import_nn_with_first_on_path(tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"ImportError: nn-from-scratch needs its own `{name}` package "
                           f"({ROOT / name}), but `import {name}` finds {tmp_path / name} instead")
    assert culprit in last and "virtual environment of its own" in last
    assert "the stand-in was imported" not in result.stderr


def test_an_already_imported_namesake_is_caught_too(tmp_path):
    package = tmp_path / "datasets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    result = _import_nn_with_first_on_path(tmp_path, "import datasets; sys.path.pop(0); import nn")
    assert result.returncode == 1
    assert f"`import datasets` finds {package} instead" in result.stderr


def test_our_own_packages_pass(tmp_path):
    result = _import_nn_with_first_on_path(tmp_path, "import nn, datasets; print(datasets.__file__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ROOT / "datasets" / "__init__.py")


def test_version_is_written_once_and_installed_as_such():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'attr = "nn._version.__version__"' in text
    parts = nn.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)
    try:
        installed = version("nn-from-scratch")
    except PackageNotFoundError:
        pytest.skip("nn-from-scratch is not installed (pip install -e .)")
    assert nn.__version__ == installed
