"""The README's Python examples run as written (against the shared MNIST copy)."""

from __future__ import annotations

import importlib.util
import re

import pytest

from conftest import MNIST_DIR, ROOT

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
OPTIONAL = ("sklearn", "joblib", "distributed", "dask")  # extras; CI installs them, so there these blocks run


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    imported = re.findall(r"^(?:from|import) (\w+)", BLOCKS[index], flags=re.M)
    if re.search(r"n_jobs=(?!1\b)", BLOCKS[index]):  # trials on worker processes: joblib
        imported.append("joblib")
    for name in set(imported) & set(OPTIONAL):
        if importlib.util.find_spec(name) is None:
            pytest.skip(f"the example needs {name}, an optional extra that is not installed")
    monkeypatch.chdir(tmp_path)  # files the example writes land here
    code = BLOCKS[index].replace('"../shared/datasets/mnist"', repr(str(MNIST_DIR)))
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})
    capsys.readouterr()
