"""Random search and restarts: sampling, the results file, resuming, and parallel trials."""

from __future__ import annotations

import math
import multiprocessing
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from scipy.stats import loguniform, uniform

import nn
import optimizers
from conftest import ROOT
from datasets import load_mnist, train_val_split
from losses import SoftmaxWithLoss
from nn import parallel
from nn.cli import main
from nn.search import append_record, random_search, read_records, sample_params
from nn.search_cli import train_trial

SPACE = {"lr": loguniform(1e-4, 1e-1), "weight_decay": loguniform(1e-8, 1e-4),
         "batch_size": [32, 64], "hidden": (16,), "epochs": 2}


def quadratic(params, seed):
    """A cheap objective whose best lr is 1e-2."""
    return {"val_accuracy": 1 - (math.log10(params["lr"]) + 2) ** 2, "seed": seed}


# -- drawing the configurations --------------------------------------------------
def test_each_trial_draws_from_its_own_stream():
    first = [sample_params(SPACE, 0, i) for i in range(6)]
    assert [sample_params(SPACE, 0, i) for i in range(3)] == first[:3]  # independent of the trial count
    assert sample_params(SPACE, 1, 0) != first[0]
    more = {"momentum": uniform(0, 1), **SPACE}  # another searched entry leaves the others' draws alone
    assert all({k: v for k, v in sample_params(more, 0, i).items() if k != "momentum"} == first[i]
               for i in range(6))
    lrs = [p["lr"] for p in first]
    assert len(set(lrs)) == 6 and all(1e-4 <= v <= 1e-1 for v in lrs)
    assert {p["batch_size"] for p in first} <= {32, 64}
    assert all(p["hidden"] == [16] and p["epochs"] == 2 for p in first)  # fixed, as JSON records it
    assert all(type(p["lr"]) is float for p in first)


def test_log_uniform_draws_cover_the_decades_evenly():
    lrs = np.array([sample_params({"lr": loguniform(1e-4, 1e-1)}, 0, i)["lr"] for i in range(600)])
    per_decade = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1])[0]
    assert per_decade.min() > 150  # ~200 in each of the three decades


def test_a_value_json_cannot_record_is_refused():
    with pytest.raises(ValueError, match="plain values"):
        sample_params({"f": object()}, 0, 0)
    with pytest.raises(ValueError, match="list for 'x' is empty"):
        sample_params({"x": []}, 0, 0)


# -- the search ------------------------------------------------------------------
def test_random_search_ranks_the_trials_and_picks_the_best():
    result = random_search(quadratic, {"lr": loguniform(1e-4, 1)}, n_trials=12, seed=3)
    scores = [t.score for t in result.trials]
    assert [t.index for t in result.trials] == list(range(12))
    assert [t.seed for t in result.trials] == list(range(3, 15))
    assert [t.metrics["seed"] for t in result.trials] == list(range(3, 15))
    assert result.best.score == max(scores) and result.best_params == result.best.params
    assert result.ranked()[0] is result.best and result.searched == ["lr"] and result.log_scale == ["lr"]
    lowest = random_search(quadratic, {"lr": loguniform(1e-4, 1)}, n_trials=12, seed=3, minimize=True)
    assert lowest.best.score == min(scores)


def test_nan_scores_never_win_unless_all_are_nan():
    def half_diverge(params, seed):
        return math.nan if seed % 2 == 0 else float(seed)
    result = random_search(half_diverge, {}, n_trials=4, key="score")
    assert result.best.seed == 3 and math.isnan(result.ranked()[-1].score)
    with pytest.raises(ValueError, match="every one of the 2 trials gave a NaN score"):
        random_search(lambda p, s: math.nan, {}, n_trials=2, key="score")


@pytest.mark.parametrize("space", [{"lr": loguniform(1e-4, 1), "momentum": uniform(0.5, 0.49)},
                                   {"lr": loguniform(1e-4, 1)}, {}])
