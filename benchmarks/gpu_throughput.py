"""Training throughput on a GPU: ours through CuPy against PyTorch CUDA on the same GPU, and ours on the CPU.

Workloads: the three MLPs of throughput.py at batch 128 and 1024 (SGD, lr
0.01), the textbook's SimpleConvNet at batch 100 and, where ``nn`` has it,
the chapter-8 DeepConvNet at batch 100 (both Adam, lr 1e-3; PyTorch's Adam
with ``fused=True``).  The data lives on the device for both GPU
contestants (ours: CuPy arrays given to ``Trainer.fit``; PyTorch: CUDA
tensors gathered with ``index_select``); timing waits for the device
(``synchronize``) at the end of every epoch; the three contestants run in
turn (ours on the GPU, PyTorch, ours on the CPU with every core) and the
report gives medians.  ``--accuracy`` also trains the README's main
command (784-256-256-10, Adam, 15 epochs, seed 0) on both devices and
gives both test accuracies.

Without CuPy or a GPU the script says why and measures ours on the CPU
alone, so ``--quick`` runs anywhere (CI).

Writes results/gpu_throughput.{md,json}.

    python benchmarks/gpu_throughput.py                 # full
    python benchmarks/gpu_throughput.py --accuracy      # also CPU vs GPU test accuracy
    python benchmarks/gpu_throughput.py --quick         # seconds, for CI
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, interleaved, machine, markdown_table, write_reports  # noqa: E402
from throughput import NETWORKS, limit_threads  # noqa: E402
from torch_mirror import Runner  # noqa: E402

import nn  # noqa: E402
import optimizers  # noqa: E402
from layers.device import DeviceError, get_device  # noqa: E402
from losses import SoftmaxWithLoss  # noqa: E402

LR = {"sgd": 0.01, "adam": 1e-3}


def workloads() -> list[tuple[str, Callable[[str], Any], tuple[int, ...], int, str]]:
    """(name, model builder taking a device, sample shape, batch, optimizer)."""
    out = []
    for name, sizes, activation, _ in NETWORKS:
        for batch in (128, 1024):
            build = (lambda d, s=sizes, a=activation:
                     nn.mlp(s[0], s[1:-1], s[-1], activation_name=a, seed=0, device=d))
            out.append((name, build, (784,), batch, "sgd"))
    out.append(("SimpleConvNet", lambda d: nn.simple_convnet(seed=0, device=d), (1, 28, 28), 100, "adam"))
    if hasattr(nn, "deep_convnet"):
        out.append(("DeepConvNet", lambda d: nn.deep_convnet(seed=0, device=d), (1, 28, 28), 100, "adam"))
    return out


class Ours:
    def __init__(self, build: Callable[[str], Any], device: str, optimizer: str, batch: int) -> None:
        self.device = get_device(device)
        self.model = build(device)
        opt = optimizers.get_optimizer(optimizer, self.model.parameters(), lr=LR[optimizer])
        self.trainer = nn.Trainer(self.model, SoftmaxWithLoss(), opt)
        self.batch, self.epoch = batch, 0

    def data(self, x: np.ndarray, t: np.ndarray) -> tuple[Any, Any]:
        return self.device.asarray(x), self.device.asarray(t)

    def run_epoch(self, x: Any, t: Any) -> None:
        self.epoch += 1
        self.trainer.fit(x, t, epochs=1, batch_size=self.batch, seed=self.epoch, verbose=0)


def synchronized(run: Callable[[], None], sync: Callable[[], None]) -> Callable[[], None]:
    """``run`` followed by waiting for the device, so that the time counts the device's work."""
    def timed() -> None:
        run()
        sync()
    return timed


def gpu_status() -> tuple[bool, str]:
    try:
        get_device("gpu")
    except DeviceError as error:
        return False, str(error)
    try:
        import torch
        if not torch.cuda.is_available():
            return True, "PyTorch sees no CUDA device: ours only"
    except ImportError:
        return True, "PyTorch is not installed: ours only"
    return True, ""


