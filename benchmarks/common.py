"""Shared bits of the benchmark scripts: timing, machine description, report files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """This process's resident set size now, in MiB (Linux; NaN elsewhere)."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MiB.

    Read from /proc (VmHWM), which starts afresh at exec; ``ru_maxrss`` does
    not on Linux: a child started from a large parent inherits its peak.
    """
    kb = _status_kb("VmHWM")
    if kb is None:
        import resource
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


#: pause before each timed run: both frameworks' idle worker threads spin for a while
#: after their last parallel region, and would otherwise take cores from the next run.
SETTLE_S = 0.5


def interleaved(runs: list[Callable[[], Any] | None], repeats: int,
                settle_s: float = SETTLE_S) -> list[list[float]]:
    """Wall times of each of ``runs`` called in turn, ``repeats`` rounds; None is skipped.

    Interleaving spreads any drift of the machine (heat, other load) over all.
    Each timed run starts after ``settle_s`` seconds of sleep: OpenBLAS's
    threads spin for about a tenth of a second after a product, PyTorch's
    OpenMP threads likewise, and a run started at once shares the cores with
    the other framework's spinning threads (on 2 cores this cost PyTorch
    ~20 % at 2 threads).
    """
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, out in zip(runs, times):
            if run is not None:
                time.sleep(settle_s)
                start = time.perf_counter()
                run()
                out.append(time.perf_counter() - start)
    return times


def interleaved_times(run_ours: Callable[[], Any], run_theirs: Callable[[], Any] | None,
                      repeats: int, settle_s: float = SETTLE_S) -> tuple[list[float], list[float]]:
    """``interleaved`` for two: the wall times of ``run_ours()`` and ``run_theirs()``."""
    ours, theirs = interleaved([run_ours, run_theirs], repeats, settle_s)
    return ours, theirs


def blas_info() -> dict[str, Any]:
    """Which BLAS NumPy uses, with how many threads (threadpoolctl if installed)."""
    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        # SciPy may bring its own BLAS; the one that matters here is NumPy's.
        blas.sort(key=lambda i: "numpy" not in i.get("filepath", ""))
        if blas:
            b = blas[0]
            return {"blas": f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})",
                    "blas_threads": b.get("num_threads")}
    except ImportError:
        pass
    return {"blas": "unknown (pip install threadpoolctl to see)", "blas_threads": None}


def cpu_model() -> str:
    """The processor's name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def paired_ratio(ours_s: list[float], theirs_s: list[float]) -> float:
    """Median over repeats of theirs_time / ours_time, each pair run back to back.

    On a shared machine whose speed drifts between runs, a pair measured
    within a second of each other shares the machine's state; the ratio of
    the two medians can pair a fast run of one with a slow run of the other.
    """
    return statistics.median(t / o for o, t in zip(ours_s, theirs_s))


def machine() -> dict[str, Any]:
    from optimizers.blas import library  # the one-pass updates are on only with NumPy's OpenBLAS
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu_count": os.cpu_count(),
            "processor": cpu_model(),
            "python": platform.python_version(), "numpy": np.__version__, **blas_info(),
            "blas_one_pass_updates": library() is not None}


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_reports(name: str, data: dict[str, Any], table: str, out_dir: Path | None = None) -> Path:
    """Write ``<name>.json`` and ``<name>.md`` (atomically) into ``out_dir`` and return it."""
    out_dir = Path(out_dir or RESULTS)
    out_dir.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".json", json.dumps(data, indent=2)), (".md", table + "\n")):
        tmp = out_dir / f".{name}{suffix}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out_dir / f"{name}{suffix}")
    return out_dir
