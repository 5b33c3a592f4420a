"""Long runs survive interruption: fit(checkpoint=...) saves every epoch, fit(resume=...)
continues bit for bit, Ctrl-C ends cleanly; through the Python API and the command line.

The command-line test kills real child processes with SIGKILL at random points
(three per chain) and compares the result with a run that was never interrupted.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import optimizers
from losses import SoftmaxWithLoss
from nn import CheckpointError, Trainer, TrainingInterrupted, load_metadata, load_model, mlp
from nn.resume import completed_epochs

from conftest import ROOT


def blobs(n=90, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, size=n)
    x = np.eye(3, 6, dtype=np.float32)[t] * 2 + rng.standard_normal((n, 6)).astype(np.float32)
    return x, t


X, T = blobs()
XV, TV = blobs(30, seed=1)


def make_trainer(callbacks=()):
    """BatchNorm (buffers), Dropout (a generator), Adam (moments) and a schedule: all must resume."""
    model = mlp(6, [8], 3, batchnorm=True, dropout=0.3, seed=0)
    opt = optimizers.Adam(model.parameters(), lr=0.05)
    return Trainer(model, SoftmaxWithLoss(), opt, schedule=optimizers.CosineAnnealingLR(opt, t_max=6),
                   callbacks=callbacks)


FIT = dict(batch_size=16, validation_data=(XV, TV), seed=4, patience=4, verbose=0)


def same_run(history_a, model_a, history_b, model_b) -> None:
    """Equal History (wall times aside) and weights, bit for bit."""
    a, b = history_a.as_dict(), history_b.as_dict()
    a.pop("time"), b.pop("time")
    assert a == b
    for p, q in zip(model_a.parameters(), model_b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    for (k, v), (k2, v2) in zip(model_a.buffers().items(), model_b.buffers().items()):
        assert k == k2
        np.testing.assert_array_equal(v, v2)


@pytest.fixture(scope="module")
def uninterrupted():
    trainer = make_trainer()
    return trainer.fit(X, T, 6, **FIT), trainer.model


@pytest.mark.parametrize("stop_after", [1, 3, 5])
def test_resume_after_epoch_k_equals_the_uninterrupted_run(tmp_path, uninterrupted, stop_after):
    first = make_trainer()
    first.fit(X, T, stop_after, **FIT, checkpoint=tmp_path / "run.npz")
    assert completed_epochs(tmp_path / "run.npz") == stop_after
    second = make_trainer()  # fresh objects, as in a new process
    history = second.fit(X, T, 6, **FIT, resume=tmp_path / "run.npz", checkpoint=tmp_path / "run.npz")
    same_run(*uninterrupted, history, second.model)
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]


def test_resuming_a_finished_run_changes_nothing(tmp_path, uninterrupted):
    make_trainer().fit(X, T, 6, **FIT, checkpoint=tmp_path / "run.npz")
    again = make_trainer()
    history = again.fit(X, T, 6, **FIT, resume=tmp_path / "run.npz")
    same_run(*uninterrupted, history, again.model)


def test_early_stopping_resumes_with_its_best_weights(tmp_path):
    def run(epochs, **kwargs):
        trainer = make_trainer()
        history = trainer.fit(X, T, epochs, batch_size=16, validation_data=(XV, TV), seed=4,
                              patience=1, verbose=0, **kwargs)
        return history, trainer.model

    reference = run(12)
    assert reference[0].stop_reason.startswith("early stopping")
    stopped_at = len(reference[0])
    run(stopped_at - 1, checkpoint=tmp_path / "run.npz")
    same_run(*reference, *run(12, resume=tmp_path / "run.npz"))


def test_ctrl_c_raises_training_interrupted_with_the_last_epoch_saved(tmp_path, uninterrupted):
    def interrupt(trainer, epoch, logs):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as info:
        make_trainer([interrupt]).fit(X, T, 6, **FIT, checkpoint=tmp_path / "run.npz")
    assert len(info.value.history) == 3 and info.value.saved_epochs == 2  # 3 was not yet saved
    assert info.value.checkpoint == tmp_path / "run.npz"
    assert "epochs 1-2 are saved in" in str(info.value)
    resumed = make_trainer()
    history = resumed.fit(X, T, 6, **FIT, resume=tmp_path / "run.npz")
    same_run(*uninterrupted, history, resumed.model)


def test_ctrl_c_in_the_middle_of_a_batch_and_of_a_save(tmp_path, uninterrupted, monkeypatch):
    trainer = make_trainer()
    calls = {"n": 0}
    forward = trainer.loss.forward

    def interrupted_forward(scores, t):
        calls["n"] += 1
        if calls["n"] == 24:  # 7 calls an epoch (6 batches, validation): epoch 4, batch 3
            raise KeyboardInterrupt
        return forward(scores, t)

    monkeypatch.setattr(trainer.loss, "forward", interrupted_forward)
    with pytest.raises(TrainingInterrupted) as info:
        trainer.fit(X, T, 6, **FIT, checkpoint=tmp_path / "run.npz")
    assert info.value.saved_epochs == 3
    monkeypatch.undo()

    import nn.checkpoint
    real_savez = np.savez

    def savez_then_interrupt(f, **arrays):
        real_savez(f, **arrays)
        raise KeyboardInterrupt  # after writing, before the rename

    monkeypatch.setattr(nn.checkpoint.np, "savez", savez_then_interrupt)
    with pytest.raises(TrainingInterrupted) as info:
        make_trainer().fit(X, T, 6, **FIT, checkpoint=tmp_path / "run.npz", resume=tmp_path / "run.npz")
    monkeypatch.undo()
    assert info.value.saved_epochs == 3  # epoch 4's save never replaced the file
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]  # and left no temporary
    resumed = make_trainer()
    same_run(*uninterrupted, resumed.fit(X, T, 6, **FIT, resume=tmp_path / "run.npz"), resumed.model)


def test_resume_refuses_other_settings_data_or_files(tmp_path):
    make_trainer().fit(X, T, 2, **FIT, checkpoint=tmp_path / "run.npz")
    with pytest.raises(CheckpointError, match="cannot resume: the run used batch_size=16, this call has batch_size=8"):
        make_trainer().fit(X, T, 6, **{**FIT, "batch_size": 8}, resume=tmp_path / "run.npz")
    with pytest.raises(CheckpointError, match="the run used samples=90, this call has samples=60"):
        make_trainer().fit(X[:60], T[:60], 6, **FIT, resume=tmp_path / "run.npz")
    other = mlp(6, [9], 3, seed=0)
    with pytest.raises(CheckpointError, match="trained with a different model"):
        Trainer(other, SoftmaxWithLoss(), optimizers.Adam(other.parameters())).fit(
            X, T, 6, **FIT, resume=tmp_path / "run.npz")
    trainer = make_trainer()
    trainer.model.save(tmp_path / "model.npz")
    with pytest.raises(CheckpointError, match="holds no training run to resume"):
        trainer.fit(X, T, 6, **FIT, resume=tmp_path / "model.npz")
    with pytest.raises(ValueError, match="epochs=1, but the run in .* already has 2 epochs"):
        make_trainer().fit(X, T, 1, **FIT, resume=tmp_path / "run.npz")


def test_an_unwritable_checkpoint_fails_before_training(tmp_path):
    trainer = make_trainer()
    before = [p.data.copy() for p in trainer.model.parameters()]
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder"):
        trainer.fit(X, T, 2, **FIT, checkpoint=tmp_path / "folder")
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="cannot create its folder"):
        trainer.fit(X, T, 2, **FIT, checkpoint=tmp_path / "file" / "run.npz")
    assert all(np.array_equal(a, p.data) for a, p in zip(before, trainer.model.parameters()))


def test_an_evaluate_command_reads_a_run_checkpoint(tmp_path):
    make_trainer().fit(X, T, 2, **FIT, checkpoint=tmp_path / "run.npz",
                       checkpoint_metadata={"dataset": "mnist", "note": "kept"})
    assert load_metadata(tmp_path / "run.npz") == {"dataset": "mnist", "note": "kept"}
    assert load_model(tmp_path / "run.npz").num_parameters() == 6 * 8 + 8 + 8 + 8 + 8 * 3 + 3


# --- the command line, killed for real ------------------------------------------------

CLI_RUN = ["--no-download", "--train-size", "6000", "--hidden", "64", "--batchnorm", "--dropout",
           "0.1", "--schedule", "cosine", "--val-split", "0.1", "--epochs", "12", "--batch-size",
           "20", "--seed", "3", "--threads", "1"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nn", "train", *args]


def child_env() -> dict[str, str]:
    # the same BLAS thread count in every process: the condition for bit-for-bit equality
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def interrupt_after_epoch_lines(command: list[str], lines: int, delay: float, sig: int) -> tuple[int, str]:
    """Start ``command``, send ``sig`` ``delay`` s after its ``lines``-th epoch line; return
    (exit status, stderr)."""
    child = subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        seen = 0
        for line in child.stdout:
            if line.startswith("epoch "):
                seen += 1
                if seen == lines:
                    time.sleep(delay)
                    child.send_signal(sig)
                    break
        child.stdout.read()
        return child.wait(timeout=120), child.stderr.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def saved_run(path: Path) -> tuple[dict, list[np.ndarray]]:
    meta = load_metadata(path)
    model = load_model(path)
    history = {k: v for k, v in meta["history"].items() if k != "time"}
    arrays = [p.data for p in model.parameters()] + list(model.buffers().values())
    return {**history, "test_accuracy": meta["test_accuracy"]}, arrays


@pytest.mark.slow
def test_killed_three_times_at_random_points_the_run_ends_as_if_never_killed(mnist_dir, tmp_path):
    seed = random.randrange(2**32)
    draw = random.Random(seed)
    data = ["--data-dir", str(mnist_dir)]
    reference = subprocess.run(cli(*data, *CLI_RUN, "--quiet", "--save", str(tmp_path / "ref.npz")),
                               cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr

    run, final = tmp_path / "run.npz", tmp_path / "final.npz"
    command = cli(*data, *CLI_RUN, "--checkpoint", str(run), "--save", str(final))
    saved = []
    for kill in range(3):
        # the first process must have saved an epoch: its kill comes after the second line
        lines = draw.randint(2, 3) if kill == 0 else draw.randint(1, 2)
        status, err = interrupt_after_epoch_lines(command, lines, draw.uniform(0, 0.1), signal.SIGKILL)
        assert status == -signal.SIGKILL, f"kill {kill + 1} (seed {seed}): exited {status}: {err}"
        saved.append(completed_epochs(run))
        command = cli(*data, "--resume", str(run), "--save", str(final), "--threads", "1")
    assert saved == sorted(saved) and saved[-1] < 12, f"seed {seed}: killed after epochs {saved}"
    finished = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert "resuming from" in finished.stdout
    expected, expected_arrays = saved_run(tmp_path / "ref.npz")
    got, got_arrays = saved_run(final)
    assert got == expected, f"seed {seed}, killed after epochs {saved}"
    for a, b in zip(expected_arrays, got_arrays):
        np.testing.assert_array_equal(a, b, err_msg=f"seed {seed}, killed after epochs {saved}")
    assert len(got["epoch"]) == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["final.npz", "ref.npz", "run.npz"]


@pytest.mark.slow
def test_ctrl_c_on_the_command_line_saves_and_says_how_to_resume(mnist_dir, tmp_path):
    data = ["--data-dir", str(mnist_dir)]
    run = tmp_path / "run.npz"
    status, err = interrupt_after_epoch_lines(cli(*data, *CLI_RUN, "--checkpoint", str(run)), 2, 0,
                                              signal.SIGINT)
    assert status == 130
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    saved = completed_epochs(run)
    assert 1 <= saved <= 3
    assert lines[0].startswith("interrupted after ") and f"epochs 1-{saved} are saved in {run}; " \
        f"continue with: python -m nn train --resume {run}" in lines[0]
    done = subprocess.run(cli(*data, "--resume", str(run), "--epochs", str(saved + 1), "--quiet"),
                          cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "test accuracy" in done.stdout, done.stderr
    assert completed_epochs(run) == saved + 1
    too_few = subprocess.run(cli(*data, "--resume", str(run), "--epochs", "1"), cwd=ROOT,
                             env=child_env(), capture_output=True, text=True, timeout=300)
    assert too_few.returncode == 2
    assert f"--epochs 1 is fewer than the {saved + 1} epochs the run" in too_few.stderr
