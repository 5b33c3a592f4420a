"""The command line end to end on the real MNIST files."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nn import load_model
from nn.cli import main


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
    assert "Affine(784 -> 32)" in capsys.readouterr().out


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
    import re
    assert re.search(message, err), err


def test_missing_data_gives_instructions_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("NN_DATA_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("NN_CACHE_DIR", str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "nn", "train", "--data-dir", str(tmp_path / "empty"),
                             "--no-download"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "train-images-idx3-ubyte.gz" in result.stderr and "NN_DATA_DIR" in result.stderr


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
