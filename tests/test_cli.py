"""The command line end to end on the real MNIST files."""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys

import pytest

import nn
from nn import load_model
from nn.cli import build_parser, main


def test_train_evaluate_summary_end_to_end(mnist_dir, tmp_path, capsys):
    model_path, plot_path = tmp_path / "mlp.npz", tmp_path / "curves.png"
    code = main(["train", "--data-dir", str(mnist_dir), "--hidden", "32", "--epochs", "1",
                 "--train-size", "3000", "--batch-size", "32", "--val-split", "0.1", "--save", str(model_path),
                 "--plot", str(plot_path), "--no-download"])
    out = capsys.readouterr().out
    assert code == 0
    assert "mnist: 2,700 training, 300 validation, 10,000 test samples" in out
    assert "epoch 1/1" in out and "val_acc" in out
    accuracy = float(out.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80  # one epoch on 2,700 images
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_model(model_path).num_parameters() == 784 * 32 + 32 + 32 * 10 + 10

    assert main(["evaluate", str(model_path), "--data-dir", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert f"accuracy {accuracy:.2f}%" in out and "per class" in out

    assert main(["summary", str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "Affine(784 -> 32)" in out
    # what was saved with the model: data set, accuracy, command, date, version
    assert re.search(r"^data set\s+mnist$", out, flags=re.M)
    assert re.search(rf"^test accuracy\s+{accuracy:.2f} %$", out, flags=re.M)
    assert re.search(r"^command\s+python -m nn train --data-dir \S+ --hidden 32 --epochs 1 ", out,
                     flags=re.M)
    saved = re.search(r"^saved on\s+(\S+)$", out, flags=re.M).group(1)
    age = datetime.datetime.now(datetime.timezone.utc) - datetime.datetime.fromisoformat(saved)
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=10)
    assert re.search(rf"^saved by\s+nn-from-scratch {re.escape(nn.__version__)}$", out, flags=re.M)
    meta = nn.load_metadata(model_path)
    assert meta["dataset"] == "mnist" and meta["test_accuracy"] == pytest.approx(accuracy / 100, abs=5e-5)
    assert meta["history"]["epoch"] == [1]


def test_summary_of_a_checkpoint_without_metadata(tmp_path, capsys):
    path = nn.mlp(784, [8], 10).save(tmp_path / "bare.npz")
    assert main(["summary", str(path)]) == 0
    assert "holds no metadata" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"nn-from-scratch {nn.__version__}\n"


def test_every_option_has_help_and_a_single_epoch_is_singular(mnist_dir, capsys):
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {'/'.join(action.option_strings) or action.dest} has no help"
    train = subparsers.choices["train"].format_help()
    assert "0.9 for momentum and nesterov" in " ".join(train.split())
    assert main(["train", "--data-dir", str(mnist_dir), "--hidden", "8", "--epochs", "1",
                 "--train-size", "200"]) == 0
    out = capsys.readouterr().out
    assert "batch size 128, 1 epoch, seed 0" in out and "(1 epoch in " in out


def test_no_cache_leaves_the_processed_cache_alone(mnist_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "cache"))
    args = ["train", "--data-dir", str(mnist_dir), "--hidden", "8", "--epochs", "1",
            "--train-size", "200", "--quiet"]
    assert main([*args, "--no-cache"]) == 0
    assert not (tmp_path / "cache").exists()
    assert main(args) == 0  # by default the parsed arrays are kept for the next run
    assert len(list((tmp_path / "cache" / "processed").glob("mnist-*.npz"))) == 1


def test_full_batch_option(mnist_dir, capsys):
    assert main(["train", "--data-dir", str(mnist_dir), "--hidden", "16", "--epochs", "2",
                 "--train-size", "500", "--batch-size", "full", "--optimizer", "sgd", "--quiet",
                 "--threads", "1"]) == 0
    assert "test accuracy" in capsys.readouterr().out


def test_summary_without_a_checkpoint(capsys):
    assert main(["summary", "--hidden", "100", "--activation", "sigmoid"]) == 0
    out = capsys.readouterr().out
    assert "Sigmoid()" in out and "Total parameters: 79,510" in out


@pytest.mark.parametrize("args, message", [
    (["train", "--batch-size", "0"], "expected a positive integer or 'full', got 0"),
    (["train", "--lr", "-1"], "expected a positive number, got -1"),
    (["train", "--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
    (["train", "--epochs", "many"], "expected a positive integer, got 'many'"),
    (["train", "--val-split", "1.5"], r"expected a number in \[0, 1\), got 1.5"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments_get_argparse_errors(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m nn" in err
    assert re.search(message, err), err


def test_missing_data_gives_one_line_of_instructions_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("NN_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "nn", "train", "--data-dir", str(tmp_path / "empty"),
                             "--no-download"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: MNIST not found in ")
    assert str(tmp_path / "empty") in result.stderr and str(tmp_path / "nothing") in result.stderr
    assert "--data-dir" in result.stderr and "NN_DATA_DIR" in result.stderr


def test_missing_checkpoint(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.npz")]) == 1
    assert capsys.readouterr().err == f"error: no checkpoint at {tmp_path / 'nope.npz'}\n"


def test_batchnorm_and_dropout_options_train_and_round_trip(mnist_dir, tmp_path, capsys):
    path = tmp_path / "bn.npz"
    assert main(["train", "--data-dir", str(mnist_dir), "--hidden", "32", "32", "--batchnorm",
                 "--dropout", "0.2", "--epochs", "3", "--train-size", "2000", "--batch-size", "50",
                 "--save", str(path), "--quiet"]) == 0
    accuracy = float(capsys.readouterr().out.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 80
    model = load_model(path)
    assert [type(layer).__name__ for layer in model] == [
        "Affine", "BatchNorm", "ReLU", "Dropout", "Affine", "BatchNorm", "ReLU", "Dropout", "Affine"]
    assert main(["evaluate", str(path), "--data-dir", str(mnist_dir)]) == 0
    assert f"accuracy {accuracy:.2f}%" in capsys.readouterr().out  # eval mode: same figure


def test_device_gpu_without_cupy_says_what_to_install_in_one_line(mnist_dir):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here: --device gpu may work")
    except ImportError:
        pass
    out = subprocess.run([sys.executable, "-m", "nn", "train", "--device", "gpu", "--epochs", "1",
                          "--data-dir", str(mnist_dir), "--train-size", "100"],
                         capture_output=True, text=True)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].startswith("error: CuPy is not installed") and 'pip install -e ".[gpu]"' in lines[0]
