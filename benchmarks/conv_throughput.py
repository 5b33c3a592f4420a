"""Convolutional training throughput against PyTorch: samples per second of one epoch.

The textbook's SimpleConvNet: conv 30 5x5 -> ReLU -> 2x2 max-pool -> Affine 100
-> ReLU -> Affine 10, on MNIST-shaped float32 images ``(N, 1, 28, 28)``, batch
100, Adam (lr 1e-3).  One epoch = forward, backward and an Adam update for
every mini-batch, shuffled without replacement.  Ours runs through
``nn.Trainer.fit`` (the code users run, ``nn.simple_convnet``); PyTorch runs
the usual loop (index a shuffled batch, forward, ``CrossEntropyLoss``,
``zero_grad``, ``backward``, ``Adam.step``) with the same initial weights,
dtype, batch size and thread count (``torch.set_num_threads`` for PyTorch,
threadpoolctl for NumPy's BLAS).  Runs are interleaved (ours, theirs, ours,
...) in one process and the medians compared.

Writes results/conv_throughput.{md,json} (``--quick``: conv_throughput_quick).

    python benchmarks/conv_throughput.py            # full: 10,000 samples, 5 repeats
    python benchmarks/conv_throughput.py --quick    # 1,000 samples, 3 repeats, for CI
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, interleaved_times, machine, markdown_table, write_reports  # noqa: E402
from throughput import limit_threads  # noqa: E402

import nn  # noqa: E402
import optimizers  # noqa: E402
from losses import SoftmaxWithLoss  # noqa: E402

ARCHITECTURE = "conv 30 5x5 -> ReLU -> maxpool 2 -> Affine 100 -> ReLU -> Affine 10"
BATCH = 100
LR = 1e-3


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random MNIST-shaped images in [0, 1) and labels (speed does not depend on values)."""
    rng = np.random.default_rng(0)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, size=n)


class Ours:
    def __init__(self) -> None:
        self.model = nn.simple_convnet(seed=0)
        self.trainer = nn.Trainer(self.model, SoftmaxWithLoss(),
                                  optimizers.Adam(self.model.parameters(), lr=LR))
        self.epoch = 0

    def run_epoch(self, x: np.ndarray, t: np.ndarray) -> None:
        self.epoch += 1
        self.trainer.fit(x, t, epochs=1, batch_size=BATCH, seed=self.epoch, verbose=0)


class Torch:
    def __init__(self, init_from: Ours | None = None) -> None:
        import torch
        self.torch = torch
        self.model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 30, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
            torch.nn.Linear(30 * 12 * 12, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
        if init_from is not None:  # the same initial weights as ours
            conv, fc1, fc2 = (m for m in self.model
                              if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)))
            p = [q.data for q in init_from.model.parameters()]  # conv W, b, fc1 W, b, fc2 W, b
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(p[0]))
                conv.bias.copy_(torch.from_numpy(p[1]))
                # Both flatten (C, H, W) in the same order, so fc1 is a plain transpose.
                for lin, w, b in ((fc1, p[2], p[3]), (fc2, p[4], p[5])):
                    lin.weight.copy_(torch.from_numpy(w.T.copy()))
                    lin.bias.copy_(torch.from_numpy(b))
        self.loss = torch.nn.CrossEntropyLoss()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.gen = torch.Generator().manual_seed(0)

    def run_epoch(self, x, t) -> None:
        torch = self.torch
        order = torch.randperm(len(x), generator=self.gen)
        for i in range(0, len(x), BATCH):
            idx = order[i:i + BATCH]
            out = self.model(x[idx])
            loss = self.loss(out, t[idx])
            self.opt.zero_grad()  # PyTorch's default, set_to_none=True: its fastest
            loss.backward()
            self.opt.step()


def same_start(ours: Ours, theirs: Torch, x: np.ndarray) -> float:
    """Largest difference between the two models' initial scores on a few images."""
    import torch
    ours.model.eval()
    with torch.no_grad():
        theirs_scores = theirs.model(torch.from_numpy(x)).numpy()
    diff = float(np.abs(ours.model.forward(x) - theirs_scores).max())
    ours.model.train()
    return diff


