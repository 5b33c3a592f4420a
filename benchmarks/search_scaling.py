"""A random search on MNIST: sequential vs two local processes vs a two-worker Dask cluster.

The search is the one ``python -m nn search --hidden 100 --batch-size 100
--epochs 5 --lr 1e-4:1e-1:log --weight-decay 1e-8:1e-4:log --trials 16``
runs: ``nn.random_search`` over ``nn.search_cli.train_trial`` (784-100-10
ReLU, Adam), each trial trained on 90 % of the shared MNIST copy and scored
on the other 10 %. Each mode is timed from the call to its return: with
``n_jobs=2`` that includes starting the two worker processes (they are
stopped before every run) and sending them the data; the Dask cluster, a
standing one as users have, is a ``LocalCluster`` of two one-thread worker
processes started once, and its time includes connecting and scattering
the data. Loading MNIST is outside the timings (every mode does it alike).

Every mode runs each trial with one BLAS thread, so their trials must give
the same figures digit for digit; the script checks it and exits 1 if not.
A fourth mode, sequential with two BLAS threads per trial, shows what the
machine's default thread count gives (its figures differ in the last
digits: more threads round BLAS sums differently). Modes run in turn,
``--repeats`` rounds; medians reported.

Writes results/search_scaling.{md,json} (search_scaling_quick with --quick).

    python benchmarks/search_scaling.py            # 16 trials of 5 epochs, 3 rounds
    python benchmarks/search_scaling.py --quick    # 4 trials of 1 epoch on 2,000 images, 1 round (CI)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, markdown_table, write_reports  # noqa: E402

import nn  # noqa: E402
from datasets import load_mnist, train_val_split  # noqa: E402
from nn.cli import build_parser  # noqa: E402
from nn.search_cli import search_space, train_trial  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "datasets"


def space(epochs: int) -> dict:
    """The trials' parameters, as `python -m nn search` builds them from the options in the docstring."""
    options = ["search", "--hidden", "100", "--batch-size", "100", "--epochs", str(epochs),
               "--lr", "1e-4:1e-1:log", "--weight-decay", "1e-8:1e-4:log"]
    return search_space(build_parser().parse_args(options))


def stop_joblib_workers() -> None:
    """Stop joblib's reusable worker processes, so that the next run starts its own as a user's would."""
    from joblib.externals.loky import get_reusable_executor
    get_reusable_executor().shutdown(wait=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 trials of 1 epoch on 2,000 images (CI)")
    parser.add_argument("--trials", type=int, default=None, help="trials per search (16; quick: 4)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (5; quick: 1)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds over the modes (3; quick: 1)")
    parser.add_argument("--data-dir", default=os.environ.get("NN_DATA_DIR", str(DEFAULT_DATA)),
                        help="MNIST folder or its parent (default: $NN_DATA_DIR, else ../shared/datasets)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    trials = args.trials or (4 if args.quick else 16)
    epochs = args.epochs or (1 if args.quick else 5)
    repeats = args.repeats or (1 if args.quick else 3)
    train_size = 2000 if args.quick else None

    (x, t), _ = load_mnist(data_dir=args.data_dir, download=False)
    if train_size:
        x, t = x[:train_size], t[:train_size]
    data = train_val_split(x, t, 0.1, seed=0)
    search_space = space(epochs)

    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        modes = {"sequential, 1 BLAS thread per trial": {"n_jobs": 1},
                 "n_jobs=2 (two local processes)": {"n_jobs": 2},
                 "scheduler=: 2-worker local Dask cluster": {"scheduler": cluster.scheduler_address},
                 "sequential, 2 BLAS threads per trial": {"n_jobs": 1, "threads_per_trial": 2}}
        times: dict[str, list[float]] = {name: [] for name in modes}
        found: dict[str, list[dict]] = {}
        for round_ in range(repeats):
            for name, kwargs in modes.items():
                stop_joblib_workers()
                time.sleep(0.5)  # idle BLAS threads of the last run spin for a while: let them stop
                started = time.perf_counter()
                result = nn.random_search(train_trial, search_space, trials, shared=(data,),
                                          **{"threads_per_trial": 1, **kwargs})
                times[name].append(time.perf_counter() - started)
                found[name] = [trial.metrics for trial in result.trials]
                print(f"round {round_ + 1}/{repeats}  {name:<42} {times[name][-1]:7.2f} s", flush=True)

    reference = found["sequential, 1 BLAS thread per trial"]
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
             f"epoch{'s' * (epochs != 1)}; lr log-uniform in [1e-4, 1e-1], weight decay in [1e-8, 1e-4]) "
             f"on {len(data[0][0]):,} MNIST images, scored on {len(data[1][0]):,} held out; the search "
             f"call timed, worker start included, median of {repeats}; {info['date']}, {info['processor']}, "
             f"{info['cpu_count']} cores.\n\n"
             + markdown_table(["mode", "wall time (s)", "vs sequential", "best val accuracy",
                               "figures vs the sequential run"], rows))
    name = "search_scaling_quick" if args.quick else "search_scaling"
    out = write_reports(name, {"machine": info, "trials": trials, "epochs": epochs, "train_size": train_size,
                               "repeats": repeats, "modes": report}, table, args.out)
    print(table)
    print(f"wrote {out / name}.md and .json")
    if not all(r["identical"] for r in report if "2 BLAS threads" not in r["mode"]):
        print("error: the parallel runs' figures differ from the sequential run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
