"""The command line: ``python -m nn train | evaluate | summary | search``.

``python -m nn train`` alone trains a 784-256-256-10 ReLU network with Adam
on MNIST and reports its test accuracy.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import datasets
import optimizers
from layers.device import DeviceError
from losses import SoftmaxWithLoss
from nn._version import __version__
from nn.checkpoint import CheckpointError, load_metadata, load_model
from nn.models import ACTIVATIONS, mlp, simple_convnet
from nn.sequential import Sequential
from nn.trainer import DivergenceError, Trainer, evaluate

LOADERS = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist}
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}
SCHEDULES = ("none", "step", "cosine")


def _checked(text: str, convert: Any, valid: Any, expected: str) -> Any:
    """Convert an option's text and check it, or raise argparse's error saying what was expected."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _checked(text, int, lambda v: v > 0, "a positive integer")


def _positive_float(text: str) -> float:
    return _checked(text, float, lambda v: v > 0 and math.isfinite(v), "a positive number")


def _non_negative_float(text: str) -> float:
    return _checked(text, float, lambda v: v >= 0 and math.isfinite(v), "a non-negative number")


def _fraction(text: str) -> float:
    return _checked(text, float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def _batch_size(text: str) -> int | None:
    if text in ("full", "none", "all"):
        return None
    return _checked(text, int, lambda v: v > 0, "a positive integer or 'full'")


def _init(text: str) -> str | float:
    if text in ("he", "xavier"):
        return text
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected he, xavier or a positive std, got {text!r}") from None


def _add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="BLAS threads (default: the BLAS library's own choice, usually "
                             "every core; 1 is often faster for small networks on a busy machine)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="where the model runs: cpu (default) or gpu (needs CuPy and an NVIDIA "
                             "GPU; pays for large batches and convnets, not for small MLPs)")


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=sorted(LOADERS), default="mnist",
                        help="data set (default: mnist)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder holding the four IDX files (train-images-idx3-ubyte.gz, "
                             "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
                             "t10k-labels-idx1-ubyte.gz), or its parent (default: $NN_DATA_DIR, "
                             "then the user cache, downloading there if missing)")
    parser.add_argument("--no-download", action="store_true",
                        help="never download; fail with instructions if the files are missing")
    parser.add_argument("--no-cache", action="store_true",
                        help="neither read nor write the processed copy of the data set that "
                             "speeds up later loads (kept under ~/.cache/nn-from-scratch/processed, "
                             "or $NN_CACHE_DIR/processed, even with --data-dir)")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=("mlp", "convnet"), default="mlp",
                        help="mlp (default) or the textbook's SimpleConvNet")
    parser.add_argument("--hidden", type=_positive_int, nargs="*", default=[256, 256], metavar="N",
                        help="hidden layer sizes of the MLP (default: 256 256)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                        help="hidden activation of the MLP (default: relu)")
    parser.add_argument("--batchnorm", action="store_true",
                        help="BatchNorm after every hidden Affine of the MLP")
    parser.add_argument("--dropout", type=_fraction, default=0.0, metavar="P",
                        help="dropout probability after every hidden activation of the MLP (default: 0)")
    parser.add_argument("--init", type=_init, default=None,
                        help="weight init: he, xavier or a std (default: he for relu, xavier for sigmoid/tanh)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="floating-point type of the weights and the data (default: float32; "
                             "float64 is slower, for checking numerics)")
    parser.add_argument("--seed", type=int, default=0, help="seeds weights and shuffling (default: 0)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nn",
        description="Train, evaluate and inspect NumPy networks on MNIST and Fashion-MNIST.",
        epilog="'python -m nn train' alone trains a 784-256-256-10 ReLU network with Adam on MNIST.")
    parser.add_argument("--version", action="version", version=f"nn-from-scratch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{train,evaluate,summary,search}")
    sub.required = True

    train = sub.add_parser("train", help="train a model and report its test accuracy")
    _add_data_options(train)
    _add_model_options(train)
    train.add_argument("--optimizer", choices=sorted(DEFAULT_LR), default="adam",
                       help="optimizer (default: adam)")
    train.add_argument("--lr", type=_positive_float, default=None,
                       help="learning rate (default: 1e-3 for adam, 0.1 for sgd, ...)")
    train.add_argument("--momentum", type=_non_negative_float, default=None,
                       help="momentum for sgd/momentum/nesterov/rmsprop (default: 0 for sgd and "
                            "rmsprop, 0.9 for momentum and nesterov)")
    train.add_argument("--weight-decay", type=_non_negative_float, default=0.0,
                       help="L2 weight decay (decoupled for adamw)")
    train.add_argument("--schedule", choices=SCHEDULES, default="none",
                       help="learning-rate schedule per epoch (default: none)")
    train.add_argument("--batch-size", type=_batch_size, default=128,
                       help="mini-batch size, 1 for stochastic GD, 'full' for full-batch GD (default: 128)")
    train.add_argument("--epochs", type=_positive_int, default=15, help="epochs (default: 15)")
    train.add_argument("--val-split", type=_fraction, default=0.0,
                       help="fraction of the training set held out for validation (default: 0)")
    train.add_argument("--patience", type=_positive_int, default=None,
                       help="early stopping patience in epochs (monitors validation loss)")
    train.add_argument("--train-size", type=_positive_int, default=None,
                       help="use only the first N training samples (quick runs)")
    train.add_argument("--save", metavar="PATH", help="write the trained model to this .npz")
    train.add_argument("--plot", metavar="PNG", help="write loss and accuracy curves to this PNG")
    train.add_argument("--quiet", action="store_true", help="print only the final result")
    _add_threads_option(train)

    evaluate = sub.add_parser("evaluate", help="test accuracy of a saved model")
    evaluate.add_argument("checkpoint", help="a .npz written by train --save")
    _add_data_options(evaluate)
    _add_threads_option(evaluate)

    summary = sub.add_parser("summary", help="layers, shapes and parameter counts of a model")
    summary.add_argument("checkpoint", nargs="?", help="a saved model (else one built from the options)")
    _add_model_options(summary)

    from nn.search_cli import add_search_parser  # it builds on the helpers above
    add_search_parser(sub)
    return parser


def _load(args: argparse.Namespace, flatten: bool, dtype: Any = np.float32) -> Any:
    try:
        return LOADERS[args.dataset](normalize=True, flatten=flatten, data_dir=args.data_dir,
                                     download=not args.no_download, dtype=dtype,
                                     cache=not args.no_cache)
    except datasets.DatasetError as exc:
        sys.stderr.write(f"error: {exc.summary}\n")
        raise SystemExit(1) from None


def _build(args: argparse.Namespace) -> Sequential:
    device = getattr(args, "device", "cpu")
    if args.model == "convnet":
        return simple_convnet(seed=args.seed, dtype=args.dtype, device=device)
    return mlp(784, args.hidden, 10, activation_name=args.activation, init=args.init,
               batchnorm=args.batchnorm, dropout=args.dropout, seed=args.seed, dtype=args.dtype,
               device=device)


def _optimizer(args: argparse.Namespace, model: Sequential) -> Any:
    kwargs: dict[str, Any] = {"lr": args.lr or DEFAULT_LR[args.optimizer]}
    if args.weight_decay:
        kwargs["weight_decay"] = args.weight_decay
    if args.momentum is not None:
        if args.optimizer not in ("sgd", "momentum", "nesterov", "rmsprop"):
            raise ValueError(f"--momentum does not apply to {args.optimizer}")
        kwargs["momentum"] = args.momentum
    return optimizers.get_optimizer(args.optimizer, model.parameters(), **kwargs)


def _schedule(args: argparse.Namespace, optimizer: Any) -> Any:
    if args.schedule == "step":
        return optimizers.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.1)
    if args.schedule == "cosine":
        return optimizers.CosineAnnealingLR(optimizer, t_max=args.epochs)
    return None


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    out = sys.stdout
    (x_train, t_train), (x_test, t_test) = _load(args, flatten=args.model == "mlp", dtype=args.dtype)
    if args.train_size:
        x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    validation = None
    if args.val_split:
        (x_train, t_train), validation = datasets.train_val_split(x_train, t_train, args.val_split,
                                                                  seed=args.seed)
    if args.patience and validation is None:
        parser.error("--patience needs a validation set: add --val-split, e.g. --val-split 0.1")
    model = _build(args)
    try:
        optimizer = _optimizer(args, model)
    except ValueError as exc:
        parser.error(str(exc))
    trainer = Trainer(model, SoftmaxWithLoss(), optimizer, schedule=_schedule(args, optimizer))
    batch = "full" if args.batch_size is None else args.batch_size
    if not args.quiet:
        print(f"{args.dataset}: {len(x_train):,} training, "
              f"{0 if validation is None else len(validation[0]):,} validation, "
              f"{len(x_test):,} test samples", file=out)
        print(model.summary(), file=out)
        print(f"{type(optimizer).__name__} lr={optimizer.lr:g}, batch size {batch}, "
              f"{_plural(args.epochs, 'epoch')}, seed {args.seed}", file=out)
    started = time.perf_counter()
    try:
        history = trainer.fit(x_train, t_train, args.epochs, args.batch_size,
                              validation_data=validation, seed=args.seed, patience=args.patience,
                              verbose=0 if args.quiet else 1, file=out)
    except DivergenceError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    train_time = time.perf_counter() - started
    test_loss, test_acc = trainer.evaluate(x_test, t_test)
    print(f"test accuracy {100 * test_acc:.2f}%  test loss {test_loss:.4f}  "
          f"({_plural(len(history), 'epoch')} in {train_time:.1f}s)", file=out)
    if args.save:
        meta = {"dataset": args.dataset, "test_accuracy": test_acc, "epochs": len(history),
                "command": shlex.join(["python", "-m", "nn", *args.argv]),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "version": __version__, "history": history.as_dict()}
        path = model.save(args.save, optimizer=optimizer, metadata=json.loads(json.dumps(meta)))
        print(f"saved the model to {path}", file=out)
    if args.plot:
        path = history.plot(args.plot, title=f"{args.dataset}: test accuracy {100 * test_acc:.2f}%")
        print(f"wrote curves to {path}", file=out)
    return 0


def _load_checkpoint(path: str, device: str = "cpu") -> Sequential:
    try:
        return load_model(path, device=device)
    except (CheckpointError, FileNotFoundError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(1) from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    model = _load_checkpoint(args.checkpoint, args.device)
    dtype = model.parameters()[0].dtype if model.parameters() else np.float32
    _, (x_test, t_test) = _load(args, flatten=model.input_shape() is not None, dtype=dtype)
    test_loss, test_acc = evaluate(model, SoftmaxWithLoss(), x_test, t_test)
    predicted = model.predict(x_test, to_numpy=True)
    print(f"{args.dataset} test set: {len(x_test):,} samples")
    print(f"accuracy {100 * test_acc:.2f}%  loss {test_loss:.4f}")
    per_class = "  ".join(f"{c}:{100 * np.mean(predicted[t_test == c] == c):.1f}%"
                          for c in range(int(t_test.max()) + 1))
    print(f"per class  {per_class}")
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


#: how ``summary`` labels the metadata ``train --save`` writes, in this order.
_METADATA_LABELS = {"dataset": "data set", "test_accuracy": "test accuracy", "epochs": "epochs",
                    "command": "command", "date": "saved on", "version": "saved by"}


def _metadata_lines(metadata: dict[str, Any]) -> list[str]:
    """The checkpoint's metadata as ``label: value`` lines (the per-epoch history as a count)."""
    width = max(map(len, _METADATA_LABELS.values()))
    lines = []
    keys = [k for k in _METADATA_LABELS if k in metadata]
    keys += sorted(k for k in metadata if k not in _METADATA_LABELS and k != "history")
    for key in keys:
        value = metadata[key]
        if key == "test_accuracy" and isinstance(value, (int, float)):
            value = f"{100 * value:.2f} %"
        elif key == "version":
            value = f"nn-from-scratch {value}"
        lines.append(f"{_METADATA_LABELS.get(key, key):<{width}}  {value}")
    return lines


def cmd_summary(args: argparse.Namespace) -> int:
    model = _load_checkpoint(args.checkpoint) if args.checkpoint else _build(args)
    shape = None if model.input_shape() is not None else (1, 28, 28)
    print(model.summary(shape))
    if args.checkpoint:
        lines = _metadata_lines(load_metadata(args.checkpoint))
        print("\n".join(["", f"Saved with the model ({args.checkpoint}):", *lines]) if lines
              else f"\n{args.checkpoint} holds no metadata (train --save writes it; model.save "
                   "takes metadata={...})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args.argv = argv
    threads = getattr(args, "threads", None)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            if args.command == "train":
                return cmd_train(args, parser)
            if args.command == "evaluate":
                return cmd_evaluate(args)
            if args.command == "search":
                return args.run(args, parser)
            return cmd_summary(args)
    except DeviceError as exc:  # --device gpu without CuPy or a GPU: say what to install
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
