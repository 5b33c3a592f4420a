"""Every command and Python block of README.md and README.ko.md runs as a new user would run it.

What runs, in the order of the document, in one scratch folder that stands for the clone
(``../shared`` beside it, ``examples/`` and ``benchmarks/`` linked in, so files the commands
write land there and not in the repository):

* each command of a fenced ``bash``/``sh``/``shell``/``console`` block (a line, with its
  ``\\`` continuations; comment lines skipped);
* each inline code span that starts with ``python `` (the commands in the tables and prose);
* each fenced ``python`` block, in this process, in a fresh namespace.

Commands run through ``bash`` with this interpreter's folder first on ``PATH``, with
``NN_DATA_DIR`` pointing at the shared data (the README's own advice for a machine without
internet) and no network (the proxies point at a closed local port). Each must exit 0 without
a traceback. To keep the run short, these substitutions shorten work, and nothing else:

* ``python -m nn train ...``: ``--epochs 1``, and ``--train-size 1000`` unless one is given
  (or the command resumes a saved run, which keeps its own);
* ``python examples/NAME.py ...`` and ``python benchmarks/NAME.py ...``: ``--quick``.

A command or block that already ran (README.ko.md repeats README.md's) does not run again.
A command that needs Fashion-MNIST skips, and says so, when the Debian package is missing.

A block that cannot run verbatim here (the set-up commands, the test command itself, a server
that runs until stopped) carries a visible annotation on the line before its opening fence::

    <!-- readme-test: covered by tests/test_readme.py::test_ci_sets_up_and_tests_as_the_readme_says -->

It is not run; instead this file checks that the named test exists, so that every block is
still covered by some test.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import FASHION_DIR, ROOT, SHARED, without_network

DOCS = ("README.md", "README.ko.md")
SHELLS = ("bash", "sh", "shell", "console")
ANNOTATION = re.compile(r"^<!--\s*readme-test:\s*covered by\s+(\S+)\s*-->\s*$")
FENCE = re.compile(r"^```\s*([\w-]*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
SHELL_SYNTAX = re.compile(r"[|&;<>()$`]")


@dataclass(frozen=True)
class Item:
    """One runnable piece of a document."""

    kind: str  # "command" or "python"
    text: str
    line: int
    covered_by: str | None = None


def parse(text: str) -> list[Item]:
    """The commands and Python blocks of a Markdown text, in order."""
    lines = text.splitlines()
    items: list[Item] = []
    covered_by = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if match := ANNOTATION.match(line.strip()):
            covered_by = match.group(1)
            i += 1
            continue
        fence = FENCE.match(line)
        if covered_by is not None and line.strip() and not fence:
            raise ValueError(f"line {i}: a readme-test annotation must come right before a fence")
        if fence:
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            body, lang = lines[i + 1:end], fence.group(1)
            if lang == "python":
                items.append(Item("python", "\n".join(body) + "\n", i + 2, covered_by))
            elif lang in SHELLS:
                items += [Item("command", cmd, n, covered_by) for cmd, n in _commands(body, i + 2)]
            covered_by = None
            i = end + 1
            continue
        items += [Item("command", span, i + 1) for span in re.findall(r"`([^`\n]+)`", line)
                  if span.startswith("python ")]
        i += 1
    return items


def _commands(body: list[str], first_line: int) -> list[tuple[str, int]]:
    """The logical command lines of a shell block, with their line numbers."""
    commands, pending, start = [], "", first_line
    for n, line in enumerate(body, first_line):
        if not pending:
            start = n
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        commands.append(((pending + line).strip(), start))
        pending = ""
    return commands


def shorten(command: str) -> str:
    """The command with the substitutions of the module docstring applied (see there)."""
    words = shlex.split(command, comments=True)
    if not words or any(SHELL_SYNTAX.search(w) for w in words):
        return command  # a real shell line: run verbatim
    n_env = next((k for k, w in enumerate(words) if not ASSIGNMENT.match(w)), len(words))
    env, argv = words[:n_env], words[n_env:]
    if argv[:4] == ["python", "-m", "nn", "train"]:
        argv = [w for w in argv if not w.startswith("--epochs=")]
        if "--epochs" in argv:
            argv[argv.index("--epochs") + 1] = "1"
        else:
            argv += ["--epochs", "1"]
        if ("--train-size" not in argv and not any(w.startswith("--train-size=") for w in argv)
                and "--resume" not in argv):  # a resumed run keeps the size it was saved with
            argv += ["--train-size", "1000"]
    elif (len(argv) > 1 and argv[0] == "python" and re.fullmatch(r"(examples|benchmarks)/\w+\.py", argv[1])
          and "--quick" not in argv):
        argv.append("--quick")
    assignments = [f"{w.split('=', 1)[0]}={shlex.quote(w.split('=', 1)[1])}" for w in env]
    return " ".join(assignments + [shlex.join(argv)])


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A folder that looks like the clone to the commands: ../shared beside it."""
    base = tmp_path_factory.mktemp("readme")
    (base / "shared").symlink_to(SHARED, target_is_directory=True)
    work = base / "nn-from-scratch"
    work.mkdir()
    for name in ("examples", "benchmarks"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    return work


@pytest.fixture(scope="module")
def shell_env() -> dict[str, str]:
    env = without_network(dict(os.environ))
    env.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
               NN_DATA_DIR=str(SHARED / "datasets"), MPLBACKEND="Agg")
    return env


