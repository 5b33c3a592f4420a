"""The BLAS limit: how close a training step gets to the matrix products it is made of.

For each network of benchmarks/throughput.py this lists the GEMMs of one
training step (forward x @ W, weight gradient x.T @ dout, input gradient
dout @ W.T except for the first layer, whose input is the data), times them
alone on this NumPy's BLAS, and compares the GFLOP/s of our whole training
step (through nn.Trainer, the code users run) with the GFLOP/s of those
GEMMs alone.  Also the BLAS peak on a large square GEMM, and a bare NumPy
loop of the same products over shuffled batches, alone (the ceiling for
any NumPy framework: no bias, activation, loss or update) and with NumPy's
two-pass SGD update ``w -= lr * g``, which our step replaces by BLAS's
one-pass ``axpy``.

Before all that, in a fresh process, the GFLOP/s of the first layer's
forward product (batch x 784 @ 784 x 256) before and after
``optimizers.blas.warm_up()``: what the one large product the framework
runs on the first optimizer step is worth on this machine.

Writes results/roofline.{md,json}.

    python benchmarks/roofline.py --threads 1      # the figure the issue asks for
    python benchmarks/roofline.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, markdown_table, median_time, write_reports  # noqa: E402
from throughput import NETWORKS, Ours, limit_threads, make_data  # noqa: E402


def step_gemms(sizes: list[int], batch: int) -> list[tuple[int, int, int, str]]:
    """(m, k, n, what) of every matrix product in one training step."""
    gemms = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        gemms.append((batch, a, b, f"fwd {i}"))
        gemms.append((a, batch, b, f"dW {i}"))
        if i > 0:
            gemms.append((batch, b, a, f"dx {i}"))
    return gemms


def bare_loop(sizes: list[int], batch: int, x: np.ndarray, update: bool) -> float:
    """Samples/s of the step's GEMMs alone inside a plain loop over shuffled batches.

    No bias, activation, loss or checks: only the batch gather, the matrix
    products of forward and backward and, with ``update``, a NumPy SGD step.
    The loop alone is the ceiling any NumPy framework meets on this machine.
    """
    rng = np.random.default_rng(0)
    weights = [rng.random((a, b), dtype=np.float32) * np.float32(0.01)
               for a, b in zip(sizes[:-1], sizes[1:])]
    grads = [np.empty_like(w) for w in weights]
    scratch = [np.empty_like(w) for w in weights]
    lr = np.float32(1e-9)

    def epoch() -> None:
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch):
            acts = [x[order[i:i + batch]]]
            for w in weights:
                acts.append(acts[-1] @ w)
            d = acts[-1]
            for k in range(len(weights) - 1, -1, -1):
                np.matmul(acts[k].T, d, out=grads[k])
                if k:
                    d = d @ weights[k].T
            if update:
                for w, g, s in zip(weights, grads, scratch):
                    np.multiply(g, lr, out=s)
                    w -= s

    epoch()
    return len(x) / median_time(epoch, 3, warmup=0)


def time_gemm(m: int, k: int, n: int, transpose_a: bool, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.random((k, m) if transpose_a else (m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    a_op = a.T if transpose_a else a
    return median_time(lambda: np.matmul(a_op, b, out=out), repeats, warmup=3)


def cold_child(threads: int, repeats: int) -> None:
    """Child process: GFLOP/s of 128x784 @ 784x256 before and after the warm-up."""
    import time
    _limiter = limit_threads(threads)
    from optimizers import blas
    assert not blas._BLAS.loaded, "the child must not have run an optimizer step"
    flops = 2 * 128 * 784 * 256
    before = flops / time_gemm(128, 784, 256, False, repeats) / 1e9
    start = time.perf_counter()
    blas.warm_up()
    warm_s = time.perf_counter() - start
    after = flops / time_gemm(128, 784, 256, False, repeats) / 1e9
    print(json.dumps({"before_gflops": before, "after_gflops": after, "warm_up_ms": 1e3 * warm_s}))


def cold_buffer_effect(threads: int, repeats: int) -> dict:
    """Run ``cold_child`` in a fresh process and return its figures."""
    out = subprocess.run([sys.executable, __file__, "--cold-child", "--threads", str(threads),
                          "--repeats", str(repeats)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples (CI)")
    parser.add_argument("--samples", type=int, default=None, help="samples per timed epoch (default 60,000)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    parser.add_argument("--cold-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cold_child:
        cold_child(args.threads, args.repeats or 51)
        return 0
    repeats = 5 if args.quick else 51
    cold = cold_buffer_effect(args.threads, repeats)
    print(f"128x784 @ 784x256 float32, {args.threads} thread(s), fresh process: "
          f"{cold['before_gflops']:.1f} GFLOP/s before the BLAS warm-up, {cold['after_gflops']:.1f} after "
          f"(the warm-up took {cold['warm_up_ms']:.1f} ms)")
    _limiter = limit_threads(args.threads)
    n = args.samples or (4000 if args.quick else 60000)
    epochs = 2 if args.quick else 5

    size = 512 if args.quick else 1536
    peak_s = time_gemm(size, size, size, False, 3 if args.quick else 7)
    peak = 2 * size ** 3 / peak_s / 1e9
    print(f"square GEMM {size}^3 float32, {args.threads} thread(s): {peak:.1f} GFLOP/s")

    x, t = make_data(n)
    results = []
    for name, sizes, activation, batch in NETWORKS:
        gemms = step_gemms(sizes, batch)
        flops = sum(2 * m * k * nn_ for m, k, nn_, _ in gemms)
        gemm_s = sum(time_gemm(m, k, nn_, what.startswith("dW"), repeats) for m, k, nn_, what in gemms)
        gemm_gflops = flops / gemm_s / 1e9
        ours = Ours(sizes, activation, batch)
        ours.run_epoch(x[: min(n, 5000)], t[: min(n, 5000)])
        epoch_s = median_time(lambda: ours.run_epoch(x, t), epochs, warmup=0)
        samples_per_s = n / epoch_s
        achieved = flops / batch * samples_per_s / 1e9
        bare, bare_sgd = bare_loop(sizes, batch, x, False), bare_loop(sizes, batch, x, True)
        r = {"network": name, "batch": batch, "flops_per_sample": flops / batch,
             "bare_loop_samples_per_s": bare, "bare_loop_with_sgd_samples_per_s": bare_sgd,
             "gemm_gflops_at_training_shapes": gemm_gflops, "square_gemm_peak_gflops": peak,
             "ours_samples_per_s": samples_per_s, "ours_gflops": achieved,
             "percent_of_gemm": 100 * achieved / gemm_gflops}
        results.append(r)
        print(f"{name:>22} b{batch}: GEMMs alone {gemm_gflops:6.1f} GFLOP/s; our step "
              f"{achieved:6.1f} GFLOP/s ({samples_per_s:,.0f} samples/s) = "
              f"{r['percent_of_gemm']:.1f}% of the GEMMs; bare NumPy loop {bare:,.0f} samples/s, "
              f"{bare_sgd:,.0f} with NumPy's SGD update", flush=True)

    header = ["network", "batch", "MFLOP / sample", "GEMMs alone (GFLOP/s)", "our training step (GFLOP/s)",
              "step / GEMMs", "samples/s", "bare NumPy loop (samples/s)", "bare loop + NumPy SGD update"]
    rows = [[r["network"], r["batch"], f"{r['flops_per_sample'] / 1e6:.2f}",
             f"{r['gemm_gflops_at_training_shapes']:.1f}", f"{r['ours_gflops']:.1f}",
             f"{r['percent_of_gemm']:.1f}%", f"{r['ours_samples_per_s']:,.0f}",
             f"{r['bare_loop_samples_per_s']:,.0f}", f"{r['bare_loop_with_sgd_samples_per_s']:,.0f}"]
            for r in results]
    info = machine()
    table = (f"The BLAS limit, float32, {args.threads} thread(s); {info['date']}, {info['processor']}, "
             f"{info['cpu_count']} cores, "
             f"{info['blas']}; square GEMM {size}³ peak {peak:.1f} GFLOP/s. In a fresh process "
             f"without the framework's BLAS warm-up, 128x784 @ 784x256 ran at {cold['before_gflops']:.1f} "
             f"GFLOP/s, and at {cold['after_gflops']:.1f} after it ({cold['warm_up_ms']:.1f} ms)."
             "\n\n" + markdown_table(header, rows))
    suffix = "_quick" if args.quick else f"_{args.threads}thread"
    out = write_reports("roofline" + suffix, {"machine": info, "threads": args.threads,
                                              "cold_blas_buffer": cold, "results": results},
                        table, args.out)
    print(f"\nwrote {out}/roofline{suffix}.{{md,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
