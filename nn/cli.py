"""The command line: ``python -m nn train | evaluate | summary | search``.

``python -m nn train`` alone trains a 784-256-256-10 ReLU network with Adam
on MNIST and reports its test accuracy.

A user's mistake never ends in a traceback: it gets one line on stderr
saying what is wrong and what to do.  Exit status: 0 success; 2 a usage
error (an option's value, or options that do not go together), with
argparse's usage line; 1 a failure (missing or damaged data or checkpoint,
a model that does not fit the data, a diverged run); 130 interrupted by
Ctrl-C (with ``--checkpoint``, the last completed epoch is saved and
``--resume`` continues from it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import datasets
import optimizers
from layers.device import DeviceError
from losses import SoftmaxWithLoss
from nn._version import __version__
from nn.checkpoint import CheckpointError, check_writable, load_metadata, load_model
from nn.models import ACTIVATIONS, mlp, simple_convnet
from nn.resume import completed_epochs
from nn.sequential import Sequential
from nn.trainer import DivergenceError, Trainer, TrainingInterrupted, evaluate

LOADERS = {"mnist": datasets.load_mnist, "fashion-mnist": datasets.load_fashion_mnist}
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01,
              "rmsprop": 0.001, "adam": 0.001, "adamw": 0.001}
SCHEDULES = ("none", "step", "cosine")
NUM_CLASSES = 10
#: exit status after Ctrl-C: 128 + SIGINT, as shells report it
INTERRUPTED = 130
#: the train options that define a run: stored in its checkpoint, restored by --resume
RUN_OPTIONS = ("dataset", "model", "hidden", "activation", "batchnorm", "dropout", "init", "dtype",
               "seed", "optimizer", "lr", "momentum", "weight_decay", "schedule", "batch_size",
               "val_split", "patience", "train_size")


_NOT_GIVEN = object()


class CommandError(Exception):
    """A failure the user can act on: printed as one ``error:`` line, exit status 1."""


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


def _non_negative_int(text: str) -> int:
    return _checked(text, int, lambda v: v >= 0, "a non-negative integer")


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


def _add_data_options(parser: argparse.ArgumentParser, dataset_help: str = "data set (default: mnist)",
                      dataset_default: str | None = "mnist") -> None:
    parser.add_argument("--dataset", choices=sorted(LOADERS), default=dataset_default,
                        help=dataset_help)
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
    parser.add_argument("--seed", type=_non_negative_int, default=0,
                        help="seeds weights and shuffling (default: 0)")


class _RaisingParser(argparse.ArgumentParser):
    """A parser whose errors raise ValueError instead of printing usage and exiting."""

    def error(self, message: str) -> Any:
        raise ValueError(message)


def build_parser(explicit_only: bool = False, raising: bool = False) -> argparse.ArgumentParser:
    """The parser; with ``explicit_only`` the run options have no defaults, so that
    parsing shows which of them were given on the command line; with ``raising``,
    errors raise ValueError (for settings read from a file, not typed)."""
    parser = (_RaisingParser if raising else argparse.ArgumentParser)(
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
    train.add_argument("--checkpoint", metavar="PATH",
                       help="save the run to this .npz after every epoch, so that --resume can "
                            "continue it after an interruption (Ctrl-C, a crash)")
    train.add_argument("--resume", metavar="PATH",
                       help="continue the run saved by --checkpoint PATH from its last completed "
                            "epoch, with its settings (give --epochs to extend it); it keeps "
                            "saving to PATH unless --checkpoint names another file")
    train.add_argument("--quiet", action="store_true", help="print only the final result")
    _add_threads_option(train)
    if explicit_only:  # a default that is no string: argparse would convert a string one
        train.set_defaults(**{name: _NOT_GIVEN for name in (*RUN_OPTIONS, "epochs")})

    evaluate = sub.add_parser("evaluate", help="test accuracy of a saved model")
    evaluate.add_argument("checkpoint", help="a .npz written by train --save or --checkpoint")
    _add_data_options(evaluate, dataset_default=None,
                      dataset_help="data set (default: the one the checkpoint was trained on, "
                                   "else mnist)")
    _add_threads_option(evaluate)

    summary = sub.add_parser("summary", help="layers, shapes and parameter counts of a model")
    summary.add_argument("checkpoint", nargs="?", help="a saved model (else one built from the options)")
    _add_model_options(summary)

    from nn.search_cli import add_search_parser  # it builds on the helpers above
    add_search_parser(sub)
    return parser


def _load(dataset: str, args: argparse.Namespace, flatten: bool, dtype: Any = np.float32) -> Any:
    try:
        return LOADERS[dataset](normalize=True, flatten=flatten, data_dir=args.data_dir,
                                download=not args.no_download, dtype=dtype,
                                cache=not args.no_cache)
    except datasets.DatasetError as exc:
        raise CommandError(exc.summary) from None


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


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not every system says
        return None


def _check_model_size(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Refuse an MLP whose weights, gradients and optimizer state cannot fit in memory."""
    if args.model != "mlp":
        return
    sizes = [784, *args.hidden, 10]
    count = sum(a * b + b for a, b in zip(sizes, sizes[1:])) + 4 * sum(args.hidden) * args.batchnorm
    need = 4 * count * np.dtype(args.dtype).itemsize  # weights, gradients, two optimizer moments
    memory = _physical_memory()
    if memory is not None and need > memory:
        parser.error(f"--hidden {' '.join(map(str, args.hidden))} gives {count:,} parameters, "
                     f"{need / 2**30:,.1f} GiB with their gradients and optimizer state: more than "
                     f"this machine's {memory / 2**30:,.1f} GiB of memory")


