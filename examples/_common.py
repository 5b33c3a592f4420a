"""What every demo shares: its command line, where its PNG goes, and MNIST subsets.

The demos are scripts (``python examples/xor.py``); this module sits beside
them and is imported as ``_common``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from datasets import load_mnist

DEFAULT_OUT = Path("figures")  # relative to the working directory
DPI = 90


def parser(description: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the options every demo takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for the PNG (default: ./figures)")
    p.add_argument("--quick", action="store_true",
                   help="a small, fast run (seconds) for tests and a first look")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding the MNIST IDX files; by default the loader's own "
                        "search ($NN_DATA_DIR, then the user cache)")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads (default 1: these small matrices gain little from "
                        "threads, and on a busy machine threaded BLAS gets far slower); "
                        "0 keeps the BLAS default")
    return p


def figure(width: float, height: float) -> Figure:
    """A Matplotlib figure on the Agg canvas: no display, no global backend change."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, out: Path, name: str) -> Path:
    """Write ``fig`` to ``out/name.png``, creating the folder, and say where."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    fig.savefig(path, dpi=DPI)
    print(f"wrote {path}")
    return path


Split = tuple[np.ndarray, np.ndarray]


def mnist_subset(data_dir: os.PathLike | None, n_train: int, n_test: int,
                 seed: int = 0) -> tuple[Split, Split]:
    """``n_train`` training and ``n_test`` test images (flattened, in [0, 1], float32).

    The subsets are drawn at random (seeded) so that all ten digits appear.
    """
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=data_dir)
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(x_train))[:n_train]
    test = rng.permutation(len(x_test))[:n_test]
    return (x_train[train], t_train[train]), (x_test[test], t_test[test])


@contextlib.contextmanager
def session(args: argparse.Namespace) -> Iterator[None]:
    """Run a demo's body with ``--threads`` BLAS threads and print its wall time."""
    with contextlib.ExitStack() as stack:
        if args.threads > 0:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:
                print("note: threadpoolctl is not installed, so --threads has no effect")
            else:
                stack.enter_context(threadpool_limits(limits=args.threads, user_api="blas"))
        start = time.perf_counter()
        yield
        print(f"done in {time.perf_counter() - start:.1f} s")


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    return p.parse_args(None if argv is None else [str(a) for a in argv])
