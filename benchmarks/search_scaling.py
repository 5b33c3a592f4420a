"""A random search on MNIST, sequential vs two local processes vs a two-worker Dask cluster.

Each run is the command a user types, ``python -m nn search`` (784-100-10
ReLU, Adam, the textbook's log-uniform ranges for the learning rate and the
weight decay), in a fresh process, timed from start to exit: the
interpreter, loading MNIST from the cache, starting the joblib workers or
connecting to the cluster, and every trial. The Dask cluster, a standing
one as users have, is a ``LocalCluster`` of two one-thread worker processes
started before the runs. Every mode runs each trial with one BLAS thread,
so their results files must hold the same figures, trial by trial; the
script checks it and exits 1 if they differ. A fourth run, sequential with
two BLAS threads per trial, shows what the machine's default gives
(different threads round BLAS sums differently, so its figures differ in
the last digits). Modes run in turn, ``--repeats`` rounds; medians reported.

Writes results/search_scaling.{md,json} (search_scaling_quick with --quick).

    python benchmarks/search_scaling.py            # 16 trials of 5 epochs on the shared MNIST
    python benchmarks/search_scaling.py --quick    # 4 trials of 1 epoch on 2,000 images (CI)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, markdown_table, write_reports  # noqa: E402

from nn.search import read_records  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets"


def search_command(trials: int, epochs: int, train_size: int | None, data_dir: str, results: Path,
                   *mode: str) -> list[str]:
    command = [sys.executable, "-m", "nn", "search", "--data-dir", data_dir, "--no-download",
               "--hidden", "100", "--batch-size", "100", "--epochs", str(epochs), "--trials", str(trials),
               "--lr", "1e-4:1e-1:log", "--weight-decay", "1e-8:1e-4:log", "--quiet",
               "--results", str(results), *mode]
    return command + (["--train-size", str(train_size)] if train_size else [])


def run(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return seconds


def figures(path: Path) -> list[dict]:
    return [r["metrics"] for r in sorted(read_records(path), key=lambda r: r["trial"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 trials of 1 epoch on 2,000 images (CI)")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (16; quick: 4)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (5; quick: 1)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds over the modes (2; quick: 1)")
    parser.add_argument("--data-dir", default=os.environ.get("NN_DATA_DIR", str(DEFAULT_DATA)),
                        help="MNIST folder or its parent (default: $NN_DATA_DIR, else ../shared/datasets)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    trials = args.trials or (4 if args.quick else 16)
    epochs = args.epochs or (1 if args.quick else 5)
    repeats = args.repeats or (1 if args.quick else 2)
    train_size = 2000 if args.quick else None
    os.environ.setdefault("MPLBACKEND", "Agg")

    from distributed import LocalCluster

    modes = {"sequential, 1 BLAS thread per trial": ["--jobs", "1", "--threads", "1"],
             "--jobs 2 (two local processes)": ["--jobs", "2", "--threads", "1"],
             "--scheduler: 2-worker local Dask cluster": None,  # the address, once it is up
             "sequential, 2 BLAS threads per trial": ["--jobs", "1", "--threads", "2"]}
    times: dict[str, list[float]] = {name: [] for name in modes}
    with tempfile.TemporaryDirectory() as scratch, \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                         local_directory=scratch) as cluster:
        modes["--scheduler: 2-worker local Dask cluster"] = ["--scheduler", cluster.scheduler_address]
        results = {name: Path(scratch, f"mode{i}.jsonl") for i, name in enumerate(modes)}
        for round_ in range(repeats):
            for name, mode in modes.items():
                results[name].unlink(missing_ok=True)  # a fresh search, not a resumed one
                seconds = run(search_command(trials, epochs, train_size, args.data_dir, results[name], *mode))
                times[name].append(seconds)
                print(f"round {round_ + 1}/{repeats}  {name:<42} {seconds:7.2f} s", flush=True)
        found = {name: figures(path) for name, path in results.items()}

    reference = found["sequential, 1 BLAS thread per trial"]
    if any(len(f) != trials for f in found.values()):
        raise SystemExit(f"a search recorded {[len(f) for f in found.values()]} trials, not {trials}")
    base = statistics.median(times["sequential, 1 BLAS thread per trial"])
    rows, report = [], []
    for name in modes:
        median = statistics.median(times[name])
        same = found[name] == reference
        best = max(m["val_accuracy"] for m in found[name] if m["val_accuracy"] == m["val_accuracy"])
        rows.append([name, f"{median:.1f}", f"{median / base:.2f}×", f"{100 * best:.2f} %",
                     "identical" if same else "differ"])
        report.append({"mode": name, "seconds": times[name], "median_s": median,
                       "vs_sequential": median / base, "best_val_accuracy": best, "identical": same})
    info = machine()
    table = (f"Random search, {trials} trials of 784-100-10 ReLU (Adam, batch 100, {epochs} "
             f"epoch{'s' * (epochs != 1)}, lr log-uniform in [1e-4, 1e-1], weight decay in [1e-8, 1e-4]) "
             f"on MNIST{f' (first {train_size} images)' if train_size else ''}, 10 % held out to score them; "
             f"`python -m nn search` timed from start to exit, median of {repeats}; {info['date']}, "
             f"{info['processor']}, {info['cpu_count']} cores.\n\n"
             + markdown_table(["mode", "wall time (s)", "vs sequential", "best val accuracy",
                               "figures vs the sequential run"], rows))
    name = "search_scaling_quick" if args.quick else "search_scaling"
    out = write_reports(name, {"machine": info, "trials": trials, "epochs": epochs, "train_size": train_size,
                               "repeats": repeats, "modes": report}, table, args.out)
    print(table)
    print(f"wrote {out / name}.md and .json")
    parallel = [r for r in report if r["mode"] != "sequential, 2 BLAS threads per trial"]
    if not all(r["identical"] for r in parallel):
        print("error: the parallel runs' figures differ from the sequential run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