def test_the_plot_of_two_one_or_no_searched_parameters(space, tmp_path):
    def some_diverge(params, seed):
        if seed == 1:
            return math.nan
        return quadratic(params, seed)["val_accuracy"] if "lr" in params else float(seed)
    result = random_search(some_diverge, {**space, "fixed": 3}, n_trials=5)
    assert result.searched == list(space)
    path = result.plot(tmp_path / "search.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("kwargs, message", [
    ({"n_trials": 0}, "n_trials must be a positive integer, got 0"),
    ({"n_trials": 2, "seed": -1}, "seed must be a non-negative integer"),
    ({"n_trials": 2, "n_jobs": 0}, "n_jobs must be a positive integer, or -1"),
    ({"n_trials": 2, "threads_per_trial": 0}, "threads_per_trial must be a positive integer"),
    ({"n_trials": 2, "n_jobs": 2, "scheduler": "tcp://127.0.0.1:1"}, "not both"),
])
def test_bad_search_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        random_search(quadratic, {"lr": 0.01}, **kwargs)


def test_an_objective_without_the_key_is_named():
    with pytest.raises(ValueError, match=r"the objective returned metrics \['accuracy'\] without the "
                                         "score key 'val_accuracy'"):
        random_search(lambda p, s: {"accuracy": 1.0}, {}, n_trials=1)


# -- the results file --------------------------------------------------------------
def test_every_trial_is_recorded_and_a_rerun_skips_the_finished_ones(tmp_path):
    path = tmp_path / "trials.jsonl"
    calls = []

    def objective(params, seed):
        calls.append(seed)
        if len(calls) == 4:
            raise KeyboardInterrupt  # the user stops the search during its fourth trial
        return quadratic(params, seed)

    with pytest.raises(KeyboardInterrupt):
        random_search(objective, SPACE, n_trials=6, results=path, context={"data": "a"})
    records = read_records(path)
    assert [r["trial"] for r in records] == [0, 1, 2]
    assert records[0]["params"] == sample_params(SPACE, 0, 0) and records[0]["seed"] == 0
    assert set(records[0]) >= {"trial", "seed", "params", "score", "metrics", "time", "worker", "context"}

    calls.clear()
    result = random_search(objective, SPACE, n_trials=6, results=path, context={"data": "a"})
    assert calls == [3, 4, 5]  # only the unfinished trials ran
    assert [t.resumed for t in result.trials] == [True] * 3 + [False] * 3
    assert sorted(r["trial"] for r in read_records(path)) == list(range(6))  # each once
    fresh = random_search(quadratic, SPACE, n_trials=6)
    assert [t.score for t in result.trials] == [t.score for t in fresh.trials]

    calls.clear()  # another context (other data) reuses nothing
    random_search(lambda p, s: calls.append(s) or quadratic(p, s), SPACE, n_trials=2, results=path,
                  context={"data": "b"})
    assert calls == [0, 1] and len(read_records(path)) == 8


def test_a_line_cut_short_by_a_crash_is_skipped_and_written_past(tmp_path):
    path = tmp_path / "trials.jsonl"
    random_search(quadratic, SPACE, n_trials=2, results=path)
    with open(path, "ab") as f:
        f.write(b'{"trial": 2, "seed": 2, "par')  # a writer killed in the middle of its line
    result = random_search(quadratic, SPACE, n_trials=4, results=path)
    assert [t.resumed for t in result.trials] == [True, True, False, False]
    lines = path.read_bytes().splitlines()
    assert len(lines) == 5 and lines[2] == b'{"trial": 2, "seed": 2, "par'
    assert [r["trial"] for r in read_records(path)] == [0, 1, 2, 3]


def _append_many(path, writer, count):
    for i in range(count):
        append_record(path, {"writer": writer, "i": i, "padding": "x" * 2000})


