"""A user's mistake on the command line gets one line saying what is wrong and what to do,
never a traceback: exit status 2 for usage errors, 1 for failures.

Each reproducer of issue 16 runs through the real command line: ``main(argv)`` in
this process (any exception would fail the test), and a few in a child process.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layers import Affine
from nn import Sequential, load_metadata, load_model, mlp, save_model
from nn.cli import main
from test_datasets import make_set, write_idx
from test_hostile_checkpoint import mutated_headers

from conftest import ROOT


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit status, stdout and stderr of ``python -m nn`` with ``argv``."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def data(tmp_path) -> Path:
    """A small valid MNIST-format set."""
    return make_set(tmp_path / "data", n_train=60, n_test=20)


def train(data: Path, *options: str) -> list[str]:
    return ["train", "--data-dir", str(data), "--no-download", "--hidden", "8", "--epochs", "1",
            "--batch-size", "16", *options]


# --- usage errors: exit status 2, nothing trained ----------------------------------------

@pytest.mark.parametrize("options, message", [
    (["--seed", "-1"], "argument --seed: expected a non-negative integer, got -1"),
    (["--train-size", "1", "--val-split", "0.5"],
     "--val-split 0.5 cannot split 1 training sample.s.: .*use more samples"),
    (["--batchnorm", "--batch-size", "1"], "--batchnorm needs at least 2 samples per batch"),
    (["--batchnorm", "--train-size", "1"], "--batchnorm needs at least 2 training samples"),
    (["--patience", "2"], "--patience needs a validation set"),
    (["--hidden", "1000000000000"], "--hidden 1000000000000 gives 795,000,000,000,010 parameters, "
                                    ".* GiB with their gradients and optimizer state: more than "
                                    "this machine's .* GiB of memory"),
])
def test_usage_errors(data, capsys, options, message):
    code, out, err = run(train(data, *options), capsys)
    assert code == 2
    assert "error: " in one_error_line(err) and __import__("re").search(message, err), err
    assert "epoch" not in out


@pytest.mark.parametrize("option", ["--save", "--plot", "--checkpoint"])
def test_an_output_that_cannot_be_written_fails_before_training(data, tmp_path, capsys, option):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code, out, err = run(train(data, option, str(folder)), capsys)
    assert code == 2 and "epoch" not in out
    assert f"argument {option}: cannot write {folder}: is a folder; name a" in err
    (tmp_path / "a-file").write_text("")
    code, out, err = run(train(data, option, str(tmp_path / "a-file" / "x.npz")), capsys)
    assert code == 2 and "cannot create its folder" in one_error_line(err) and "epoch" not in out


def test_out_of_memory_is_one_line(capsys, monkeypatch):
    code, _, err = run(["summary", "--hidden", "1000000000000"], capsys)
    assert code == 2 and "more than this machine's" in one_error_line(err)
    monkeypatch.setattr("nn.cli._physical_memory", lambda: None)  # a system that does not say
    code, _, err = run(["summary", "--hidden", "1000000000000"], capsys)
    assert code == 1 and one_error_line(err).startswith("error: out of memory (Unable to allocate ")


def test_save_writes_through_a_symlink(data, tmp_path, capsys):
    real = tmp_path / "models" / "model.npz"
    real.parent.mkdir()
    link = tmp_path / "link.npz"
    link.symlink_to(real)
    assert run(train(data, "--save", str(link), "--quiet"), capsys)[0] == 0
    assert link.is_symlink() and load_model(real).num_parameters() == 784 * 8 + 8 + 8 * 10 + 10


# --- failures: exit status 1 ---------------------------------------------------------------

def test_a_lying_idx_header_is_one_line_in_a_real_process(data, tmp_path):
    write_idx(data / "train-images-idx3-ubyte.gz", 2051, (60000, 28, 28), bytes(60 * 784))
    result = subprocess.run([sys.executable, "-m", "nn", *train(data)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = one_error_line(result.stderr)
    assert line.startswith("error: ") and "train-images-idx3-ubyte.gz: truncated" in line


def test_a_hostile_checkpoint_is_one_line_in_a_real_process(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array(json.dumps([{"format": "nn-from-scratch checkpoint"}])))
    for command in ("evaluate", "summary"):
        result = subprocess.run([sys.executable, "-m", "nn", command, str(bad)], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert one_error_line(result.stderr) == (f"error: {bad}: checkpoint header is a JSON list, "
                                                 "expected an object; not a checkpoint saved by model.save()")


def test_empty_data_sets(tmp_path, capsys):
    empty_test = make_set(tmp_path / "no-test", n_train=40, n_test=0)
    code, out, err = run(train(empty_test, "--save", str(tmp_path / "m.npz")), capsys)
    assert code == 0 and "the mnist test set holds no samples: no test accuracy" in out
    code, _, err = run(["evaluate", str(tmp_path / "m.npz"), "--data-dir", str(empty_test)], capsys)
    assert code == 1 and one_error_line(err) == "error: the mnist test set holds no samples: nothing to evaluate"
    empty_train = make_set(tmp_path / "no-train", n_train=0, n_test=5)
    code, _, err = run(train(empty_train), capsys)
    assert code == 1 and one_error_line(err) == "error: the mnist training set holds no samples"


@pytest.mark.parametrize("model, problem", [
    (Sequential([Affine(100, 10, rng=0)]), "it takes inputs of 100 values, mnist images have 784"),
    (Sequential([Affine(784, 5, rng=0)]), "it has 5 outputs, mnist has 10 classes"),
])
def test_a_checkpoint_that_does_not_fit_the_data(data, tmp_path, capsys, model, problem):
    path = model.save(tmp_path / "other.npz")
    code, _, err = run(["evaluate", str(path), "--data-dir", str(data)], capsys)
    assert code == 1
    assert one_error_line(err) == (f"error: the model in {path} does not fit mnist: {problem}; "
                                   "evaluate it on the data set it was trained for (--dataset)")


def test_a_model_whose_layers_disagree_is_reported(data, tmp_path, capsys):
    from layers import BatchNorm
    path = Sequential([Affine(784, 10, dtype=np.float64), BatchNorm(10)]).save(tmp_path / "mixed.npz")
    code, _, err = run(["evaluate", str(path), "--data-dir", str(data)], capsys)
    assert code == 1 and one_error_line(err).startswith(
        f"error: the model in {path} cannot run on mnist: BatchNorm(10): expected float32 input")


def test_a_single_saved_layer_is_evaluated_as_a_one_layer_model(data, tmp_path, capsys):
    saved = save_model(Affine(784, 10, rng=0), tmp_path / "affine.npz")
    code, out, _ = run(["evaluate", str(saved), "--data-dir", str(data)], capsys)
    assert code == 0 and out.startswith("mnist test set: 20 samples")
    code, out, _ = run(["summary", str(saved)], capsys)
    assert code == 0 and "Affine(784 -> 10)" in out


def test_evaluate_uses_the_data_set_the_checkpoint_was_trained_on(tmp_path, capsys):
    root = tmp_path / "data"
    make_set(root / "mnist", n_train=60, n_test=20, seed=1)
    make_set(root / "fashion-mnist", n_train=60, n_test=30, seed=2)
    model = tmp_path / "fashion.npz"
    assert run(train(root, "--dataset", "fashion-mnist", "--save", str(model)), capsys)[0] == 0
    assert load_metadata(model)["dataset"] == "fashion-mnist"
    code, out, _ = run(["evaluate", str(model), "--data-dir", str(root)], capsys)
    assert code == 0 and out.startswith("fashion-mnist (the checkpoint's) test set: 30 samples")
    code, out, _ = run(["evaluate", str(model), "--data-dir", str(root), "--dataset", "mnist"], capsys)
    assert code == 0 and out.startswith("mnist test set: 20 samples")

    plain = mlp(784, [8], 10).save(tmp_path / "plain.npz")  # no metadata: MNIST
    code, out, _ = run(["evaluate", str(plain), "--data-dir", str(root)], capsys)
    assert code == 0 and out.startswith("mnist test set: 20 samples")
    odd = mlp(784, [8], 10).save(tmp_path / "odd.npz", metadata={"dataset": "cifar10"})
    code, _, err = run(["evaluate", str(odd), "--data-dir", str(root)], capsys)
    assert code == 1 and one_error_line(err) == (
        f"error: {odd} was trained on 'cifar10', which this command cannot load; choose one "
        "with --dataset (fashion-mnist, mnist)")


def test_a_last_batch_of_one_sample_with_batchnorm_trains_and_says_so(tmp_path, capsys):
    data = make_set(tmp_path / "data", n_train=257, n_test=10)
    code, out, err = run(["train", "--data-dir", str(data), "--no-download", "--batchnorm",
                          "--train-size", "257", "--batch-size", "128", "--hidden", "16",
                          "--epochs", "2"], capsys)
    assert code == 0 and "test accuracy" in out
    assert err.splitlines() == ["warning: 257 samples in batches of 128 leave a last batch of 1 "
                                "sample, too few for BatchNorm's batch statistics: it is left out "
                                "of every epoch (a different sample each epoch)"]


def test_resume_errors(data, tmp_path, capsys):
    run_file = tmp_path / "run.npz"
    assert run(train(data, "--checkpoint", str(run_file), "--quiet"), capsys)[0] == 0
    code, _, err = run(["train", "--resume", str(run_file), "--lr", "0.5"], capsys)
    assert code == 2 and "--lr cannot be given with --resume: the run continues with the settings " \
        f"saved in {run_file} (without --lr)" in err
    code, _, err = run(["train", "--resume", str(run_file), "--hidden", "8", "8"], capsys)
    assert code == 2 and f"saved in {run_file} (--hidden 8)" in err
    plain = mlp(784, [8], 10).save(tmp_path / "plain.npz")
    code, _, err = run(["train", "--resume", str(plain)], capsys)
    assert code == 1 and "was not written by 'python -m nn train --checkpoint'" in one_error_line(err)
    code, _, err = run(["train", "--resume", str(tmp_path / "missing.npz")], capsys)
    assert code == 1 and one_error_line(err) == f"error: no checkpoint at {tmp_path / 'missing.npz'} to resume"
    code, out, _ = run(["train", "--resume", str(run_file), "--data-dir", str(data), "--epochs", "2",
                        "--quiet"], capsys)
    assert code == 0 and "test accuracy" in out

    with np.load(run_file) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays.pop("header")))
    header["metadata"]["train_args"]["hidden"] = ["x"]
    np.savez(tmp_path / "tampered.npz", header=np.array(json.dumps(header)), **arrays)
    code, _, err = run(["train", "--resume", str(tmp_path / "tampered.npz")], capsys)
    assert code == 1 and one_error_line(err) == (
        f"error: {tmp_path / 'tampered.npz'}: the run's saved settings are damaged (argument "
        "--hidden: expected a positive integer, got 'x')")


# --- generated damage, through the command line -------------------------------------------

@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> tuple[Path, dict, dict]:
    """A small data set and the arrays and header of a run checkpoint trained on it."""
    folder = tmp_path_factory.mktemp("cli-hostile")
    data = make_set(folder / "data", n_train=40, n_test=12)
    path = folder / "run.npz"
    assert main(train(data, "--checkpoint", str(path), "--batchnorm", "--dropout", "0.1",
                      "--quiet")) == 0
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    return data, arrays, json.loads(str(arrays.pop("header")))


@given(st.data())
def test_commands_on_a_mutated_checkpoint_succeed_or_say_why(saved_run, data):
    folder, arrays, header = saved_run
    header = data.draw(mutated_headers(header))
    command = data.draw(st.sampled_from(["evaluate", "summary", "resume"]))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.npz"
        np.savez(path, header=np.array(json.dumps(header)), **arrays)
        argv = {"evaluate": ["evaluate", str(path), "--data-dir", str(folder)],
                "summary": ["summary", str(path)],
                "resume": ["train", "--resume", str(path), "--data-dir", str(folder), "--quiet",
                           "--no-download", "--epochs", "3"]}[command]  # not the file's count
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code
    assert code in (0, 1, 2), err.getvalue()
    if code:
        one_error_line(err.getvalue())
