"""Benchmark data loading: cold (parse the .gz IDX files) vs warm (processed
cache), and the peak memory of ``load_fashion_mnist()``.

Every measurement runs in a fresh Python process, so each one pays the real
first-touch cost of its arrays and its peak RSS (VmHWM) is that one load's peak.
Times are taken inside the child around the load call only (interpreter start
and imports excluded); memory is the child's peak RSS minus that of a child
which imports the same modules and loads nothing.

Writes results/load_data.{md,json} (load_data_quick with --quick).

Usage:
    python benchmarks/load_data.py            # 5 repeats per figure
    python benchmarks/load_data.py --quick    # 3 repeats
    python benchmarks/load_data.py --mnist-dir ../shared/datasets/mnist
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, cpu_model, machine, markdown_table, write_reports  # noqa: E402

DEFAULT_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"


def child(which: str, mode: str, fmt: str, data_dir: str | None) -> None:
    """Run one load in this (fresh) process and print a JSON line of results."""
    import time

    from common import peak_rss_mb

    import numpy as np

    import datasets

    result = {"maxrss_kb": 0, "seconds": 0.0, "nbytes": 0}
    if which != "none":
        loader = datasets.load_mnist if which == "mnist" else datasets.load_fashion_mnist
        kwargs = {"data_dir": data_dir, "download": False, "cache": mode != "cold"}
        if fmt == "uint8":
            kwargs.update(normalize=False, dtype=np.uint8)
        start = time.perf_counter()
        (x, t), (xt, tt) = loader(**kwargs)
        result["seconds"] = time.perf_counter() - start
        result["nbytes"] = x.nbytes + t.nbytes + xt.nbytes + tt.nbytes
        result["samples"] = [len(x), len(xt)]
    result["maxrss_kb"] = peak_rss_mb() * 1024
    print(json.dumps(result))


def run_child(which: str, mode: str, fmt: str, data_dir: str | None, cache_dir: str) -> dict:
    cmd = [sys.executable, __file__, "--child", which, mode, fmt, data_dir or ""]
    env = dict(os.environ, NN_CACHE_DIR=cache_dir)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "child failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_of(repeats: int, *args) -> dict:
    runs = [run_child(*args) for _ in range(repeats)]
    out = dict(runs[0])
    out["seconds"] = statistics.median(r["seconds"] for r in runs)
    out["maxrss_kb"] = statistics.median(r["maxrss_kb"] for r in runs)
    return out


def bench_dataset(label: str, which: str, data_dir: str | None, repeats: int) -> dict | None:
    with tempfile.TemporaryDirectory(prefix="nn-bench-cache-") as cache_dir:
        try:
            first = run_child(which, "first", "uint8", data_dir, cache_dir)  # writes the cache
        except RuntimeError as exc:
            print(f"{label}: skipped ({exc})")
            return None
        n_train, n_test = first["samples"]
        result = {"samples": [n_train, n_test], "first_load_uint8_s": first["seconds"]}
        cache_mb = sum(p.stat().st_size for p in Path(cache_dir).rglob("*.npz")) / 1e6
        result["cache_mb"] = cache_mb
        print(f"{label} ({n_train:,} train / {n_test:,} test; processed cache {cache_mb:.1f} MB)")
        print(f"  first load, parse + write cache (uint8): {first['seconds'] * 1e3:7.1f} ms")
        print(f"  {'returned as':<28}{'cold (.gz)':>12}{'warm (cache)':>14}{'saved':>10}")
        rows = {}
        formats = (("uint8", "uint8 (no conversion)"), ("float32", "float32 [0,1] (default)"))
        for fmt, name in formats:
            cold = median_of(repeats, which, "cold", fmt, data_dir, cache_dir)
            warm = median_of(repeats, which, "warm", fmt, data_dir, cache_dir)
            rows[fmt] = {"cold_s": cold["seconds"], "warm_s": warm["seconds"]}
            saved = cold["seconds"] - warm["seconds"]
            print(f"  {name:<28}{cold['seconds'] * 1e3:9.1f} ms{warm['seconds'] * 1e3:11.1f} ms"
                  f"{saved * 1e3:7.1f} ms  ({cold['seconds'] / warm['seconds']:.1f}x)")
        result["formats"] = rows
        return result


def report_table(results: dict, memory: dict | None, repeats: int) -> str:
    rows = []
    for label, r in results.items():
        for fmt, name in (("uint8", "uint8"), ("float32", "float32 in [0, 1] (default)")):
            f = r["formats"][fmt]
            rows.append([label, f"{r['samples'][0]:,} / {r['samples'][1]:,}", name,
                         f"{f['cold_s'] * 1e3:.1f}", f"{f['warm_s'] * 1e3:.1f}",
                         f"{f['cold_s'] / f['warm_s']:.1f}×"])
    table = (f"Data loading, medians of {repeats} fresh processes (the load call only); "
             f"{machine()['date']}, {cpu_model()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}.\n\n"
             + markdown_table(["data set", "train / test", "returned as", "cold: parse .gz (ms)",
                               "warm: processed cache (ms)", "cold / warm"], rows))
    if memory:
        table += "\n\nPeak memory of `load_fashion_mnist()` (float32), above a process that loads nothing: " + \
            ", ".join(f"{mode} {m['peak_mib']:.1f} MiB for {m['array_mib']:.1f} MiB of arrays "
                      f"({m['ratio']:.2f}×)" for mode, m in memory.items()) + "."
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 5")
    parser.add_argument("--mnist-dir", default=os.environ.get("NN_DATA_DIR", str(DEFAULT_MNIST)),
                        help="folder with the MNIST IDX files (default: ../shared/datasets/mnist)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 5

    print(f"Data loading, median of {repeats} fresh processes (load call only, "
          f"imports excluded); Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    results, memory = {}, {}
    mnist = bench_dataset("MNIST", "mnist", args.mnist_dir, repeats)
    if mnist is not None:
        results["MNIST"] = mnist
    print()
    fashion = bench_dataset("Fashion-MNIST", "fashion", None, repeats)
    if fashion is not None:
        results["Fashion-MNIST"] = fashion
        measure_memory(repeats, memory)
    name = "load_data" + ("_quick" if args.quick else "")
    out = write_reports(name, {"machine": machine(), "repeats": repeats, "datasets": results,
                               "fashion_memory": memory},
                        report_table(results, memory, repeats), args.out)
    print(f"\nwrote {out}/{name}.{{md,json}}")


def measure_memory(repeats: int, memory: dict) -> None:
    """Peak RSS of load_fashion_mnist() above a process that loads nothing, cold and warm."""
    with tempfile.TemporaryDirectory(prefix="nn-bench-cache-") as cache_dir:
        base = median_of(repeats, "none", "cold", "float32", None, cache_dir)["maxrss_kb"]
        print(f"\nPeak memory of load_fashion_mnist() (float32, flattened), "
              f"peak RSS minus a {base / 1024:.0f} MiB python+numpy+datasets baseline:")
        run_child("fashion", "first", "uint8", None, cache_dir)
        for mode in ("cold", "warm"):
            res = median_of(repeats, "fashion", mode, "float32", None, cache_dir)
            peak = (res["maxrss_kb"] - base) * 1024
            print(f"  {mode:<5} {peak / 2**20:7.1f} MiB peak for {res['nbytes'] / 2**20:.1f} MiB "
                  f"of returned arrays = {peak / res['nbytes']:.2f}x")
            memory[mode] = {"peak_mib": peak / 2**20, "array_mib": res["nbytes"] / 2**20,
                            "ratio": peak / res["nbytes"]}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] or None)
    else:
        main()
