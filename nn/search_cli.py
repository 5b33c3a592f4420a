"""``python -m nn search``: random search over the learning rate, weight decay and momentum.

    python -m nn search --hidden 100 --epochs 5 --lr 1e-4:1e-1:log \\
        --weight-decay 1e-8:1e-4:log --trials 50 --jobs -1 --results trials.jsonl --plot search.png

Each trial trains the model that ``python -m nn train`` would build with the
same options, on the training part of a split (``--val-split``), and is
scored by its validation accuracy. Trials run in this process, in ``--jobs``
local processes, or on a Dask cluster (``--scheduler`` or
``$DASK_SCHEDULER_ADDRESS``); each finished trial is appended to
``--results``, so the same command run again continues where it stopped.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from typing import Any

import numpy as np

import datasets
from losses import SoftmaxWithLoss
from nn import cli
from nn.parallel import SCHEDULER_ENV, check_scheduler, worker_count
from nn.search import SearchResult, Trial, finished_trials, random_search, sample_params
from nn.trainer import DivergenceError, Trainer

# The options a trial's parameters hold: exactly the `train` options they stand for.
TRAIN_OPTIONS = ("model", "hidden", "activation", "batchnorm", "dropout", "init", "dtype",
                 "optimizer", "lr", "momentum", "weight_decay", "schedule", "batch_size",
                 "epochs", "patience")
SEARCHABLE = ("lr", "weight_decay", "momentum")


def train_trial(params: dict[str, Any], seed: int, data: Any) -> dict[str, float]:
    """Train the model ``python -m nn train`` builds from ``params``; score it on the validation data.

    Args:
        params: the ``train`` options by their names (``TRAIN_OPTIONS``).
        seed: seeds the initial weights, the dropout masks and the shuffling.
        data: ``((x_train, t_train), (x_val, t_val))``.

    Returns:
        ``val_accuracy`` and ``val_loss`` (NaN if training diverged), the last
        epoch's training ``loss`` and ``accuracy``, and the ``epochs`` trained.
    """
    # joblib hands large arrays to its workers as np.memmap: plain views of the same memory
    # spare the memmap subclass's bookkeeping on every batch taken from them.
    (x, t), validation = [tuple(np.asarray(a) for a in part) for part in data]
    args = argparse.Namespace(**params, seed=seed)
    model = cli._build(args)
    optimizer = cli._optimizer(args, model)
    trainer = Trainer(model, SoftmaxWithLoss(), optimizer, schedule=cli._schedule(args, optimizer))
    try:
        history = trainer.fit(x, t, args.epochs, args.batch_size, validation_data=validation,
                              seed=seed, patience=args.patience, verbose=0)
    except DivergenceError as exc:
        return {"val_accuracy": math.nan, "val_loss": math.nan, "loss": math.nan,
                "accuracy": math.nan, "epochs": float(len(exc.history) + 1)}
    val_loss, val_accuracy = trainer.evaluate(*validation)  # of the weights kept (the best with --patience)
    return {"val_accuracy": val_accuracy, "val_loss": val_loss, "loss": history.loss[-1],
            "accuracy": history.accuracy[-1], "epochs": float(len(history))}


# -- options ------------------------------------------------------------------
def _spec(check: Any, expected: str) -> Any:
    """An argparse type: a value, LOW:HIGH (uniform), LOW:HIGH:log (log-uniform) or a,b,c (one of)."""

    def parse(text: str) -> Any:
        if ":" in text:
            from scipy import stats  # only when a range is given: it takes half a second to import

            parts = text.split(":")
            scale = parts[2] if len(parts) == 3 else "linear"
            if len(parts) not in (2, 3) or scale not in ("log", "linear", "lin"):
                raise argparse.ArgumentTypeError(f"expected LOW:HIGH or LOW:HIGH:log, got {text!r}")
            low, high = (check(p) for p in parts[:2])
            if not low < high:
                raise argparse.ArgumentTypeError(f"expected LOW < HIGH, got {text!r}")
            if scale == "log":
                if low <= 0:
                    raise argparse.ArgumentTypeError(f"a log range needs LOW > 0, got {text!r}")
                return stats.loguniform(low, high)
            return stats.uniform(low, high - low)
        if "," in text:
            return [check(p) for p in text.split(",") if p]
        return check(text)

    parse.__name__ = expected  # argparse names the type in its messages
    return parse


def _jobs(text: str) -> int:
    return cli._checked(text, int, lambda v: v != 0, "a positive number of processes, or -1 for all cores")


def add_search_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``search`` to the subcommands of ``python -m nn``."""
    search = sub.add_parser(
        "search", help="random search over learning rate and weight decay, locally or on a Dask cluster",
        description="Random search: train the `train` command's model with hyper-parameters drawn "
                    "at random, score each on a validation split, report the best.",
        epilog="Ranges: --lr 1e-4:1e-1:log (log-uniform), --momentum 0.5:0.99 (uniform), "
               "--weight-decay 0,1e-6,1e-4 (one of these), --lr 0.01 (fixed).")
    cli._add_data_options(search)
    cli._add_model_options(search)
    opts = search.add_argument_group("training (a number, or a range to search)")
    opts.add_argument("--optimizer", choices=sorted(cli.DEFAULT_LR), default="adam",
                      help="optimizer (default: adam)")
    opts.add_argument("--lr", type=_spec(cli._positive_float, "learning rate"), default=None,
                      help="learning rate or range (default: the optimizer's, e.g. 1e-3 for adam)")
    opts.add_argument("--weight-decay", type=_spec(cli._non_negative_float, "weight decay"),
                      default=0.0, help="L2 weight decay or range (default: 0)")
    opts.add_argument("--momentum", type=_spec(cli._non_negative_float, "momentum"), default=None,
                      help="momentum or range, for sgd/momentum/nesterov/rmsprop")
    opts.add_argument("--schedule", choices=cli.SCHEDULES, default="none",
                      help="learning-rate schedule per epoch (default: none)")
    opts.add_argument("--batch-size", type=cli._batch_size, default=128,
                      help="mini-batch size, or 'full' (default: 128)")
    opts.add_argument("--epochs", type=cli._positive_int, default=5, help="epochs per trial (default: 5)")
    opts.add_argument("--patience", type=cli._positive_int, default=None,
                      help="early stopping patience in epochs (on the validation loss)")
    opts.add_argument("--val-split", type=cli._fraction, default=0.1,
                      help="fraction of the training set that scores the trials (default: 0.1)")
    opts.add_argument("--train-size", type=cli._positive_int, default=None,
                      help="use only the first N training samples (quick runs)")
    runs = search.add_argument_group("the search")
    runs.add_argument("--trials", type=cli._positive_int, default=20, help="configurations to try (default: 20)")
    runs.add_argument("--jobs", type=_jobs, default=None,
                      help="local processes running trials (default: 1; -1: one per core)")
    runs.add_argument("--scheduler", metavar="ADDRESS", default=None,
                      help=f"run the trials on the Dask cluster of this scheduler, e.g. "
                           f"tcp://10.0.0.5:8786 (default: ${SCHEDULER_ENV} if set)")
    runs.add_argument("--threads", type=cli._positive_int, default=1,
                      help="BLAS threads per trial (default: 1; --jobs -1 runs cores/threads trials at once)")
    runs.add_argument("--results", metavar="FILE",
                      help="append each finished trial to this JSON-lines file; the same command "
                           "run again skips the trials it holds")
    runs.add_argument("--plot", metavar="PNG", help="scatter of validation accuracy against the "
                                                     "searched hyper-parameters")
    runs.add_argument("--retrain-best", action="store_true",
                      help="train the best configuration on training + validation data and report "
                           "its test accuracy")
    runs.add_argument("--save", metavar="PATH", help="with --retrain-best: write that model to this .npz")
    runs.add_argument("--quiet", action="store_true", help="print only the best configuration")
    search.set_defaults(run=cmd_search)
    return search


