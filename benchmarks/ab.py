"""A/B of two versions of the framework: training samples/s and import time, a git revision against the work tree.

Each version runs in its own long-lived child process, importing the
packages from its own tree (``git worktree`` of the base revision, in a
temporary folder), with the same data, networks, thread count and
optimizer.  The parent asks them for one epoch at a time, alternating
which goes first, so both see the same drift of the machine; the report
gives, per network, the median samples/s of each and the median of the
paired ratios (head / base) over the repeats.  Before that, the wall time
of ``python -c "import nn"`` in fresh processes, alternating the two
versions, median of ``--import-repeats``.  Only the public API is used
(``nn.mlp``, ``nn.Trainer``, ``optimizers``, ``losses``), so any two
versions that have it can be compared.

Writes results/ab[_<optimizer>][_<N>thread].{md,json}.

    python benchmarks/ab.py --base 90a2a2b              # a past commit against the work tree
    python benchmarks/ab.py --base HEAD --quick          # CI: the script itself works
    python benchmarks/ab.py --base HEAD~1 --optimizer adam --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, SETTLE_S, machine, markdown_table, write_reports  # noqa: E402
from throughput import LR, NETWORKS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# The child: builds every network once, then answers "index" lines with one epoch's seconds.
CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
threads, samples, optimizer, lr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
networks = json.loads(sys.argv[5])
limiter = threadpool_limits(limits=threads, user_api="blas")
import nn, optimizers
from losses import SoftmaxWithLoss
rng = np.random.default_rng(0)
x, t = rng.random((samples, 784), dtype=np.float32), rng.integers(0, 10, size=samples)
trainers = []
for sizes, activation in networks:
    model = nn.mlp(sizes[0], sizes[1:-1], sizes[-1], activation_name=activation, seed=0)
    opt = {"sgd": optimizers.SGD, "adam": optimizers.Adam}[optimizer](model.parameters(), lr=lr)
    trainers.append(nn.Trainer(model, SoftmaxWithLoss(), opt))
epochs = [0] * len(trainers)
print(json.dumps({"nn": nn.__file__}), flush=True)
for line in sys.stdin:
    index, batch = (int(v) for v in line.split())
    epochs[index] += 1
    start = time.perf_counter()
    trainers[index].fit(x, t, epochs=1, batch_size=batch, seed=epochs[index], verbose=0)
    print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
"""


