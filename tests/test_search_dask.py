"""Trials on a real Dask cluster: `dask scheduler` and two `dask worker` processes on 127.0.0.1.

The fixture starts them as a user would, on free ports, waits (bounded) for
both workers, and always stops every process it started, children included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="dask.distributed is an optional extra: pip install -e '.[dask]'")

from distributed import Client  # noqa: E402
from scipy.stats import uniform  # noqa: E402

from conftest import ROOT  # noqa: E402
from nn.cli import main  # noqa: E402
from nn.search import random_search, read_records, sample_params  # noqa: E402

START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask_command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("dask")  # the `dask` command of this environment
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "dask", *args]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (a worker's nanny and its worker), SIGKILL what outlives 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The scheduler's address, with two one-thread workers connected to it."""
    logs = tmp_path_factory.mktemp("dask")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    address = f"tcp://127.0.0.1:{_free_port()}"
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        log = open(logs / f"{name}.log", "wb")
        processes.append(subprocess.Popen(_dask_command(*args), cwd=logs, env=env, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
              "--no-dashboard")
        for i in (1, 2):
            start(f"worker{i}", "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                  "--local-directory", str(logs / f"worker{i}"))
        with Client(address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process)


def test_the_search_command_on_the_cluster_gives_the_sequential_results(cluster, mnist_dir, tmp_path, capsys):
    args = ["search", "--data-dir", str(mnist_dir), "--no-download", "--hidden", "16", "--epochs", "1",
            "--train-size", "1500", "--lr", "1e-3:1e-1:log", "--weight-decay", "1e-8:1e-4:log",
            "--trials", "6"]
    assert main([*args, "--results", str(tmp_path / "local.jsonl")]) == 0
    assert main([*args, "--scheduler", cluster, "--results", str(tmp_path / "dask.jsonl")]) == 0
    out = capsys.readouterr().out
    assert f"6 trials of 1 epoch on the Dask cluster at {cluster}" in out
    local = sorted(read_records(tmp_path / "local.jsonl"), key=lambda r: r["trial"])
    remote = sorted(read_records(tmp_path / "dask.jsonl"), key=lambda r: r["trial"])
    assert [r["trial"] for r in remote] == list(range(6))
    assert [r["metrics"] for r in remote] == [r["metrics"] for r in local]
    with Client(cluster, timeout=10) as client:
        workers = set(client.scheduler_info()["workers"])
    assert {r["worker"] for r in remote} == workers and len(workers) == 2


def test_a_worker_killed_mid_trial_loses_no_trial(cluster, tmp_path):
    markers, results = tmp_path / "markers", tmp_path / "trials.jsonl"
    markers.mkdir()
    outcome: dict = {}

    def search() -> None:
        try:
            from trial_helpers import marked_sleep
            outcome["result"] = random_search(marked_sleep, {"x": uniform(0, 1)}, n_trials=6,
                                              shared=(str(markers), 1.5), scheduler=cluster,
                                              results=results)
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=search, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not list(markers.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    started = sorted(markers.iterdir())
    assert started, "no trial started on the cluster"
    victim = started[0]
    trial_seed = int(victim.name.split("-")[0].removeprefix("trial"))
    os.kill(int(victim.name.split("pid")[1]), signal.SIGKILL)  # the worker process, mid-trial
    victim_address = victim.read_text()

    thread.join(START_TIMEOUT_S)
    assert not thread.is_alive(), "the search did not finish"
    assert "error" not in outcome, repr(outcome.get("error"))
    records = read_records(results)
    assert sorted(r["trial"] for r in records) == list(range(6))  # every trial, each recorded once
    assert [t.metrics["val_accuracy"] for t in outcome["result"].trials] == \
        [sample_params({"x": uniform(0, 1)}, 0, i)["x"] for i in range(6)]
    retried = [r for r in records if r["seed"] == trial_seed]
    assert retried[0]["worker"] != victim_address  # finished on another worker
    assert len(list(markers.glob(f"trial{trial_seed}-*"))) == 2  # started twice: killed, then retried
