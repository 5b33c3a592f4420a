"""Backpropagation against the numerical gradient: time, ratio and agreement.

For networks of growing size and batches of 1, 3 and 100 (float64, real
MNIST images when they can be loaded, random ones otherwise) this measures:

* one backprop gradient (forward, loss, backward) — median over repeats;
* one full central-difference gradient of every parameter with
  ``nn.numerical_gradient``; where that would exceed ``--budget`` seconds, a
  random sample of coordinates is timed and the figure extrapolated (marked);
* their ratio, and their agreement (max abs and norm-relative difference);
* the numerical time divided by 2P forward passes (P parameters): close to 1
  means the loop adds nothing beyond the forward passes it needs.  The
  coordinates run in chunks of a quarter second, each compared with a
  forward pass timed just before it, so a machine whose speed drifts
  (shared hosts do) moves both sides of the ratio together.

Writes results/backprop_vs_numerical.{md,json,png}.

    python benchmarks/backprop_vs_numerical.py           # full
    python benchmarks/backprop_vs_numerical.py --quick   # seconds, for CI
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, markdown_table, median_time, write_reports  # noqa: E402

import nn  # noqa: E402
from losses import SoftmaxWithLoss  # noqa: E402

NETWORKS = [[784, 10, 10], [784, 50, 10], [784, 100, 10], [784, 100, 100, 10]]
BATCHES = [1, 3, 100]


def load_images(n: int, data_dir: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    try:
        import datasets
        (x, t), _ = datasets.load_mnist(data_dir=data_dir, download=False, dtype=np.float64)
        return x[:n], t[:n], "MNIST"
    except Exception as exc:  # the benchmark still runs without the data
        print(f"(MNIST not found: {str(exc).splitlines()[0]}; using random images)")
        rng = np.random.default_rng(0)
        return rng.random((n, 784)), rng.integers(0, 10, n), "random"


#: seconds of numerical gradient between two timings of the forward pass
CHUNK_S = 0.25


def measure(sizes: list[int], x: np.ndarray, t: np.ndarray, budget: float, repeats: int,
            rng: np.random.Generator) -> dict:
    model = nn.mlp(sizes[0], sizes[1:-1], sizes[-1], activation_name="sigmoid", seed=0,
                   dtype=np.float64)
    loss = SoftmaxWithLoss()
    params = model.parameters()
    total = sum(p.size for p in params)

    def f(_=None) -> float:
        return loss.forward(model.forward(x), t)

    def backprop() -> None:
        model.zero_grad()
        f()
        model.backward(loss.backward(), input_grad=False)

    t_backprop = median_time(backprop, repeats)
    t_forward = median_time(f, max(repeats, 20))
    backprop()
    exact = [p.grad.copy() for p in params]

    # Time the full numerical gradient, or a sample of it if it would not fit the budget.
    # It runs in chunks of about CHUNK_S seconds, each next to a fresh timing of the
    # forward pass: on a shared machine whose speed drifts over seconds, the
    # forwards a chunk is compared with are measured in the same state of the machine.
    estimated = 2 * total * t_forward
    fraction = min(1.0, budget / estimated) if estimated > 0 else 1.0
    chunk = max(1, int(CHUNK_S / (2 * t_forward)))
    numeric, compared, elapsed, evaluated, forwards_s = [], [], 0.0, 0, 0.0
    for p, g in zip(params, exact):
        if fraction >= 1.0:
            idx = np.arange(p.size)
        else:
            k = max(1, int(round(p.size * fraction)))
            idx = np.sort(rng.choice(p.size, size=k, replace=False))
        num = np.empty(len(idx))
        for start_at in range(0, len(idx), chunk):
            part = idx[start_at:start_at + chunk]
            forward_now = median_time(f, 5)
            start = time.perf_counter()
            num[start_at:start_at + chunk] = nn.numerical_gradient(f, p.data, 1e-4,
                                                                   indices=part).reshape(-1)[part]
            elapsed += time.perf_counter() - start
            forwards_s += 2 * len(part) * forward_now
        numeric.append(num)
        compared.append(g.reshape(-1)[idx])
        evaluated += len(idx)
    a, b = np.concatenate(numeric), np.concatenate(compared)
    extrapolated = evaluated < total
    t_numerical = elapsed * total / evaluated
    return {
        "network": "-".join(map(str, sizes)), "batch": len(x), "parameters": total,
        "backprop_s": t_backprop, "numerical_s": t_numerical, "extrapolated": extrapolated,
        "coordinates_timed": evaluated, "ratio": t_numerical / t_backprop,
        "forward_s": t_forward, "numerical_over_2P_forwards": elapsed / forwards_s,
        "max_abs_diff": float(np.max(np.abs(a - b))),
        "norm_rel_diff": float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))),
    }


def plot(results: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for batch, marker in zip(sorted({r["batch"] for r in results}), "osD^"):
        rows = sorted((r for r in results if r["batch"] == batch), key=lambda r: r["parameters"])
        ps = [r["parameters"] for r in rows]
        ax.plot(ps, [r["numerical_s"] for r in rows], marker + "-", label=f"numerical, batch {batch}")
        ax.plot(ps, [r["backprop_s"] for r in rows], marker + "--", label=f"backprop, batch {batch}")
    ax.set(xscale="log", yscale="log", xlabel="parameters P", ylabel="seconds per gradient",
           title="One gradient: central differences vs backpropagation (float64)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small networks and budget (CI)")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds allowed for one full numerical gradient before sampling (default 20, quick 0.5)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats for the medians (default 7)")
    parser.add_argument("--data-dir", help="MNIST directory (default: the loader's search order)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    budget = args.budget or (0.5 if args.quick else 20.0)
    repeats = args.repeats or (3 if args.quick else 7)
    networks = NETWORKS[:2] if args.quick else NETWORKS
    batches = [1, 3] if args.quick else BATCHES
    x_all, t_all, source = load_images(max(batches), args.data_dir)
    rng = np.random.default_rng(0)

    results = []
    for sizes in networks:
        for batch in batches:
            r = measure(sizes, x_all[:batch], t_all[:batch], budget, repeats, rng)
            results.append(r)
            print(f"{r['network']:>15} batch {batch:>3}: backprop {r['backprop_s'] * 1e3:8.3f} ms, "
                  f"numerical {r['numerical_s']:8.2f} s{'*' if r['extrapolated'] else ' '} "
                  f"ratio {r['ratio']:10,.0f}x  /2P fwd {r['numerical_over_2P_forwards']:.2f}  "
                  f"max|diff| {r['max_abs_diff']:.1e}  rel {r['norm_rel_diff']:.1e}", flush=True)

    header = ["network", "batch", "P", "backprop (ms)", "numerical (s)", "numerical / backprop",
              "numerical / (2P forwards)", "max abs diff", "norm-rel diff"]
    rows = [[r["network"], r["batch"], f"{r['parameters']:,}", f"{r['backprop_s'] * 1e3:.3f}",
             f"{r['numerical_s']:.2f}{' (extrapolated)' if r['extrapolated'] else ''}",
             f"{r['ratio']:,.0f}×", f"{r['numerical_over_2P_forwards']:.2f}",
             f"{r['max_abs_diff']:.1e}", f"{r['norm_rel_diff']:.1e}"] for r in results]
    info = machine()
    table = (f"Backprop vs numerical gradient, float64, sigmoid MLPs, {source} images, "
             f"h = 1e-4; {info['date']}, {info['processor']}, {info['cpu_count']} cores, {info['blas']}, "
             f"{info['blas_threads']} BLAS threads; budget {budget:g} s, medians of {repeats}.\n\n"
             + markdown_table(header, rows))
    out = write_reports("backprop_vs_numerical" + ("_quick" if args.quick else ""),
                        {"machine": info, "source": source, "budget_s": budget, "results": results},
                        table, args.out)
    plot(results, out / f"backprop_vs_numerical{'_quick' if args.quick else ''}.png")
    print(f"\nwrote {out}/backprop_vs_numerical{'_quick' if args.quick else ''}.{{md,json,png}}")
    worst = max(r["numerical_over_2P_forwards"] for r in results)
    print(f"numerical / (2P forwards): worst {worst:.2f}; max abs diff "
          f"{max(r['max_abs_diff'] for r in results):.1e}; norm-rel "
          f"{max(r['norm_rel_diff'] for r in results):.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
