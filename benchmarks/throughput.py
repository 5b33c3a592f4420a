"""Training throughput against PyTorch: samples per second of one epoch, and memory.

One epoch = forward, backward and an SGD update (Adam with ``--optimizer
adam``) for every mini-batch of 60,000 MNIST-shaped float32 samples,
shuffled without replacement.  Ours runs through ``nn.Trainer.fit`` (the
code users run); PyTorch runs the usual loop (index a shuffled batch,
forward, ``CrossEntropyLoss``, ``zero_grad``, ``backward``, ``step``) with
the same thread count, dtype, batch size, optimizer and initial weights.
With SGD a third contestant runs beside them: ``TunedNumPy``, the same
training as one hand-written NumPy loop with no framework around it, which
shows what the framework's structure costs and what NumPy itself allows
on this machine.  Runs are interleaved (ours, tuned, theirs, ours, ...) in
one process and the medians compared.

Memory: each framework trains ``--memory-epochs`` epochs in a fresh child
process that records its resident set size after every epoch and its peak.

Writes results/throughput[_adam][_<N>thread].{md,json}.

    python benchmarks/throughput.py                      # full: 60,000 samples, 9 repeats
    python benchmarks/throughput.py --optimizer adam     # the command line's default optimizer
    python benchmarks/throughput.py --quick              # seconds, for CI
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (RESULTS, interleaved, machine, markdown_table, paired_ratio,  # noqa: E402
                    peak_rss_mb, rss_mb, write_reports)

import nn  # noqa: E402
import optimizers  # noqa: E402
from optimizers.blas import axpy  # noqa: E402
from losses import SoftmaxWithLoss  # noqa: E402

# (name, layer sizes, activation, batch size)
NETWORKS = [
    ("784-50-10 sigmoid", [784, 50, 10], "sigmoid", 100),
    ("784-100-100-10 ReLU", [784, 100, 100, 10], "relu", 100),
    ("784-256-256-10 ReLU", [784, 256, 256, 10], "relu", 128),
]
LR = {"sgd": 0.01, "adam": 1e-3}


def limit_threads(threads: int) -> object:
    """Limit NumPy's BLAS to ``threads`` (threadpoolctl) and return the limiter to keep alive."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("warning: threadpoolctl is not installed; NumPy's BLAS thread count is not set")
        return None
    return threadpool_limits(limits=threads, user_api="blas")


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, size=n)


class Ours:
    def __init__(self, sizes, activation, batch, optimizer="sgd"):
        self.model = nn.mlp(sizes[0], sizes[1:-1], sizes[-1], activation_name=activation, seed=0)
        make = {"sgd": optimizers.SGD, "adam": optimizers.Adam}[optimizer]
        self.trainer = nn.Trainer(self.model, SoftmaxWithLoss(),
                                  make(self.model.parameters(), lr=LR[optimizer]))
        self.batch = batch
        self.epoch = 0

    def run_epoch(self, x, t) -> None:
        self.epoch += 1
        self.trainer.fit(x, t, epochs=1, batch_size=self.batch, seed=self.epoch, verbose=0)


