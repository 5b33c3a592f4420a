"""Where the time of one training step goes: each layer of ours, and its GEMMs in NumPy and PyTorch.

Trains one network of benchmarks/throughput.py (784-256-256-10 by default)
through ``nn.Trainer.fit``, the code users run, with a timer around every
layer's forward and backward, the loss and the batch gather; what is left
of the epoch is the optimizer calls, the accuracy count and the trainer's
own Python.  Epochs without the timers alternate with them, to show what
they cost.  Then every matrix product of the step is timed alone, on
NumPy's BLAS and with ``torch.mm`` (PyTorch's BLAS), at the same thread
count: the part of the step no framework-level change can shorten.

Writes results/step_breakdown.{md,json}.

    python benchmarks/step_breakdown.py                 # 784-256-256-10, all cores
    python benchmarks/step_breakdown.py --network 784-50-10 --threads 1
    python benchmarks/step_breakdown.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import nn.trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, SETTLE_S, interleaved_times, machine, markdown_table,  # noqa: E402
                    median_time, write_reports)
from roofline import step_gemms, time_gemm  # noqa: E402
from throughput import NETWORKS, Ours, limit_threads, make_data  # noqa: E402

GATHER = "batch gather"
REST = "rest: optimizer calls, accuracy count, trainer's Python"


def add_timers(ours: Ours, totals: dict[str, float]) -> None:
    """Wrap each layer's forward and backward and the loss of ``ours`` to add their seconds to ``totals``.

    The wrappers are instance attributes, which ``Sequential`` and the
    trainer call in place of the class methods.
    """
    def timed(fn: Callable[..., Any], key: str) -> Callable[..., Any]:
        clock = time.perf_counter

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = clock()
            result = fn(*args, **kwargs)
            totals[key] += clock() - start
            return result
        return wrapper

    for i, layer in enumerate(ours.model.layers):
        for phase in ("forward", "backward"):
            setattr(layer, phase, timed(getattr(layer, phase), f"{i} {type(layer).__name__} {phase}"))
    loss = ours.trainer.loss
    for phase in ("forward", "backward"):
        setattr(loss, phase, timed(getattr(loss, phase), f"loss {phase}"))


@contextlib.contextmanager
def timed_gather(totals: dict[str, float]) -> Iterator[None]:
    """While inside, the trainer's batches come through a wrapper that adds each gather's seconds."""
    original = nn.trainer.minibatches

    def minibatches(*args: Any, **kwargs: Any) -> Iterator[Any]:
        batches = original(*args, **kwargs)
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            totals[GATHER] += time.perf_counter() - start
            if batch is None:
                return
            yield batch

    nn.trainer.minibatches = minibatches
    try:
        yield
    finally:
        nn.trainer.minibatches = original


def time_torch_gemm(torch: Any, m: int, k: int, n: int, transpose_a: bool, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = torch.from_numpy(rng.random((k, m) if transpose_a else (m, k), dtype=np.float32))
    b = torch.from_numpy(rng.random((k, n), dtype=np.float32))
    out = torch.empty((m, n), dtype=torch.float32)
    a_op = a.t() if transpose_a else a
    return median_time(lambda: torch.mm(a_op, b, out=out), repeats, warmup=3)


def breakdown(name: str, n: int, epochs: int) -> dict[str, Any]:
    """Median per-batch seconds of each phase over ``epochs`` timed epochs, and of the untimed epochs.

    Timed and untimed epochs alternate (two models from the same seed), so
    that a change of the machine's speed falls on both.
    """
    _, sizes, activation, batch = next(net for net in NETWORKS if net[0].split()[0] == name)
    x, t = make_data(n)
    batches = -(-n // batch)
    plain, ours = Ours(sizes, activation, batch), Ours(sizes, activation, batch)
    totals: dict[str, float] = defaultdict(float)
    add_timers(ours, totals)
    per_epoch: list[dict[str, float]] = []

    def timed_epoch() -> None:
        totals.clear()
        start = time.perf_counter()
        with timed_gather(totals):
            ours.run_epoch(x, t)
        phases = dict(totals)
        phases[REST] = time.perf_counter() - start - sum(totals.values())
        per_epoch.append(phases)

    for model in (plain, ours):
        model.run_epoch(x[: min(n, 5000)], t[: min(n, 5000)])  # warm up caches and allocators
    untimed, _ = interleaved_times(lambda: plain.run_epoch(x, t), timed_epoch, epochs)
    phases = {key: statistics.median(p[key] for p in per_epoch) / batches for key in per_epoch[0]}
    return {"network": name, "sizes": sizes, "batch": batch, "samples": n, "epochs": epochs,
            "untimed_batch_s": statistics.median(untimed) / batches,
            "timed_batch_s": sum(phases.values()), "phases_s": phases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = [net[0].split()[0] for net in NETWORKS]
    parser.add_argument("--network", choices=names, default=names[-1], help="default: %(default)s")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS threads (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="6,000 samples, 2 epochs (CI)")
    parser.add_argument("--no-torch", action="store_true", help="time NumPy's GEMMs alone")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            print("PyTorch is not installed: NumPy's GEMMs alone (pip install torch to compare).")
    _limiter = limit_threads(args.threads)
    n, epochs, repeats = (6000, 2, 5) if args.quick else (60000, 5, 51)

    result = breakdown(args.network, n, epochs)
    batch = result["batch"]
    us = 1e6
    print(f"{args.network}, batch {batch}, {args.threads} thread(s): {result['untimed_batch_s'] * us:,.0f} µs "
          f"per batch untimed, {result['timed_batch_s'] * us:,.0f} with a timer around each layer")
    step_rows = [[key, f"{s * us:.1f}", f"{100 * s / result['timed_batch_s']:.1f}%"]
                 for key, s in result["phases_s"].items()]
    width = max(len(key) for key in result["phases_s"])
    for key, s, share in step_rows:
        print(f"  {key:<{width}} {s:>8} µs  {share:>6}")

    products = step_gemms(result["sizes"], batch)
    gemms = [{"what": what, "shape": f"{m}x{k}x{nn_}",
              "numpy_s": time_gemm(m, k, nn_, what.startswith("dW"), repeats), "torch_s": None}
             for m, k, nn_, what in products]
    if torch:
        # NumPy's BLAS threads first, then PyTorch's: OpenBLAS's threads spin for a
        # while after a product and would take a core from PyTorch's (see SETTLE_S).
        time.sleep(SETTLE_S)
        for g, (m, k, nn_, what) in zip(gemms, products):
            g["torch_s"] = time_torch_gemm(torch, m, k, nn_, what.startswith("dW"), repeats)
    numpy_sum = sum(g["numpy_s"] for g in gemms)
    torch_sum = sum(g["torch_s"] for g in gemms) if torch else None
    result.update(gemms=gemms, gemms_numpy_s=numpy_sum, gemms_torch_s=torch_sum)
    header = ["product", "m×k×n", "NumPy's BLAS (µs)"] + ([f"torch.mm {torch.__version__} (µs)"] if torch else [])
    gemm_rows = [[g["what"], g["shape"], f"{g['numpy_s'] * us:.1f}"]
                 + ([f"{g['torch_s'] * us:.1f}"] if torch else []) for g in gemms]
    gemm_rows.append(["all", "", f"{numpy_sum * us:.0f}"] + ([f"{torch_sum * us:.0f}"] if torch else []))
    print(f"  the step's GEMMs alone: NumPy {numpy_sum * us:,.0f} µs"
          + (f", torch.mm {torch_sum * us:,.0f} µs" if torch else "")
          + f"; the step's time beyond its GEMMs {(result['untimed_batch_s'] - numpy_sum) * us:,.0f} µs")

    info = machine()
    if torch:
        info["torch"] = torch.__version__
    table = (f"One training step of {args.network} (SGD, batch {batch}, float32), {args.threads} thread(s); "
             f"{info['date']}, {info['processor']}, {info['cpu_count']} cores, {info['blas']}; "
             f"medians of {epochs} epochs of {n:,} samples, timed and untimed alternating. Per batch: "
             f"{result['untimed_batch_s'] * us:,.0f} µs untimed, {result['timed_batch_s'] * us:,.0f} µs "
             f"with the timers; its GEMMs alone {numpy_sum * us:,.0f} µs"
             + (f" (PyTorch's {torch_sum * us:,.0f} µs)" if torch else "") + ".\n\n"
             + markdown_table(["phase", "µs per batch", "share"], step_rows) + "\n\n"
             + markdown_table(header, gemm_rows))
    name = "step_breakdown" + ("_quick" if args.quick else "")
    out = write_reports(name, {"machine": info, "threads": args.threads, **result}, table, args.out)
    print(f"\nwrote {out}/{name}.{{md,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
