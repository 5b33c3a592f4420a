"""What every demo shares: its command line, where its PNG goes, and MNIST subsets.

The demos are scripts (``python examples/xor.py``); this module sits beside
them and is imported as ``_common``. MNIST is looked for in ``--data-dir``,
then ``$NN_DATA_DIR``, then the shared copy beside the repository
(``../shared/datasets``, or ``$NN_SHARED_DIR/datasets``, as the tests find it),
then the loader's user cache, and downloaded there if it must; a demo that
cannot get it exits with status 1 and the command line's one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from datasets import DatasetError, load_mnist

DEFAULT_OUT = Path("figures")  # relative to the working directory
DPI = 90
REPOSITORY = Path(__file__).resolve().parents[1]
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")


def shared_data_dir() -> Path | None:
    """The shared MNIST copy beside the repository, if it holds all four files.

    Only a complete copy counts: an incomplete one passed on as ``data_dir``
    would become the download target, and the shared folder is not ours to write.
    """
    shared = Path(os.environ.get("NN_SHARED_DIR") or REPOSITORY.parent / "shared")
    folder = shared / "datasets" / "mnist"
    if all((folder / f"{stem}.gz").is_file() or (folder / stem).is_file() for stem in MNIST_FILES):
        return folder
    return None


def parser(description: str) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with the options every demo takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for the PNG (default: ./figures)")
    p.add_argument("--quick", action="store_true",
                   help="a small, fast run (seconds) for tests and a first look")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="folder holding the MNIST IDX files (default: $NN_DATA_DIR, then "
                        "../shared/datasets beside the repository, then the user cache, "
                        "downloading there if missing)")
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
    """Run a demo's body with ``--threads`` BLAS threads and print its wall time.

    Data that cannot be found or downloaded ends the demo with status 1 and
    one line on stderr, as ``python -m nn`` does.
    """
    with contextlib.ExitStack() as stack:
        if args.threads > 0:
            try:
                from threadpoolctl import threadpool_limits
            except ImportError:
                print("note: threadpoolctl is not installed, so --threads has no effect")
            else:
                stack.enter_context(threadpool_limits(limits=args.threads, user_api="blas"))
        start = time.perf_counter()
        try:
            yield
        except DatasetError as exc:
            sys.stderr.write(f"error: {exc.summary}\n")
            raise SystemExit(1) from None
        print(f"done in {time.perf_counter() - start:.1f} s")


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the options; without ``--data-dir`` or ``$NN_DATA_DIR``, use the shared copy."""
    args = p.parse_args(None if argv is None else [str(a) for a in argv])
    if args.data_dir is None and not os.environ.get("NN_DATA_DIR"):
        args.data_dir = shared_data_dir()
    return args