def test_concurrent_appends_never_interleave(tmp_path):
    path = tmp_path / "shared.jsonl"
    context = multiprocessing.get_context("fork")  # spawn would spend seconds importing
    writers = [context.Process(target=_append_many, args=(path, w, 40)) for w in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    records = read_records(path)
    assert len(path.read_bytes().splitlines()) == len(records) == 160
    assert sorted((r["writer"], r["i"]) for r in records) == [(w, i) for w in range(4) for i in range(40)]


# -- trials in parallel --------------------------------------------------------------
def test_worker_count_keeps_workers_times_threads_within_the_cores(monkeypatch):
    monkeypatch.setattr(parallel, "usable_cores", lambda: 8)
    assert parallel.worker_count(-1, 1, 100) == 8
    assert parallel.worker_count(-1, 2, 100) == 4
    assert parallel.worker_count(-2, 1, 100) == 7
    assert parallel.worker_count(16, 1, 100) == 8
    assert parallel.worker_count(4, 4, 100) == 2
    assert parallel.worker_count(4, 1, 3) == 3
    assert parallel.worker_count(None, 1, 3) == 1


@pytest.fixture(scope="module")
def small_mnist(mnist_dir):
    (x, t), _ = load_mnist(data_dir=mnist_dir)
    return train_val_split(x[:2400], t[:2400], 0.25, seed=0)


def test_random_search_on_two_processes_equals_the_sequential_run(small_mnist):
    pytest.importorskip("joblib", reason="joblib comes with the [sklearn] extra")
    space = {**SPACE, "model": "mlp", "activation": "relu", "batchnorm": False, "dropout": 0.0,
             "init": None, "dtype": "float32", "optimizer": "adam", "momentum": None,
             "schedule": "none", "patience": None}
    sequential = random_search(train_trial, space, n_trials=4, shared=(small_mnist,))
    parallel_run = random_search(train_trial, space, n_trials=4, shared=(small_mnist,), n_jobs=2)
    assert [t.metrics for t in parallel_run.trials] == [t.metrics for t in sequential.trials]
    assert len({t.worker for t in parallel_run.trials}) == 2  # two processes shared the work
    assert {t.worker for t in sequential.trials} == {parallel._worker_name()}
    assert all(t.metrics["val_accuracy"] > 0.5 for t in sequential.trials if t.params["lr"] > 1e-3)


def test_best_of_restarts_on_two_processes_equals_the_sequential_run(small_mnist):
    pytest.importorskip("joblib", reason="joblib comes with the [sklearn] extra")
    (x, t), (x_val, t_val) = small_mnist

    def train(model, seed):  # a closure over the data: joblib pickles it for the workers
        trainer = nn.Trainer(model, SoftmaxWithLoss(), optimizers.Adam(model.parameters(), lr=3e-3))
        trainer.fit(x, t, epochs=2, batch_size=64, seed=seed, verbose=0)
        loss, accuracy = trainer.evaluate(x_val, t_val)
        return {"loss": loss, "accuracy": accuracy}

    def build(seed):
        return nn.mlp(784, [32], 10, seed=seed)

    seen = []
    one = nn.best_of_restarts(build, train, n=4)
    two = nn.best_of_restarts(build, train, n=4, n_jobs=2, keep_models=True, on_result=seen.append)
    assert two.results[0].model is not None and sorted(r.seed for r in seen) == [0, 1, 2, 3]
    assert [r.metrics for r in two.results] == [r.metrics for r in one.results]
    assert two.best_index == one.best_index
    for p, q in zip(one.model.parameters(), two.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_missing_joblib_or_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "joblib", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"joblib, which is not installed: pip install "
                                          r"\"nn-from-scratch\[sklearn\]\""):
        random_search(quadratic, SPACE, n_trials=2, n_jobs=2)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"needs dask.distributed: pip install \"nn-from-scratch\[dask\]\""):
        random_search(quadratic, SPACE, n_trials=2, scheduler="tcp://127.0.0.1:1")