def _checked_destination(parser: argparse.ArgumentParser, option: str, path: str | None,
                         what: str) -> None:
    """Refuse an output path that cannot be written, before any training."""
    if path is None:
        return
    try:
        check_writable(path, what)
    except OSError as exc:
        parser.error(f"argument {option}: cannot write {path}: {exc.strerror}")


def _resumed_arguments(args: argparse.Namespace, argv: Sequence[str] | None,
                       parser: argparse.ArgumentParser) -> argparse.Namespace:
    """``args`` with the run options of the checkpoint ``args.resume`` was written with."""
    try:
        metadata = load_metadata(args.resume)
    except FileNotFoundError:
        raise CommandError(f"no checkpoint at {args.resume} to resume") from None
    stored = metadata.get("train_args")
    if not isinstance(stored, dict) or not set(RUN_OPTIONS) <= set(stored):
        raise CommandError(f"{args.resume} was not written by 'python -m nn train --checkpoint', "
                           "so its settings are unknown; continue it from Python with "
                           "Trainer.fit(..., resume=path)")
    try:  # the file's settings pass the same checks as typed ones
        stored = vars(build_parser(raising=True).parse_args(["train", *_as_options(stored)]))
    except ValueError as exc:
        raise CommandError(f"{args.resume}: the run's saved settings are damaged ({exc})") from None
    given = {name for name, value in vars(build_parser(explicit_only=True).parse_args(argv)).items()
             if value is not _NOT_GIVEN}
    changed = [name for name in RUN_OPTIONS if name in given]
    if changed:
        option, saved = "--" + changed[0].replace("_", "-"), stored[changed[0]]
        if saved is None or saved is False:
            shown = f"without {option}"
        elif saved is True:
            shown = option
        else:
            shown = f"{option} {' '.join(map(str, saved)) if isinstance(saved, list) else saved}"
        parser.error(f"{option} cannot be given with --resume: the run continues with the "
                     f"settings saved in {args.resume} ({shown})")
    resumed = argparse.Namespace(**{**vars(args), **{k: stored[k] for k in RUN_OPTIONS}})
    if "epochs" not in given:
        resumed.epochs = stored.get("epochs", args.epochs)
    done = completed_epochs(args.resume)
    if resumed.epochs < done:
        parser.error(f"--epochs {resumed.epochs} is fewer than the {done} epochs the run in "
                     f"{args.resume} has completed")
    return resumed


def _as_options(train_args: dict[str, Any]) -> list[str]:
    """Command-line options that give ``train_args`` (as saved in a run's metadata)."""
    options = []
    for name in (*RUN_OPTIONS, "epochs"):
        value, option = train_args.get(name), "--" + name.replace("_", "-")
        if value is True:
            options.append(option)
        elif isinstance(value, list):
            options += [option, *map(str, value)]
        elif name == "batch_size" and value is None:
            options += [option, "full"]
        elif value is not None and value is not False:
            options += [option, str(value)]
    return options