# -- the command ----------------------------------------------------------------
def _describe(spec: Any) -> str:
    if hasattr(spec, "rvs"):
        if spec.dist.name == "loguniform":
            return f"log-uniform in [{spec.args[0]:g}, {spec.args[1]:g}]"
        low, width = spec.args if spec.args else (spec.kwds.get("loc", 0), spec.kwds.get("scale", 1))
        return f"uniform in [{low:g}, {low + width:g}]"
    if isinstance(spec, list):
        return "one of " + ", ".join(f"{v:g}" for v in spec)
    return "none" if spec is None else f"{spec:g}"


def _format(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def search_space(args: argparse.Namespace) -> dict[str, Any]:
    """The trials' parameters that parsed ``search`` options describe: ranges and fixed values."""
    space = {name: getattr(args, name) for name in TRAIN_OPTIONS}
    space["hidden"] = tuple(args.hidden)  # a fixed value: a list in a space is a choice
    if space["lr"] is None:
        space["lr"] = cli.DEFAULT_LR[args.optimizer]
    return space


def cmd_search(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    state: dict[str, Any] = {}
    try:
        return _search(args, parser, state)
    except KeyboardInterrupt:
        kept = ""
        if args.results and "context" in state:  # counted in the file: a trial may end as Ctrl-C comes
            done = len(finished_trials(args.results, state["space"], args.trials, seed=args.seed,
                                       context=state["context"]))
            kept = f"; {done} trials are in {args.results}: run the same command to continue"
        sys.stderr.write(f"interrupted{kept}\n")
        return 130


def _search(args: argparse.Namespace, parser: argparse.ArgumentParser, state: dict[str, Any]) -> int:
    out = sys.stdout
    if not args.val_split:
        parser.error("the trials are scored on a validation split: --val-split must be above 0, e.g. 0.1")
    if args.save and not args.retrain_best:
        parser.error("--save writes the retrained best model: add --retrain-best")
    if args.jobs is not None and args.scheduler:
        parser.error("give --jobs (local processes) or --scheduler (a Dask cluster), not both")
    if args.results and os.path.isdir(args.results):
        parser.error(f"--results {args.results} is a directory: give a file name such as trials.jsonl")
    scheduler = args.scheduler or (None if args.jobs is not None else os.environ.get(SCHEDULER_ENV) or None)
    if scheduler:
        try:
            check_scheduler(scheduler)
        except ImportError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 1
        except ValueError as exc:
            parser.error(f"{'--scheduler' if args.scheduler else SCHEDULER_ENV}: {exc}")
    space = search_space(args)
    searched = [name for name in SEARCHABLE if hasattr(space[name], "rvs") or isinstance(space[name], list)]
    try:  # the options every trial shares, checked once here rather than in each trial
        probe = argparse.Namespace(**sample_params(space, args.seed, 0), seed=args.seed)
        cli._optimizer(probe, cli._build(probe))
    except ValueError as exc:
        parser.error(str(exc))

    (x_train, t_train), (x_test, t_test) = cli._load(args.dataset, args, flatten=args.model == "mlp",
                                                     dtype=args.dtype)
    if args.train_size:
        x_train, t_train = x_train[:args.train_size], t_train[:args.train_size]
    try:
        train, validation = datasets.train_val_split(x_train, t_train, args.val_split, seed=args.seed)
    except ValueError as exc:
        parser.error(f"--val-split {args.val_split}: {exc}")
    context = {"dataset": args.dataset, "train_size": args.train_size, "val_split": args.val_split,
               "split_seed": args.seed, "samples": [len(train[0]), len(validation[0])]}
    state.update(context=context, space=space)
    workers = worker_count(args.jobs, args.threads, args.trials)
    where = (f"on the Dask cluster at {scheduler}" if scheduler else
             "in this process" if workers == 1 else f"in {workers} processes")
    finished = 0 if not args.results else len(finished_trials(args.results, space, args.trials,
                                                                seed=args.seed, context=context))
    if not args.quiet:
        ranges = ", ".join(f"{n} {_describe(space[n])}" for n in searched) or \
            "no range given: the trials differ only in their seed"
        print(f"{args.dataset}: {len(train[0]):,} training and {len(validation[0]):,} validation "
              f"samples; {args.trials} trials of {args.epochs} epoch{'s' * (args.epochs != 1)} "
              f"{where}, {args.threads} BLAS thread{'s' * (args.threads != 1)} each", file=out)
        print(f"searching {ranges}", file=out)
        if finished:
            print(f"{finished} of the {args.trials} trials are already in {args.results}: "
                  f"running the other {args.trials - finished}", file=out)
    progress = _Progress(out, args.trials, finished, searched, quiet=args.quiet)
    try:
        result = random_search(train_trial, space, args.trials, seed=args.seed, shared=((train, validation),),
                               n_jobs=args.jobs, scheduler=scheduler, threads_per_trial=args.threads,
                               results=args.results, context=context, on_result=progress)
    except (ImportError, ConnectionError, OSError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except Exception as exc:  # a cluster's failure, such as a trial whose every worker died
        if not type(exc).__module__.startswith("distributed"):
            raise
        sys.stderr.write(f"error: the Dask cluster failed: {type(exc).__name__}: {exc}\n")
        return 1
    _report(result, searched, out, args.quiet)
    if args.plot:
        try:
            print(f"wrote the plot to {result.plot(args.plot, title=_title(args, result))}", file=out)
        except OSError as exc:
            sys.stderr.write(f"error: cannot write the plot to {args.plot}: {exc.strerror or exc}\n")
            return 1
    if args.retrain_best:
        return _retrain(args, result.best, (x_train, t_train), (x_test, t_test), out)
    return 0


class _Progress:
    """A line per finished trial: how many are done, the trial, its parameters and score."""

    def __init__(self, out: Any, total: int, done: int, searched: list[str], quiet: bool) -> None:
        self.out, self.total, self.done, self.searched, self.quiet = out, total, done, searched, quiet
        self.width = len(str(total))

    def __call__(self, trial: Trial) -> None:
        self.done += 1
        if self.quiet:
            return
        params = "  ".join(f"{n} {_format(trial.params[n])}" for n in self.searched)
        acc = trial.metrics["val_accuracy"]
        score = "diverged" if math.isnan(acc) else f"val_acc {100 * acc:.2f}%  val_loss {trial.metrics['val_loss']:.4f}"
        print(f"[{self.done:>{self.width}}/{self.total}] trial {trial.index:<{self.width}}  {params}  "
              f"{score}  ({trial.time:.1f}s, {trial.worker})", file=self.out, flush=True)


def _report(result: SearchResult, searched: list[str], out: Any, quiet: bool) -> None:
    best = result.best
    params = ", ".join(f"{n} {_format(best.params[n])}" for n in searched) or "the given options"
    if not quiet:
        print("\nbest trials:", file=out)
        for t in result.ranked()[:5]:
            acc = t.metrics["val_accuracy"]
            print(f"  trial {t.index:<4} val_acc {100 * acc:6.2f}%  "
                  + "  ".join(f"{n} {_format(t.params[n])}" for n in searched), file=out)
    print(f"best: trial {best.index} (seed {best.seed}), val_acc {100 * best.score:.2f}%, "
          f"val_loss {best.metrics['val_loss']:.4f}: {params}", file=out)


def _title(args: argparse.Namespace, result: SearchResult) -> str:
    epochs = f"{args.epochs} epoch{'s' * (args.epochs != 1)}"
    return f"{args.dataset}: validation accuracy of {len(result.trials)} trials, {epochs} each"


def _retrain(args: argparse.Namespace, best: Trial, train: Any, test: Any, out: Any) -> int:
    """Train the best configuration on all training data (training + validation) and test it."""
    params = dict(best.params, patience=None, epochs=int(best.metrics.get("epochs", args.epochs)))
    run = argparse.Namespace(**params, seed=best.seed)
    model = cli._build(run)
    optimizer = cli._optimizer(run, model)
    trainer = Trainer(model, SoftmaxWithLoss(), optimizer, schedule=cli._schedule(run, optimizer))
    started = time.perf_counter()
    try:
        trainer.fit(*train, run.epochs, run.batch_size, seed=best.seed, verbose=0)
    except DivergenceError as exc:
        sys.stderr.write(f"error: retraining the best configuration: {exc}\n")
        return 1
    test_loss, test_acc = trainer.evaluate(*test)
    print(f"retrained trial {best.index} on all {len(train[0]):,} training samples for {run.epochs} "
          f"epochs ({time.perf_counter() - started:.1f}s): test accuracy {100 * test_acc:.2f}%  "
          f"test loss {test_loss:.4f}", file=out)
    if args.save:
        meta = {"dataset": args.dataset, "test_accuracy": test_acc, "search_trial": best.index,
                "params": best.params, "seed": best.seed, "command": " ".join(sys.argv)}
        try:
            path = model.save(args.save, optimizer=optimizer, metadata=meta)
        except OSError as exc:
            sys.stderr.write(f"error: cannot write the model to {args.save}: {exc.strerror or exc}\n")
            return 1
        print(f"saved the model to {path}", file=out)
    return 0