class TunedNumPy:
    """The same training as ``Ours``, written as one NumPy loop with no framework around it.

    The issue's "tuned NumPy" reference, measured beside ours: the same
    network, initial weights, batches and plain SGD step, with the tricks
    ours uses (no input gradient for the first layer, weight gradients into
    reused arrays and BLAS's one-pass update, reused gather buffers, softmax and
    cross-entropy computed once, the loss summed for the log) and nothing
    else: no layer objects, checks, optimizer or accuracy count, and the
    activations computed in place.  Its speed is about what any NumPy
    framework can reach on this machine; ours / tuned is what the
    framework's structure costs.  SGD only.
    """

    def __init__(self, init_from: Ours, activation: str, batch: int) -> None:
        params = init_from.model.parameters()
        self.weights = [p.data.copy() for p in params[0::2]]
        self.biases = [p.data.copy() for p in params[1::2]]
        self.relu = activation == "relu"
        self.batch = batch
        self.lr = np.float32(LR["sgd"])
        self.rows = np.arange(batch)
        self.zeros = {w.shape[1]: np.zeros((batch, w.shape[1]), dtype=np.float32) for w in self.weights}
        self.grad_w = [np.empty_like(w) for w in self.weights]
        self.buffers: tuple[np.ndarray, np.ndarray] | None = None
        self.epoch = 0
        self.loss_sum = 0.0

    def run_epoch(self, x: np.ndarray, t: np.ndarray) -> None:
        self.epoch += 1
        if self.buffers is None:
            self.buffers = (np.empty((self.batch, x.shape[1]), x.dtype), np.empty(self.batch, t.dtype))
        weights, biases, lr, last = self.weights, self.biases, self.lr, len(self.weights) - 1
        order = np.random.default_rng(self.epoch).permutation(len(x))
        for start in range(0, len(x), self.batch):
            idx = order[start:start + self.batch]
            n = len(idx)
            xb = x.take(idx, axis=0, out=self.buffers[0][:n], mode="clip")
            tb = t.take(idx, axis=0, out=self.buffers[1][:n], mode="clip")
            acts = [xb]
            for j, (w, b) in enumerate(zip(weights, biases)):
                h = acts[-1] @ w
                h += b
                if j < last and self.relu:
                    np.maximum(h, self.zeros[w.shape[1]][:n], out=h)
                elif j < last:  # sigmoid, in place
                    np.negative(h, out=h)
                    with np.errstate(over="ignore"):
                        np.exp(h, out=h)
                    h += 1
                    np.reciprocal(h, out=h)
                acts.append(h)
            z = np.ascontiguousarray(acts[-1].T)  # softmax over (C, N): column reductions are fast
            z -= np.maximum.reduce(z, axis=0)
            target = np.multiply(tb, n, dtype=np.intp)
            target += self.rows[:n]
            z_target = z.reshape(-1).take(target)
            np.exp(z, out=z)
            total = np.add.reduce(z, axis=0)
            self.loss_sum += float(np.add.reduce(np.log(total) - z_target, dtype=np.float64))
            z /= total
            z.reshape(-1)[target] -= 1
            z *= np.float32(1 / n)
            d = z.T
            for j in range(last, -1, -1):
                a = acts[j]
                dx = d @ weights[j].T if j else None
                grad_w = np.matmul(a.T, d, out=self.grad_w[j])
                if not axpy(-lr, grad_w, weights[j]):  # the one-pass update SGD.step makes
                    weights[j] -= lr * grad_w
                biases[j] -= lr * np.add.reduce(d, axis=0)
                if j:
                    dx *= (a > 0) if self.relu else a * (1 - a)
                    d = dx


class Torch:
    def __init__(self, sizes, activation, batch, init_from: Ours | None = None, optimizer="sgd"):
        import torch
        act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU}[activation]
        mods = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            mods.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                mods.append(act())
        self.torch = torch
        self.model = torch.nn.Sequential(*mods)
        if init_from is not None:  # the same initial weights as ours
            affines = [m for m in self.model if isinstance(m, torch.nn.Linear)]
            params = init_from.model.parameters()
            with torch.no_grad():
                for lin, (w, b) in zip(affines, zip(params[0::2], params[1::2])):
                    lin.weight.copy_(torch.from_numpy(w.data.T.copy()))
                    lin.bias.copy_(torch.from_numpy(b.data))
        self.loss = torch.nn.CrossEntropyLoss()
        make = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[optimizer]
        self.opt = make(self.model.parameters(), lr=LR[optimizer])
        self.batch = batch
        self.gen = torch.Generator().manual_seed(0)

    def run_epoch(self, x, t) -> None:
        torch = self.torch
        n = len(x)
        order = torch.randperm(n, generator=self.gen)
        for i in range(0, n, self.batch):
            idx = order[i:i + self.batch]
            xb, tb = x[idx], t[idx]
            out = self.model(xb)
            loss = self.loss(out, tb)
            self.opt.zero_grad()  # PyTorch's default, set_to_none=True: its fastest
            loss.backward()
            self.opt.step()