def cmd_train(args: argparse.Namespace, parser: argparse.ArgumentParser,
              argv: Sequence[str] | None = None) -> int:
    out = sys.stdout
    if args.resume:
        args = _resumed_arguments(args, argv, parser)
        args.checkpoint = args.checkpoint or args.resume
    for option, path, what in (("--save", args.save, "model file"), ("--plot", args.plot, "PNG file"),
                               ("--checkpoint", args.checkpoint, "checkpoint file")):
        _checked_destination(parser, option, path, what)
    if args.batchnorm and args.model == "mlp" and args.batch_size == 1:
        parser.error("--batchnorm needs at least 2 samples per batch: use --batch-size 2 or more")
    _check_model_size(args, parser)
    (x_train, t_train), (x_test, t_test) = _load(args.dataset, args, flatten=args.model == "mlp",
                                                 dtype=args.dtype)
    if args.train_size:
        x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    if len(x_train) == 0:
        raise CommandError(f"the {args.dataset} training set holds no samples")
    validation = None
    if args.val_split:
        try:
            (x_train, t_train), validation = datasets.train_val_split(
                x_train, t_train, args.val_split, seed=args.seed)
        except ValueError as exc:
            parser.error(f"--val-split {args.val_split} cannot split {len(x_train)} training "
                         f"sample(s): {exc}; use more samples (--train-size) or no --val-split")
    if args.patience and validation is None:
        parser.error("--patience needs a validation set: add --val-split, e.g. --val-split 0.1")
    if args.batchnorm and args.model == "mlp" and len(x_train) == 1:
        parser.error("--batchnorm needs at least 2 training samples: raise --train-size")
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
    train_args = {name: getattr(args, name) for name in (*RUN_OPTIONS, "epochs")}
    started = time.perf_counter()
    try:
        history = trainer.fit(x_train, t_train, args.epochs, args.batch_size,
                              validation_data=validation, seed=args.seed, patience=args.patience,
                              verbose=0 if args.quiet else 1, file=out,
                              checkpoint=args.checkpoint, resume=args.resume,
                              checkpoint_metadata={"dataset": args.dataset, "train_args": train_args})
    except DivergenceError as exc:
        raise CommandError(str(exc)) from None
    except TrainingInterrupted as exc:
        if exc.checkpoint is not None:
            how = f"epochs 1-{exc.saved_epochs} are saved in {exc.checkpoint}; continue with: " \
                  f"python -m nn train --resume {exc.checkpoint}"
        else:
            how = "nothing was saved (with --checkpoint PATH a run can be resumed)"
        sys.stderr.write(f"interrupted after {len(exc.history)} of {args.epochs} epochs: {how}\n")
        return INTERRUPTED
    train_time = time.perf_counter() - started
    test_acc = math.nan
    if len(x_test):
        test_loss, test_acc = trainer.evaluate(x_test, t_test)
        print(f"test accuracy {100 * test_acc:.2f}%  test loss {test_loss:.4f}  "
              f"({_plural(len(history), 'epoch')} in {train_time:.1f}s)", file=out)
    else:
        print(f"the {args.dataset} test set holds no samples: no test accuracy", file=out)
    if args.save:
        meta = {"dataset": args.dataset, "test_accuracy": test_acc, "epochs": len(history),
                "command": shlex.join(["python", "-m", "nn", *args.argv]),
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "version": __version__, "history": history.as_dict(), "train_args": train_args}
        path = model.save(args.save, optimizer=optimizer, metadata=json.loads(json.dumps(meta)))
        print(f"saved the model to {path}", file=out)
    if args.plot:
        path = history.plot(args.plot, title=f"{args.dataset}: test accuracy {100 * test_acc:.2f}%")
        print(f"wrote curves to {path}", file=out)
    return 0


def _load_checkpoint(path: str, device: str = "cpu") -> tuple[Sequential, dict[str, Any]]:
    """The model at ``path`` (a single saved layer as a one-layer Sequential) and its metadata."""
    try:
        model, metadata = load_model(path, device=device), load_metadata(path)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from None
    return (model if isinstance(model, Sequential) else Sequential([model])), metadata