def throughput(n: int, repeats: int, threads: int, have_torch: bool) -> dict:
    x, t = make_data(n)
    ours = Ours()
    theirs = None
    if have_torch:
        import torch
        torch.set_num_threads(threads)
        theirs = Torch(init_from=ours)
        start_diff = same_start(ours, theirs, x[:8])
        if start_diff > 1e-3:
            raise RuntimeError(f"the two models do not start from the same weights "
                               f"(scores differ by {start_diff:.2e})")
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    warm = min(n, 500)
    ours.run_epoch(x[:warm], t[:warm])  # warm up caches and allocators
    if theirs:
        theirs.run_epoch(xt[:warm], tt[:warm])
    ours_s, theirs_s = interleaved_times(lambda: ours.run_epoch(x, t),
                                         theirs and (lambda: theirs.run_epoch(xt, tt)), repeats)
    r = {"network": "SimpleConvNet", "architecture": ARCHITECTURE, "batch": BATCH,
         "optimizer": f"Adam lr {LR:g}", "samples": n, "threads": threads,
         "ours_samples_per_s": n / statistics.median(ours_s), "ours_epoch_s": ours_s}
    if theirs:
        r.update(torch_samples_per_s=n / statistics.median(theirs_s), torch_epoch_s=theirs_s,
                 initial_score_difference=start_diff)
        r["ratio"] = r["ours_samples_per_s"] / r["torch_samples_per_s"]
    return r


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 samples, 3 repeats (CI)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both (default: all cores)")
    parser.add_argument("--samples", type=int, default=None, help="samples per epoch (default 10,000)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 5)")
    parser.add_argument("--no-torch", action="store_true", help="measure ours alone")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    n = args.samples or (1000 if args.quick else 10000)
    repeats = max(3, args.repeats or (3 if args.quick else 5))
    have_torch, alone = False, " PyTorch left out (--no-torch): ours alone."
    if not args.no_torch:
        try:
            import torch
            have_torch = True
        except ImportError:
            alone = " PyTorch is not installed: ours alone, no comparison."
            print("PyTorch is not installed: measuring ours alone, with nothing to compare "
                  "against (pip install torch to compare).")
    _limiter = limit_threads(args.threads)
    info = machine()
    if have_torch:
        info["torch"] = torch.__version__
    print(f"SimpleConvNet ({ARCHITECTURE}), batch {BATCH}, Adam lr {LR:g}, float32; "
          f"{n:,} samples per epoch, {args.threads} threads, medians of {repeats} interleaved runs")
    r = throughput(n, repeats, args.threads, have_torch)
    line = (f"ours {r['ours_samples_per_s']:,.0f} samples/s "
            f"({statistics.median(r['ours_epoch_s']):.2f} s per epoch)")
    if have_torch:
        line += (f"   PyTorch {r['torch_samples_per_s']:,.0f} samples/s "
                 f"({statistics.median(r['torch_epoch_s']):.2f} s)   ratio {r['ratio']:.2f}x")
    print(line)

    header = ["network", "batch", "samples", "ours (samples/s)", "ours epoch (s)"]
    row = ["SimpleConvNet", BATCH, f"{n:,}", f"{r['ours_samples_per_s']:,.0f}",
           f"{statistics.median(r['ours_epoch_s']):.2f}"]
    if have_torch:
        header += [f"PyTorch {info['torch']} (samples/s)", "PyTorch epoch (s)", "ours / PyTorch"]
        row += [f"{r['torch_samples_per_s']:,.0f}", f"{statistics.median(r['torch_epoch_s']):.2f}",
                f"{r['ratio']:.2f}×"]
    table = (f"Convolutional training throughput: {ARCHITECTURE}, one epoch of {n:,} float32 "
             f"MNIST-shaped samples, batch {BATCH}, Adam lr {LR:g}; {info['date']}, "
             f"{info['processor']}, {info['cpu_count']} cores, {info['blas']}, {args.threads} threads; medians of "
             f"{repeats} interleaved runs."
             + ("" if have_torch else alone) + "\n\n"
             + markdown_table(header, [row]))
    name = "conv_throughput" + ("_quick" if args.quick else "")
    out = write_reports(name, {"machine": info, "threads": args.threads, "speed": r}, table, args.out)
    print(f"wrote {out}/{name}.{{md,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