def throughput(n: int, repeats: int, threads: int, have_torch: bool, optimizer: str) -> list[dict]:
    x, t = make_data(n)
    if have_torch:
        import torch
        torch.set_num_threads(threads)
        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    results = []
    for name, sizes, activation, batch in NETWORKS:
        ours = Ours(sizes, activation, batch, optimizer)
        tuned = TunedNumPy(ours, activation, batch) if optimizer == "sgd" else None
        theirs = Torch(sizes, activation, batch, init_from=ours, optimizer=optimizer) if have_torch else None
        ours.run_epoch(x[:5000], t[:5000])  # warm up caches and allocators
        if tuned:
            tuned.run_epoch(x[:5000], t[:5000])
        if theirs:
            theirs.run_epoch(xt[:5000], tt[:5000])
        ours_s, tuned_s, theirs_s = interleaved([lambda: ours.run_epoch(x, t),
                                                 tuned and (lambda: tuned.run_epoch(x, t)),
                                                 theirs and (lambda: theirs.run_epoch(xt, tt))], repeats)
        r = {"network": name, "batch": batch, "samples": n,
             "ours_samples_per_s": n / statistics.median(ours_s), "ours_epoch_s": ours_s}
        if tuned:
            r["tuned_samples_per_s"] = n / statistics.median(tuned_s)
            r["tuned_epoch_s"] = tuned_s
            r["ours_over_tuned"] = r["ours_samples_per_s"] / r["tuned_samples_per_s"]
        if theirs:
            r["torch_samples_per_s"] = n / statistics.median(theirs_s)
            r["torch_epoch_s"] = theirs_s
            r["ratio"] = r["ours_samples_per_s"] / r["torch_samples_per_s"]
            r["paired_ratio"] = paired_ratio(ours_s, theirs_s)
            if tuned:
                r["tuned_ratio"] = r["tuned_samples_per_s"] / r["torch_samples_per_s"]
        results.append(r)
        line = f"{name:>22} b{batch}: ours {r['ours_samples_per_s']:>9,.0f} samples/s"
        if tuned:
            line += f"   tuned NumPy loop {r['tuned_samples_per_s']:>9,.0f}"
        if theirs:
            line += (f"   PyTorch {r['torch_samples_per_s']:>9,.0f}   ratio {r['ratio']:.2f}x"
                     f" (median of paired runs {r['paired_ratio']:.2f}x)")
            if tuned:
                line += f"; tuned loop / PyTorch {r['tuned_ratio']:.2f}x"
        print(line, flush=True)
    return results


def memory_child(framework: str, index: int, n: int, epochs: int, threads: int, optimizer: str) -> None:
    """Child process: train ``epochs`` epochs, print RSS after each and the peak, as JSON."""
    _limiter = limit_threads(threads)
    name, sizes, activation, batch = NETWORKS[index]
    x, t = make_data(n)
    if framework == "torch":
        import torch
        torch.set_num_threads(threads)
        x, t = torch.from_numpy(x), torch.from_numpy(t)
        runner = Torch(sizes, activation, batch, optimizer=optimizer)
    else:
        runner = Ours(sizes, activation, batch, optimizer)
    rss = []
    for _ in range(epochs):
        runner.run_epoch(x, t)
        rss.append(rss_mb())
    peak = peak_rss_mb()
    print(json.dumps({"rss_after_epoch_mb": rss, "peak_mb": peak}))