def _check_fits(model: Sequential, x: np.ndarray, dataset: str, path: str) -> None:
    """Refuse a model whose input or output does not fit the data, before evaluating."""
    sample = x.shape[1:]
    expected = model.input_shape()
    problem = None
    if expected is not None and math.prod(expected) != math.prod(sample):
        problem = (f"it takes inputs of {math.prod(expected)} values, {dataset} images have "
                   f"{math.prod(sample)}")
    else:
        try:
            outputs = model.output_shape((1, *sample))[-1]
        except (ValueError, TypeError, IndexError) as exc:
            problem = f"{dataset} images of shape {sample} do not fit it ({exc})"
        else:
            if outputs != NUM_CLASSES:
                problem = f"it has {outputs} outputs, {dataset} has {NUM_CLASSES} classes"
    if problem:
        raise CommandError(f"the model in {path} does not fit {dataset}: {problem}; "
                           "evaluate it on the data set it was trained for (--dataset)")


def cmd_evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser,
                 argv: Sequence[str] | None = None) -> int:
    model, metadata = _load_checkpoint(args.checkpoint, args.device)
    dataset, source = args.dataset, ""
    if dataset is None:
        stored = metadata.get("dataset")
        if stored is not None and (not isinstance(stored, str) or stored not in LOADERS):
            raise CommandError(f"{args.checkpoint} was trained on {stored!r:.60}, which this "
                               f"command cannot load; choose one with --dataset "
                               f"({', '.join(sorted(LOADERS))})")
        dataset, source = (stored, " (the checkpoint's)") if stored else ("mnist", "")
    dtype = model.parameters()[0].dtype if model.parameters() else np.float32
    flatten = model.input_shape() is not None
    _, (x_test, t_test) = _load(dataset, args, flatten=flatten, dtype=dtype)
    if len(x_test) == 0:
        raise CommandError(f"the {dataset} test set holds no samples: nothing to evaluate")
    _check_fits(model, x_test, dataset, args.checkpoint)
    try:  # a saved model is the user's data: one whose layers disagree is reported, not a crash
        test_loss, test_acc = evaluate(model, SoftmaxWithLoss(), x_test, t_test)
        predicted = model.predict(x_test, to_numpy=True)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"the model in {args.checkpoint} cannot run on {dataset}: {exc}") from None
    print(f"{dataset}{source} test set: {len(x_test):,} samples")
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
    keys += sorted(k for k in metadata if k not in _METADATA_LABELS
                   and k not in ("history", "train_args"))
    for key in keys:
        value = metadata[key]
        if key == "test_accuracy" and isinstance(value, (int, float)):
            value = f"{100 * value:.2f} %"
        elif key == "version":
            value = f"nn-from-scratch {value}"
        lines.append(f"{_METADATA_LABELS.get(key, key):<{width}}  {value}")
    return lines


def cmd_summary(args: argparse.Namespace, parser: argparse.ArgumentParser,
                argv: Sequence[str] | None = None) -> int:
    if not args.checkpoint:
        _check_model_size(args, parser)
    model = _load_checkpoint(args.checkpoint)[0] if args.checkpoint else _build(args)
    shape = None if model.input_shape() is not None else (1, 28, 28)
    print(model.summary(shape))
    if args.checkpoint:
        lines = _metadata_lines(load_metadata(args.checkpoint))
        print("\n".join(["", f"Saved with the model ({args.checkpoint}):", *lines]) if lines
              else f"\n{args.checkpoint} holds no metadata (train --save writes it; model.save "
                   "takes metadata={...})")
    return 0


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "summary": cmd_summary,
            "search": lambda args, parser, argv: args.run(args, parser)}


def _one_line_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    sys.stderr.write(f"warning: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status (argparse exits with 2 on usage errors)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args.argv = argv
    threads = getattr(args, "threads", None)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warning  # restored on leaving the block
        try:
            with threadpool_limits(limits=threads, user_api="blas"):
                return COMMANDS[args.command](args, parser, argv)
        except (CommandError, CheckpointError, DeviceError) as exc:
            # DeviceError: --device gpu without CuPy or a GPU; the message says what to install
            sys.stderr.write(f"error: {exc}\n")
            return 1
        except MemoryError as exc:
            sys.stderr.write(f"error: out of memory ({exc}); use a smaller model or batch size\n")
            return 1
        except KeyboardInterrupt:
            sys.stderr.write("interrupted\n")
            return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