def test_the_extras_are_declared_and_ci_installs_them():
    """The README's `pip install -e ".[sklearn]"` and `".[dask]"` name extras that hold what the code imports."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {d.split(">")[0] for d in extras["sklearn"]} == {"scikit-learn", "joblib"}
    assert [d.split(">")[0] for d in extras["dask"]] == ["dask[distributed]"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'pip install -q -e "\.\[[^"]*sklearn[^"]*\]"', ci)
    assert re.search(r'pip install -q -e "\.\[[^"]*dask[^"]*\]"', ci)


def test_import_nn_loads_no_optional_extra():
    code = ("import sys, nn, nn.cli; nn.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sklearn', 'joblib', 'dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


# -- the command line ----------------------------------------------------------------
SEARCH = ["search", "--hidden", "16", "--epochs", "1", "--train-size", "1500", "--batch-size", "64",
          "--lr", "1e-3:1e-1:log", "--weight-decay", "1e-8:1e-4:log", "--no-download"]


def test_search_command_end_to_end(mnist_dir, tmp_path, capsys):
    results, plot, model = tmp_path / "trials.jsonl", tmp_path / "search.png", tmp_path / "best.npz"
    code = main([*SEARCH, "--data-dir", str(mnist_dir), "--trials", "4", "--results", str(results),
                 "--plot", str(plot), "--retrain-best", "--save", str(model)])
    out = capsys.readouterr().out
    assert code == 0
    assert "mnist: 1,350 training and 150 validation samples; 4 trials of 1 epoch in this process" in out
    assert "searching lr log-uniform in [0.001, 0.1], weight_decay log-uniform in [1e-08, 0.0001]" in out
    assert out.count("] trial ") == 4 and "[4/4] trial 3" in out
    records = read_records(results)
    best = max(records, key=lambda r: r["score"])
    assert f"best: trial {best['trial']} (seed {best['seed']}), val_acc {100 * best['score']:.2f}%" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "retrained trial" in out and "on all 1,500 training samples" in out
    saved = nn.load_model(model)
    assert saved.num_parameters() == 784 * 16 + 16 + 16 * 10 + 10

    assert main([*SEARCH, "--data-dir", str(mnist_dir), "--trials", "5", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "4 of the 5 trials are already in" in out and out.count("] trial ") == 1
    assert sorted(r["trial"] for r in read_records(results)) == list(range(5))


@pytest.mark.parametrize("args, message", [
    (["--lr", "1e-1:1e-3:log"], "expected LOW < HIGH"),
    (["--lr", "0:1e-1:log"], "expected a positive number, got 0"),
    (["--weight-decay", "0:1e-4:log"], "a log range needs LOW > 0"),
    (["--lr", "1e-3:1e-1:cubic"], "expected LOW:HIGH or LOW:HIGH:log"),
    (["--val-split", "0"], "--val-split must be above 0"),
    (["--save", "x.npz"], "--save writes the retrained best model: add --retrain-best"),
    (["--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"], "not both"),
    (["--jobs", "0"], "expected a positive number of processes, or -1"),
    (["--results", "."], "--results . is a directory: give a file name such as trials.jsonl"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--momentum does not apply to adam"),
])
def test_search_usage_errors_exit_2_without_a_traceback(args, message, mnist_dir, capsys):
    with pytest.raises(SystemExit) as info:
        main([*SEARCH, "--data-dir", str(mnist_dir), *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_scheduler_address_without_a_port_is_a_usage_error(mnist_dir, capsys):
    pytest.importorskip("distributed")
    with pytest.raises(SystemExit) as info:
        main([*SEARCH, "--data-dir", str(mnist_dir), "--scheduler", "localhost"])
    assert info.value.code == 2
    assert "--scheduler: the Dask scheduler address 'localhost' is not of the form tcp://HOST:PORT" \
        in capsys.readouterr().err


def test_files_that_cannot_be_written_are_one_line_errors_and_exit_1(mnist_dir, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    options = [*SEARCH, "--data-dir", str(mnist_dir), "--trials", "1", "--quiet"]
    assert main([*options, "--results", str(blocker / "trials.jsonl")]) == 1
    assert capsys.readouterr().err == f"error: cannot write the results file {blocker / 'trials.jsonl'}: " \
                                      "Not a directory\n"
    assert main([*options, "--plot", str(blocker / "search.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the plot to {blocker / 'search.png'}: ") and err.count("\n") == 1


def test_an_unreachable_scheduler_is_one_line_and_exit_1(mnist_dir, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT_S", 1.0)
    assert main([*SEARCH, "--data-dir", str(mnist_dir), "--trials", "2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert err.count("\n") == 1


def test_an_interrupted_search_command_continues_where_it_stopped(mnist_dir, tmp_path):
    results = tmp_path / "trials.jsonl"
    command = [sys.executable, "-m", "nn", *SEARCH, "--data-dir", str(mnist_dir), "--trials", "40",
               "--epochs", "2", "--train-size", "4000", "--results", str(results)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(read_records(results)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    done = len(read_records(results))
    assert 2 <= done < 40
    assert err.strip() == f"interrupted; {done} trials are in {results}: run the same command to continue"

    rerun = subprocess.run([*command[:command.index("--trials") + 1], "8", *command[command.index("--trials") + 2:]],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    finished = min(done, 8)
    assert f"{finished} of the 8 trials are already in" in rerun.stdout
    assert rerun.stdout.count("] trial ") == 8 - finished  # only the unfinished trials ran
    trials = [r["trial"] for r in read_records(results)]
    assert sorted(set(trials)) == list(range(max(8, done))) and len(trials) == len(set(trials))