def memory(n: int, epochs: int, threads: int, have_torch: bool, optimizer: str) -> list[dict]:
    results = []
    for index, (name, *_rest) in enumerate(NETWORKS):
        row = {"network": name}
        for framework in ("ours", "torch") if have_torch else ("ours",):
            out = subprocess.run([sys.executable, __file__, "--memory-child", framework, str(index),
                                  str(n), str(epochs), str(threads), optimizer],
                                 capture_output=True, text=True, check=True)
            row[framework] = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(row)
        ours = row["ours"]
        growth = ours["rss_after_epoch_mb"][-1] - ours["rss_after_epoch_mb"][min(1, epochs - 1)]
        line = (f"{name:>22}: ours peak {ours['peak_mb']:.0f} MB "
                f"(epoch 2 -> {epochs}: {growth:+.1f} MB)")
        if have_torch:
            line += f"   PyTorch peak {row['torch']['peak_mb']:.0f} MB"
        print(line, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--memory-child":
        memory_child(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), int(argv[5]), argv[6])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6,000 samples, 2 repeats (CI)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both (default: all cores)")
    parser.add_argument("--samples", type=int, default=None, help="samples per epoch (default 60,000)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 9)")
    parser.add_argument("--memory-epochs", type=int, default=None, help="epochs in the memory runs (default 10)")
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd",
                        help="the update in each step (default sgd, lr 0.01; adam: lr 1e-3)")
    parser.add_argument("--no-torch", action="store_true", help="measure ours alone")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    n = args.samples or (6000 if args.quick else 60000)
    repeats = args.repeats or (2 if args.quick else 9)
    epochs = args.memory_epochs or (3 if args.quick else 10)
    try:
        import torch  # noqa: F401
        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
        print("PyTorch is not installed: measuring ours alone (pip install torch to compare).")
    _limiter = limit_threads(args.threads)
    info = machine()
    if have_torch:
        info["torch"] = torch.__version__
    print(f"{n:,} samples, {args.threads} threads, medians of {repeats} interleaved runs")
    speed = throughput(n, repeats, args.threads, have_torch, args.optimizer)
    mem = memory(n, epochs, args.threads, have_torch, args.optimizer)

    tuned = args.optimizer == "sgd"
    header = ["network", "batch", "ours (samples/s)"]
    if have_torch:
        header += [f"PyTorch {info['torch']} (samples/s)", "ours / PyTorch", "paired runs"]
    if tuned:
        header += ["tuned NumPy loop (samples/s)", "ours / tuned loop"]
        if have_torch:
            header += ["tuned loop / PyTorch"]
    header += ["ours peak RSS (MB)", "RSS epoch 2 → last (MB)"]
    if have_torch:
        header += ["PyTorch peak RSS (MB)"]
    rows = []
    for s, m in zip(speed, mem):
        ours_rss = m["ours"]["rss_after_epoch_mb"]
        row = [s["network"], s["batch"], f"{s['ours_samples_per_s']:,.0f}"]
        if have_torch:
            row += [f"{s['torch_samples_per_s']:,.0f}", f"{s['ratio']:.2f}×", f"{s['paired_ratio']:.2f}×"]
        if tuned:
            row += [f"{s['tuned_samples_per_s']:,.0f}", f"{s['ours_over_tuned']:.2f}×"]
            if have_torch:
                row += [f"{s['tuned_ratio']:.2f}×"]
        row += [f"{m['ours']['peak_mb']:.0f}", f"{ours_rss[min(1, len(ours_rss) - 1)]:.0f} → {ours_rss[-1]:.0f}"]
        if have_torch:
            row += [f"{m['torch']['peak_mb']:.0f}"]
        rows.append(row)
    table = (f"Training throughput, one epoch of {n:,} float32 samples, "
             f"{dict(sgd='SGD', adam='Adam')[args.optimizer]} lr {LR[args.optimizer]:g}; "
             f"{info['date']}, {info['processor']}, {info['cpu_count']} cores, {info['blas']}, "
             f"{args.threads} threads; "
             f"medians of {repeats} interleaved runs; memory over {epochs} epochs in fresh processes.\n\n"
             + markdown_table(header, rows))
    name = ("throughput" + ("_quick" if args.quick else "")
            + ("" if args.optimizer == "sgd" else f"_{args.optimizer}")
            + ("" if args.threads == os.cpu_count() else f"_{args.threads}thread"))
    out = write_reports(name,
                        {"machine": info, "threads": args.threads, "optimizer": args.optimizer,
                         "speed": speed, "memory": mem},
                        table, args.out)
    print(f"\nwrote {out}/{name}.{{md,json}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