def accuracy(data_dir: str | None) -> dict[str, float]:
    """Test accuracy of the README's main training on the CPU and on the GPU."""
    from datasets import load_mnist
    (x, t), (xt, tt) = load_mnist(data_dir=data_dir)
    result = {}
    for device in ("cpu", "gpu"):
        model = nn.mlp(784, [256, 256], 10, seed=0, device=device)
        trainer = nn.Trainer(model, SoftmaxWithLoss(), optimizers.Adam(model.parameters(), lr=1e-3))
        started = time.perf_counter()
        trainer.fit(x, t, epochs=15, batch_size=128, seed=0, verbose=0)
        result[f"{device}_seconds"] = time.perf_counter() - started
        result[device] = trainer.evaluate(xt, tt)[1]
        print(f"README main command on {device}: test accuracy {100 * result[device]:.2f}% "
              f"({result[f'{device}_seconds']:.1f} s)", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few samples, 2 repeats (CI)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats (default 7)")
    parser.add_argument("--accuracy", action="store_true",
                        help="also train the README's main command on both devices (needs MNIST)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder for --accuracy")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the reports")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 7)
    have_gpu, note = gpu_status()
    have_torch = have_gpu and not note
    if note:
        print(f"note: {note}" + ("" if have_gpu else "; measuring ours on the CPU only"), flush=True)
    _limiter = limit_threads(os.cpu_count())
    info = machine()
    if have_gpu:
        import cupy
        info["gpu"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        info["cupy"] = cupy.__version__
        sync_cupy = cupy.cuda.Device().synchronize
    if have_torch:
        import torch
        info["torch"] = torch.__version__
    rng = np.random.default_rng(0)
    rows, results = [], []
    for name, build, shape, batch, optimizer in workloads():
        n = (512 if args.quick else 10_000) if len(shape) == 3 else (2048 if args.quick else 60_000)
        x = rng.random((n, *shape), dtype=np.float32)
        t = rng.integers(0, 10, size=n)
        runs: dict[str, Callable[[], None] | None] = {"ours GPU": None, "PyTorch CUDA": None}
        if have_gpu:
            ours_gpu = Ours(build, "gpu", optimizer, batch)
            xg, tg = ours_gpu.data(x, t)
            ours_gpu.run_epoch(xg[:4 * batch], tg[:4 * batch])  # compile kernels, warm the pool
            runs["ours GPU"] = synchronized(lambda o=ours_gpu, a=xg, b=tg: o.run_epoch(a, b), sync_cupy)
        if have_torch:
            theirs = Runner(build("cpu"), optimizer, LR[optimizer], batch, device="cuda")
            xc, tc = theirs.data(x, t)
            theirs.run_epoch(xc[:4 * batch], tc[:4 * batch])
            runs["PyTorch CUDA"] = synchronized(lambda o=theirs, a=xc, b=tc: o.run_epoch(a, b),
                                                torch.cuda.synchronize)
        ours_cpu = Ours(build, "cpu", optimizer, batch)
        ours_cpu.run_epoch(x[:4 * batch], t[:4 * batch])
        runs["ours CPU"] = lambda o=ours_cpu: o.run_epoch(x, t)
        times = interleaved(list(runs.values()), repeats)
        r: dict[str, Any] = {"workload": name, "batch": batch, "optimizer": optimizer, "samples": n}
        for key, secs in zip(runs, times):
            if secs:
                r[key] = n / statistics.median(secs)
                r[f"{key} epoch seconds"] = secs
        if "ours GPU" in r and "PyTorch CUDA" in r:
            r["GPU ratio"] = r["ours GPU"] / r["PyTorch CUDA"]
        results.append(r)
        cells = [f"{r[k]:,.0f}" if k in r else "—" for k in runs]
        rows.append([name, batch, *cells, f"{r['GPU ratio']:.2f}×" if "GPU ratio" in r else "—"])
        print(f"{name:>22} b{batch:<5} " + "   ".join(f"{k} {c}" for k, c in zip(runs, cells))
              + (f"   ours/PyTorch on the GPU {r['GPU ratio']:.2f}x" if "GPU ratio" in r else ""),
              flush=True)
    acc = accuracy(args.data_dir) if args.accuracy and have_gpu else None
    table = (f"Training samples/s, one epoch, float32, data on the device; {info['date']}, "
             f"{info.get('gpu', 'no GPU')}, {info['processor']} ({info['cpu_count']} cores, "
             f"{info['blas']}); medians of {repeats} interleaved runs."
             + (f"\n\nnote: {note}" if note else "") + "\n\n"
             + markdown_table(["workload", "batch", "ours on the GPU (CuPy)", "PyTorch CUDA",
                               "ours on the CPU", "ours / PyTorch on the GPU"], rows))
    if acc:
        table += (f"\n\nREADME main command (784-256-256-10, Adam, 15 epochs, seed 0): test accuracy "
                  f"{100 * acc['cpu']:.2f} % on the CPU, {100 * acc['gpu']:.2f} % on the GPU.")
    name = "gpu_throughput" + ("_quick" if args.quick else "")
    out = write_reports(name, {"machine": info, "note": note, "results": results, "accuracy": acc},
                        table, args.out)
    print(f"\nwrote {out}/{name}.{{md,json}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
