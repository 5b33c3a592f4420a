"""The BLAS limit: how close a training step gets to the matrix products it is made of.

For each network of benchmarks/throughput.py this lists the GEMMs of one
training step (forward x @ W, weight gradient x.T @ dout, input gradient
dout @ W.T except for the first layer, whose input is the data), times them
alone on this NumPy's BLAS, and compares the GFLOP/s of our whole training
step (through nn.Trainer, the code users run) with the GFLOP/s of those
GEMMs alone.  Also the BLAS peak on a large square GEMM, for reference.

Writes results/roofline.{md,json}.

    python benchmarks/roofline.py --threads 1      # the figure the issue asks for
    python benchmarks/roofline.py --quick
"""

from __future__ import annotations

import argparse
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


def time_gemm(m: int, k: int, n: int, transpose_a: bool, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.random((k, m) if transpose_a else (m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    out = np.empty((m, n), dtype=np.float32)
    a_op = a.T if transpose_a else a
    return median_time(lambda: np.matmul(a_op, b, out=out), repeats, warmup=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and samples (CI)")
    parser.add_argument("--samples", type=int, default=None, help="samples per timed epoch (default 60,000)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    _limiter = limit_threads(args.threads)
    repeats = 5 if args.quick else 51
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
        r = {"network": name, "batch": batch, "flops_per_sample": flops / batch,
             "gemm_gflops_at_training_shapes": gemm_gflops, "square_gemm_peak_gflops": peak,
             "ours_samples_per_s": samples_per_s, "ours_gflops": achieved,
             "percent_of_gemm": 100 * achieved / gemm_gflops}
        results.append(r)
        print(f"{name:>22} b{batch}: GEMMs alone {gemm_gflops:6.1f} GFLOP/s; our step "
              f"{achieved:6.1f} GFLOP/s ({samples_per_s:,.0f} samples/s) = "
              f"{r['percent_of_gemm']:.0f}% of the GEMMs", flush=True)

    header = ["network", "batch", "MFLOP / sample", "GEMMs alone (GFLOP/s)", "our training step (GFLOP/s)",
              "step / GEMMs", "samples/s"]
    rows = [[r["network"], r["batch"], f"{r['flops_per_sample'] / 1e6:.2f}",
             f"{r['gemm_gflops_at_training_shapes']:.1f}", f"{r['ours_gflops']:.1f}",
             f"{r['percent_of_gemm']:.0f}%", f"{r['ours_samples_per_s']:,.0f}"] for r in results]
    info = machine()
    table = (f"The BLAS limit, float32, {args.threads} thread(s); {info['date']}, {info['cpu_count']} cores, "
             f"{info['blas']}; square GEMM {size}³ peak {peak:.1f} GFLOP/s.\n\n" + markdown_table(header, rows))
    suffix = "_quick" if args.quick else f"_{args.threads}thread"
    out = write_reports("roofline" + suffix, {"machine": info, "threads": args.threads, "results": results},
                        table, args.out)
    print(f"\nwrote {out}/roofline{suffix}.{{md,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