_DONE: set[tuple[str, str]] = set()  # what already ran in this session, across both documents


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS)
def test_every_command_and_python_block_runs(doc, clone, shell_env, monkeypatch, capsys):
    items = parse((ROOT / doc).read_text(encoding="utf-8"))
    monkeypatch.chdir(clone)
    skipped = []
    for item in items:
        where = f"{doc}:{item.line}"
        if item.covered_by is not None:
            continue
        if item.kind == "python":
            if (item.kind, item.text) in _DONE:
                continue
            exec(compile(item.text, f"{where} (python block)", "exec"), {"__name__": "__readme__"})
            capsys.readouterr()
            _DONE.add((item.kind, item.text))
            continue
        command = shorten(item.text)
        if ("command", command) in _DONE:
            continue
        if "fashion-mnist" in command and not FASHION_DIR.is_dir():
            skipped.append(command)
            continue
        result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=clone, env=shell_env,
                                capture_output=True, text=True, timeout=600)
        report = f"{where}: `{item.text}` ran as `{command}`:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        assert result.returncode == 0, report
        assert "Traceback" not in result.stdout + result.stderr, report
        _DONE.add(("command", command))
    if skipped:
        pytest.skip(f"ran the rest of {doc}; skipped {skipped} (Fashion-MNIST is not installed: "
                    "apt-get install dataset-fashion-mnist)")


@pytest.mark.parametrize("doc", DOCS)
def test_each_document_has_commands_and_python_blocks(doc):
    items = parse((ROOT / doc).read_text(encoding="utf-8"))
    kinds = [item.kind for item in items]
    assert kinds.count("python") >= 2 and kinds.count("command") >= 15
    commands = " ".join(item.text for item in items)
    for script in sorted((ROOT / "examples").glob("[!_]*.py")):
        assert f"python examples/{script.name}" in commands, f"{doc} does not list {script.name}"


@pytest.mark.parametrize("doc", DOCS)
def test_annotations_name_tests_that_exist(doc):
    annotated = [item for item in parse((ROOT / doc).read_text(encoding="utf-8")) if item.covered_by]
    for item in annotated:
        path, _, name = item.covered_by.partition("::")
        name = name.split("::")[-1].split("[")[0]
        source = ROOT / path
        assert source.is_file() and re.search(rf"^\s*def {re.escape(name)}\(", source.read_text(), flags=re.M), (
            f"{doc}:{item.line}: `{item.text}` is said to be covered by {item.covered_by}, "
            "which does not exist")


def _setup_and_test_commands(doc: str) -> list[str]:
    items = parse((ROOT / doc).read_text(encoding="utf-8"))
    return [item.text for item in items
            if item.covered_by == "tests/test_readme.py::test_ci_sets_up_and_tests_as_the_readme_says"]


def test_ci_sets_up_and_tests_as_the_readme_says():
    """.ci/run, on a fresh clone, runs the README's set-up commands and its test command."""
    ci_commands = set()
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:  # not a line a README command could match
            continue
        words = [w for w in words if w != "-q"]
        while words:
            part = words[:words.index("&&")] if "&&" in words else words
            ci_commands.add(" ".join(part).replace("python -m pip ", "pip "))
            words = words[len(part) + 1:]
    for doc in DOCS:
        commands = _setup_and_test_commands(doc)
        assert len(commands) == 3, (doc, commands)  # the two set-up lines and the test command
        for command in commands:
            for part in command.split("&&"):
                assert " ".join(shlex.split(part, comments=True)) in ci_commands, (doc, part)


def test_the_korean_readme_is_linked_from_the_top():
    top = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:6]
    assert any("(README.ko.md)" in line for line in top)
    assert "(README.md)" in " ".join((ROOT / "README.ko.md").read_text(encoding="utf-8").splitlines()[:6])


def test_parse_and_shorten():
    text = "\n".join([
        "Run `python -m nn train` or `pip list`.",
        "<!-- readme-test: covered by tests/test_readme.py::test_parse_and_shorten -->",
        "```bash", "pip install -e .", "```",
        "```bash", "# a comment", "python -m nn train --hidden 8 \\", "    --epochs 15   # long",
        "NN_DATA_DIR=../x python examples/xor.py", "```",
        "```python", "print(1)", "```", "```text", "python -m nn not-a-command", "```",
    ])
    items = parse(text)
    assert [(i.kind, i.text, i.line, i.covered_by) for i in items] == [
        ("command", "python -m nn train", 1, None),
        ("command", "pip install -e .", 4, "tests/test_readme.py::test_parse_and_shorten"),
        ("command", "python -m nn train --hidden 8      --epochs 15   # long", 8, None),
        ("command", "NN_DATA_DIR=../x python examples/xor.py", 10, None),
        ("python", "print(1)\n", 13, None),
    ]
    assert shorten(items[2].text) == "python -m nn train --hidden 8 --epochs 1 --train-size 1000"
    assert shorten(items[3].text) == "NN_DATA_DIR=../x python examples/xor.py --quick"
    assert shorten("python -m nn train --train-size 50") == \
        "python -m nn train --train-size 50 --epochs 1"
    assert shorten("python3 -m venv .venv && . .venv/bin/activate") == \
        "python3 -m venv .venv && . .venv/bin/activate"
    with pytest.raises(ValueError, match="right before a fence"):
        parse("<!-- readme-test: covered by tests/x.py::y -->\nsome text\n")