class Child:
    """One version of the framework in a child process, trained one epoch per request."""

    def __init__(self, tree: Path, threads: int, samples: int, optimizer: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        networks = json.dumps([[sizes, activation] for _, sizes, activation, _ in NETWORKS])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(threads), str(samples), optimizer, str(LR[optimizer]),
             networks], cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = json.loads(self.proc.stdout.readline())
        if not Path(hello["nn"]).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"the child for {tree} imported nn from {hello['nn']}")

    def epoch(self, index: int, batch: int) -> float:
        self.proc.stdin.write(f"{index} {batch}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["seconds"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def import_seconds(tree: Path) -> float:
    """Wall time of a fresh ``python -c "import nn"`` importing from ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import nn"], cwd=tree, env=env, check=True)
    return time.perf_counter() - start


def base_tree(revision: str, folder: Path) -> Path:
    """A checkout of ``revision`` in ``folder`` (a detached git worktree)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(folder),
                    revision], check=True)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD", help="git revision to compare against (default HEAD)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="BLAS threads (default: all cores)")
    parser.add_argument("--optimizer", choices=sorted(LR), default="sgd")
    parser.add_argument("--samples", type=int, default=None, help="samples per epoch (default 60,000)")
    parser.add_argument("--repeats", type=int, default=None, help="epochs per version and network (default 9)")
    parser.add_argument("--import-repeats", type=int, default=None,
                        help="fresh imports per version (default 21)")
    parser.add_argument("--quick", action="store_true", help="6,000 samples, 2 repeats (CI)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    samples = args.samples or (6000 if args.quick else 60000)
    repeats = args.repeats or (2 if args.quick else 9)
    revision = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base],
                              capture_output=True, text=True, check=True).stdout.strip()
    info = machine()
    print(f"base {args.base} ({revision}) against the work tree; {samples:,} samples, "
          f"{args.threads} threads, {args.optimizer}, {repeats} alternating epochs each")
    with tempfile.TemporaryDirectory(prefix="nn-ab-") as tmp:
        tree = base_tree(revision, Path(tmp) / "base")
        try:
            imports = {"base": [], "head": []}
            for r in range(args.import_repeats or (3 if args.quick else 21)):
                for name in (["base", "head"] if r % 2 == 0 else ["head", "base"]):
                    imports[name].append(import_seconds(tree if name == "base" else ROOT))
            import_ms = {name: 1e3 * statistics.median(s) for name, s in imports.items()}
            print(f"import nn: base {import_ms['base']:.1f} ms, head {import_ms['head']:.1f} ms "
                  f"(medians of {len(imports['base'])} fresh processes each)", flush=True)
            children = {"base": Child(tree, args.threads, samples, args.optimizer),
                        "head": Child(ROOT, args.threads, samples, args.optimizer)}
            times = {(name, i): [] for name in children for i in range(len(NETWORKS))}
            for index, (_, _, _, batch) in enumerate(NETWORKS):
                for child in children.values():  # one untimed epoch each: first-touch costs
                    child.epoch(index, batch)
                for r in range(repeats):
                    order = ["base", "head"] if r % 2 == 0 else ["head", "base"]
                    for name in order:
                        time.sleep(SETTLE_S)  # let the other's BLAS threads stop spinning
                        times[name, index].append(children[name].epoch(index, batch))
            for child in children.values():
                child.close()
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)
    rows, results = [], []
    for index, (name, _, _, batch) in enumerate(NETWORKS):
        base_s, head_s = times["base", index], times["head", index]
        r = {"network": name, "batch": batch,
             "base_samples_per_s": samples / statistics.median(base_s),
             "head_samples_per_s": samples / statistics.median(head_s),
             "paired_ratio": statistics.median(b / h for b, h in zip(base_s, head_s)),
             "base_seconds": base_s, "head_seconds": head_s}
        r["ratio"] = r["head_samples_per_s"] / r["base_samples_per_s"]
        results.append(r)
        rows.append([name, batch, f"{r['base_samples_per_s']:,.0f}", f"{r['head_samples_per_s']:,.0f}",
                     f"{r['ratio']:.3f}×", f"{r['paired_ratio']:.3f}×"])
        print(f"{name:>22} b{batch}: base {r['base_samples_per_s']:>9,.0f}   head "
              f"{r['head_samples_per_s']:>9,.0f} samples/s   head/base {r['ratio']:.3f}x "
              f"(paired {r['paired_ratio']:.3f}x)", flush=True)
    table = (f"A/B: base {args.base} ({revision}) against the work tree, one epoch of {samples:,} "
             f"float32 samples, {args.optimizer} lr {LR[args.optimizer]:g}; {info['date']}, "
             f"{info['processor']}, {info['cpu_count']} cores, {info['blas']}, {args.threads} threads; "
             f"medians of {repeats} alternating epochs.\n\n"
             + markdown_table(["network", "batch", "base (samples/s)", "head (samples/s)",
                               "head / base", "paired epochs"], rows)
             + f"\n\n`python -c \"import nn\"`: base {import_ms['base']:.1f} ms, head "
               f"{import_ms['head']:.1f} ms (medians of {len(imports['base'])} fresh processes each, "
               "alternating).")
    name = ("ab" + ("_quick" if args.quick else "")
            + ("" if args.optimizer == "sgd" else f"_{args.optimizer}")
            + ("" if args.threads == os.cpu_count() else f"_{args.threads}thread"))
    out = write_reports(name, {"machine": info, "base": args.base, "revision": revision,
                               "threads": args.threads, "optimizer": args.optimizer,
                               "samples": samples, "import_ms": import_ms, "import_seconds": imports,
                               "results": results}, table, args.out)
    print(f"\nwrote {out}/{name}.{{md,json}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
