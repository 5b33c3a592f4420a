"""Random search over hyper-parameters, with trials in parallel and a results file to resume from.

The textbook's chapter 6 tunes the learning rate and the weight decay by
drawing them at random on a log scale and keeping what scores best on a
validation set. ``random_search`` draws ``n_trials`` configurations from a
``space``, runs the trials here, on local processes or on a Dask cluster
(see ``nn.parallel``), and appends each finished trial to a JSON-lines
results file, so that running the same search again skips what is done.

>>> from scipy.stats import loguniform
>>> def objective(params, seed):   # train and score one configuration
...     return {"val_accuracy": 1 - abs(params["lr"] - 0.01)}
>>> result = random_search(objective, {"lr": loguniform(1e-4, 1e-1)}, n_trials=8, seed=0)
>>> len(result.trials), result.best.params["lr"] == max(result.trials,
...     key=lambda t: t.score).params["lr"]
(8, True)
"""

from __future__ import annotations

import json
import math
import os
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nn.parallel import run_trials
from nn.restarts import _score, ranks_first

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: appends go unlocked
    fcntl = None  # type: ignore[assignment]


@dataclass
class Trial:
    """One configuration tried: what it was, how it scored, where and how long it ran.

    ``resumed`` is True for a trial read back from the results file rather
    than run by this call.
    """

    index: int
    params: dict[str, Any]
    seed: int
    score: float
    metrics: dict[str, float]
    time: float
    worker: str
    resumed: bool = False


@dataclass
class SearchResult:
    """Every trial of a ``random_search``, in trial order, and the best one.

    Attributes:
        trials: one ``Trial`` per configuration, ``trials[i].index == i``.
        best_index: position of the best trial (ties go to the earlier trial;
            a NaN score, a diverged run, never wins).
        key, minimize: the metric that ranked the trials, and its direction.
        searched: the names of the parameters drawn at random (the others were fixed).
        log_scale: those of them drawn on a log scale (plotted on log axes).
    """

    trials: list[Trial]
    best_index: int
    key: str
    minimize: bool
    searched: list[str] = field(default_factory=list)
    log_scale: list[str] = field(default_factory=list)

    @property
    def best(self) -> Trial:
        return self.trials[self.best_index]

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best.params

    @property
    def scores(self) -> np.ndarray:
        return np.array([t.score for t in self.trials])

    def ranked(self) -> list[Trial]:
        """The trials best first (NaN scores last)."""
        sign = 1 if self.minimize else -1
        return sorted(self.trials, key=lambda t: (math.isnan(t.score),
                                                  0 if math.isnan(t.score) else sign * t.score, t.index))

    def plot(self, path: str | os.PathLike, title: str = "") -> Path:
        """Scatter the score against the first two searched parameters (the textbook's chapter-6 figure).

        Each trial is a point at its two parameters, coloured by its score,
        the best one starred; a parameter drawn on a log scale, or spanning
        two decades or more, is on a log axis. With one searched parameter
        the score is the y axis.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from nn.checkpoint import atomic_write

        fig = Figure(figsize=(6.4, 4.8), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        ok = [t for t in self.trials if not math.isnan(t.score)]
        failed = [t for t in self.trials if math.isnan(t.score)]
        names = [n for n in self.searched if _is_number(self.trials[0].params.get(n))][:2]
        label = self.key.replace("_", " ")
        if len(names) == 2:
            x_of = lambda ts, n=names[0]: [t.params[n] for t in ts]  # noqa: E731
            y_of = lambda ts, n=names[1]: [t.params[n] for t in ts]  # noqa: E731
            points = ax.scatter(x_of(ok), y_of(ok), c=[t.score for t in ok], cmap="viridis", s=40)
            fig.colorbar(points, ax=ax, label=label)
            if failed:
                ax.scatter(x_of(failed), y_of(failed), marker="x", color="grey", label="diverged (NaN)")
            ax.set(xlabel=names[0], ylabel=names[1])
            self._log_axis(ax, "x", names[0])
            self._log_axis(ax, "y", names[1])
        else:
            name = names[0] if names else "trial"
            x_of = (lambda ts: [t.params[name] for t in ts]) if names else (lambda ts: [t.index for t in ts])
            ax.scatter(x_of(ok), [t.score for t in ok], s=40)
            ax.set(xlabel=name, ylabel=label)
            if names:
                self._log_axis(ax, "x", name)
        best = self.best
        if len(names) == 2:
            ax.scatter([best.params[names[0]]], [best.params[names[1]]], marker="*", s=300,
                       facecolors="none", edgecolors="red", linewidths=1.5, label=f"best: {best.score:.4g}")
        else:
            ax.scatter(x_of([best]), [best.score], marker="*", s=300, facecolors="none",
                       edgecolors="red", linewidths=1.5, label=f"best: {best.score:.4g}")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_title(title or f"{label} of {len(self.trials)} trials")
        return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))


    def _log_axis(self, ax: Any, axis: str, name: str) -> None:
        numbers = [t.params[name] for t in self.trials if _is_number(t.params[name])]
        wide = numbers and min(numbers) > 0 and max(numbers) / min(numbers) >= 100
        if name in self.log_scale or wide:
            from matplotlib.ticker import NullFormatter

            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
            # Over less than a decade Matplotlib labels the minor ticks too, on top of each other.
            (ax.xaxis if axis == "x" else ax.yaxis).set_minor_formatter(NullFormatter())


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def sample_params(space: Mapping[str, Any], seed: int, index: int) -> dict[str, Any]:
    """The parameters of trial ``index``: each entry of ``space`` drawn from its own stream.

    An entry is a distribution (anything with ``rvs(random_state=...)``, such as
    ``scipy.stats.loguniform(1e-4, 1e-1)``), a list (one element drawn
    uniformly) or any other value (fixed). Trial ``index`` draws each entry
    from a generator seeded by ``(seed, index, the entry's name)``, so a
    trial's learning rate does not depend on how many trials run, in which
    order, nor on what else the space holds. The values come back as JSON
    would read them (tuples as lists, NumPy numbers as Python ones), exactly
    as the results file records them.
    """
    params = {}
    for name in space:
        spec = space[name]
        rng = np.random.default_rng([seed, index, zlib.crc32(str(name).encode())])
        if hasattr(spec, "rvs"):
            value = spec.rvs(random_state=rng)
        elif isinstance(spec, list):
            if not spec:
                raise ValueError(f"the space's list for {name!r} is empty: give at least one value")
            value = spec[int(rng.integers(len(spec)))]
        else:
            value = spec
        params[name] = value
    return _as_json(params, "space")


def _as_json(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, default=_plain, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the {what} must hold plain values (numbers, strings, lists, dicts) that a "
                         f"JSON results file can record: {exc}") from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not a plain value: {value!r}")


def random_search(
    objective: Callable[..., float | Mapping[str, float]],
    space: Mapping[str, Any],
    n_trials: int,
    *,
    seed: int = 0,
    key: str = "val_accuracy",
    minimize: bool = False,
    shared: Sequence[Any] = (),
    n_jobs: int | None = 1,
    scheduler: Any = None,
    threads_per_trial: int = 1,
    results: str | os.PathLike | None = None,
    context: Mapping[str, Any] | None = None,
    on_result: Callable[[Trial], Any] | None = None,
) -> SearchResult:
    """Try ``n_trials`` configurations drawn from ``space``; return every trial and the best.

    Args:
        objective: ``objective(params, seed, *shared) -> score``: builds,
            trains and scores one configuration; returns a number or a
            mapping of metrics from which ``key`` is the score. It may run in
            another process (see ``n_jobs``), so it must be picklable and
            return what is needed.
        space: parameter name → distribution, list of choices or fixed value
            (see ``sample_params``); the objective gets them all.
        n_trials: number of configurations.
        seed: trial ``i`` draws its parameters from ``(seed, i)`` and gets
            ``seed + i`` as its own seed (initial weights, shuffling).
        key, minimize: the metric that ranks the trials; a higher
            validation accuracy by default.
        shared: arguments every trial gets after ``params`` and ``seed``
            (the data), sent once to each worker.
        n_jobs: local worker processes (joblib; -1: one per core).
        scheduler: a Dask scheduler address or ``distributed.Client``: run the
            trials on that cluster; a trial lost with a worker runs again elsewhere.
        threads_per_trial: BLAS threads of each trial, wherever it runs, so
            that its result does not depend on where it ran.
        results: a JSON-lines file: each finished trial is appended to it
            (one line, written and flushed to disk under a lock, so a crash
            never leaves it corrupt); trials already in it with the same
            index, seed, parameters and context are not run again.
        context: what else defines a trial (the data, ...), recorded with
            each trial: a rerun with another context reuses none of them.
        on_result: called with each ``Trial`` this call runs, as it finishes.

    Returns:
        ``SearchResult`` with the trials in trial order.

    Raises:
        ValueError: bad arguments, or every trial scored NaN.
        TypeError: ``space`` is not a mapping.
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(space, Mapping):
        raise TypeError(f"space must be a mapping of parameter names to distributions, lists or "
                        f"values, got {type(space).__name__}")
    seed, n_trials = int(seed), int(n_trials)
    planned = _plan(space, n_trials, seed)
    context = _as_json(dict(context or {}), "context")
    done: dict[int, Trial] = {}
    if results is not None:
        done = _finished(Path(results), planned, context, key)
        _check_writable(Path(results))
    todo = [p for p in planned if p[0] not in done]
    trials: dict[int, Trial] = dict(done)
    tasks = [(params, trial_seed) for _, params, trial_seed in todo]
    for outcome in run_trials(objective, tasks, shared=shared, n_jobs=n_jobs, scheduler=scheduler,
                              threads_per_trial=threads_per_trial):
        index, params, trial_seed = todo[outcome.index]
        score, metrics = _score(outcome.value, key, "the objective")
        trial = Trial(index, params, trial_seed, score, metrics, outcome.seconds, outcome.worker)
        if results is not None:
            append_record(Path(results), _record(trial, context))
        trials[index] = trial
        if on_result is not None:
            on_result(trial)
    ordered = [trials[i] for i in range(n_trials)]
    best = 0
    for i, trial in enumerate(ordered):
        if ranks_first(trial.score, i, ordered[best].score, best, minimize):
            best = i
    if math.isnan(ordered[best].score):
        raise ValueError(f"every one of the {n_trials} trials gave a NaN score (diverged?)")
    searched = [name for name in space if hasattr(space[name], "rvs") or isinstance(space[name], list)]
    log_scale = [name for name in searched
                 if getattr(getattr(space[name], "dist", None), "name", "") in ("loguniform", "reciprocal")]
    return SearchResult(ordered, best, key, minimize, searched, log_scale)


# -- the results file ---------------------------------------------------------
def finished_trials(results: str | os.PathLike, space: Mapping[str, Any], n_trials: int, *, seed: int = 0,
                    context: Mapping[str, Any] | None = None, key: str = "val_accuracy") -> list[Trial]:
    """The trials of this search (same space, trial count, seed and context) that ``results`` holds.

    What ``random_search`` with these arguments would read back rather than run.
    """
    planned = _plan(space, int(n_trials), int(seed))
    done = _finished(Path(results), planned, _as_json(dict(context or {}), "context"), key)
    return [done[i] for i in sorted(done)]


def _plan(space: Mapping[str, Any], n_trials: int, seed: int) -> list[tuple[int, dict[str, Any], int]]:
    return [(i, sample_params(space, seed, i), seed + i) for i in range(n_trials)]


def _record(trial: Trial, context: dict[str, Any]) -> dict[str, Any]:
    metrics = {k: (None if math.isnan(v) else v) for k, v in trial.metrics.items()}
    return {"trial": trial.index, "seed": trial.seed, "params": trial.params,
            "score": None if math.isnan(trial.score) else trial.score, "metrics": metrics,
            "time": round(trial.time, 3), "worker": trial.worker, "context": context,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _check_writable(path: Path) -> None:
    """Fail now, not after the first trial, if ``path`` cannot be appended to."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True)
        open(path, "ab").close()
    except OSError as exc:
        raise OSError(f"cannot write the results file {path}: {exc.strerror or exc}") from None


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """Append ``record`` to the JSON-lines file ``path`` as one line, durably.

    The line goes out in one ``write`` to a file opened for appending, under
    an exclusive lock, and is flushed to disk before the lock is released:
    concurrent writers never interleave, and a crash leaves at worst a last
    line cut short, which ``read_records`` skips and the next append moves past.
    """
    line = json.dumps(record, allow_nan=False).encode() + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            end = f.seek(0, os.SEEK_END)
            if end:
                f.seek(end - 1)
                if f.read(1) != b"\n":  # a line cut short by a crash: start afresh after it
                    line = b"\n" + line
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        finally:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every complete record of a results file, in file order (none if it does not exist).

    A line that is not a JSON object (a write cut short by a crash) is skipped.
    """
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, "rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _finished(path: Path, planned: list[tuple[int, dict[str, Any], int]], context: dict[str, Any],
              key: str) -> dict[int, Trial]:
    """The planned trials that the results file already holds, as ``Trial``s."""
    if path.is_dir():
        raise ValueError(f"the results file {path} is a directory; give a file name such as trials.jsonl")
    wanted = {index: (params, seed) for index, params, seed in planned}
    done: dict[int, Trial] = {}
    for record in read_records(path):
        index = record.get("trial")
        if not isinstance(index, int) or index not in wanted or index in done:
            continue
        params, seed = wanted[index]
        if record.get("seed") != seed or record.get("params") != params or record.get("context") != context:
            continue
        metrics = {k: math.nan if v is None else float(v) for k, v in (record.get("metrics") or {}).items()}
        score, metrics = _score(metrics, key, f"{path}'s trial {index}")
        done[index] = Trial(index, params, seed, score, metrics, float(record.get("time", math.nan)),
                            str(record.get("worker", "")), resumed=True)
    return done
