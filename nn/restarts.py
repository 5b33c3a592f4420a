"""Random restarts: train one architecture from several seeds and keep the best.

A network's loss is not convex in its weights, so where gradient descent ends
depends on where it starts; some initialisations settle in a poor local
minimum or a plateau. Training from several random initialisations and keeping
the best is the oldest remedy, and ``best_of_restarts`` is that loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from nn.parallel import run_trials


class RestartResult(NamedTuple):
    """One restart: its seed, its score and every metric ``train`` reported."""

    seed: int
    score: float
    metrics: dict[str, float]
    model: Any = None  # kept only with keep_models=True


class Restarts(NamedTuple):
    """The outcome of ``best_of_restarts``: unpack as ``model, results = ...``.

    Attributes:
        model: the best model.
        results: one ``RestartResult`` per seed, in the order the seeds ran.
        best_index: position of the best result in ``results``.
    """

    model: Any
    results: list[RestartResult]
    best_index: int

    @property
    def best(self) -> RestartResult:
        return self.results[self.best_index]

    @property
    def scores(self) -> np.ndarray:
        return np.array([r.score for r in self.results])

    @property
    def seeds(self) -> list[int]:
        return [r.seed for r in self.results]


def best_of_restarts(
    build: Callable[[int], Any],
    train: Callable[[Any, int], float | Mapping[str, float]],
    n: int | None = None,
    seeds: Iterable[int] | None = None,
    *,
    key: str = "loss",
    minimize: bool = True,
    keep_models: bool = False,
    on_result: Callable[[RestartResult], Any] | None = None,
    n_jobs: int | None = 1,
    scheduler: Any = None,
    threads_per_trial: int = 1,
) -> Restarts:
    """Build and train a model for each seed; return the best model and every result.

    Args:
        build: ``build(seed) -> model``, a fresh model initialised from ``seed``.
        train: ``train(model, seed) -> score``: trains ``model`` in place and
            returns either a number or a mapping of metrics such as
            ``{"loss": 0.02, "accuracy": 1.0}``, from which ``key`` is the score.
        n: number of restarts; seeds ``0 .. n-1`` unless ``seeds`` is given.
        seeds: the seeds to use (``n``, if also given, must equal their count).
        key: the metric that ranks the restarts when ``train`` returns a mapping.
        minimize: lower score is better (a loss); ``False`` for an accuracy.
        keep_models: keep every trained model in its result, not only the best.
        on_result: called with each ``RestartResult`` as it is finished (progress).
        n_jobs: run the restarts in this many local processes (joblib; -1:
            one per core); ``build`` and ``train`` then run in those processes,
            so ``train`` must return what you need rather than store it in
            outer variables.
        scheduler: run them on a Dask cluster instead: its scheduler's
            address (``"tcp://host:8786"``) or a ``distributed.Client``.
        threads_per_trial: BLAS threads of each restart, in every mode: the
            thread count changes the rounding of BLAS sums, so a restart gives
            the same result in this process, in a local worker and on a
            cluster; ``n_jobs=-1`` runs ``cores // threads_per_trial`` workers.

    Returns:
        ``Restarts(model, results, best_index)``, the results in the order of
        the seeds whatever order they finished in (``on_result`` sees them
        as they finish); ties go to the earlier seed, and a NaN score (a
        diverged run) never wins unless all are NaN.

    Raises:
        ValueError: neither or inconsistent ``n`` and ``seeds``; a mapping
            without ``key``; every score is NaN.

    >>> def build(seed): return {"w": seed}
    >>> def train(model, seed): return (model["w"] - 2) ** 2
    >>> model, results = best_of_restarts(build, train, n=4)[:2]
    >>> model, [r.score for r in results]
    ({'w': 2}, [4.0, 1.0, 0.0, 1.0])
    """
    seed_list = _seed_list(n, seeds)
    slots: list[RestartResult | None] = [None] * len(seed_list)
    best_model, best_index = None, -1
    for i, (outcome, model), _, _ in run_trials(_restart, [(build, train, s) for s in seed_list],
                                                n_jobs=n_jobs, scheduler=scheduler,
                                                threads_per_trial=threads_per_trial):
        score, metrics = _score(outcome, key)
        result = slots[i] = RestartResult(seed_list[i], score, metrics, model if keep_models else None)
        if best_index < 0 or ranks_first(score, i, slots[best_index].score, best_index, minimize):
            best_model, best_index = model, i
        if on_result is not None:
            on_result(result)
    results = [r for r in slots if r is not None]
    if math.isnan(results[best_index].score):
        raise ValueError(f"every one of the {len(results)} restarts gave a NaN score")
    return Restarts(best_model, results, best_index)


def _restart(build: Callable[[int], Any], train: Callable[[Any, int], Any], seed: int) -> tuple[Any, Any]:
    model = build(seed)
    return train(model, seed), model


def _seed_list(n: int | None, seeds: Iterable[int] | None) -> list[int]:
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if seeds is None:
        if n is None:
            raise ValueError("give the number of restarts n, or the seeds to use")
        return list(range(int(n)))
    seed_list = list(seeds)
    if not seed_list:
        raise ValueError("seeds is empty: give at least one seed")
    for s in seed_list:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seeds must be integers, got {s!r}")
    if n is not None and n != len(seed_list):
        raise ValueError(f"n={n} but {len(seed_list)} seeds were given")
    return [int(s) for s in seed_list]


def _score(outcome: Any, key: str, source: str = "train") -> tuple[float, dict[str, float]]:
    if isinstance(outcome, Mapping):
        if key not in outcome:
            raise ValueError(f"{source} returned metrics {sorted(outcome)} without the score "
                             f"key {key!r}; pass key= to choose one")
        metrics = {k: float(v) for k, v in outcome.items()}
        return metrics[key], metrics
    if isinstance(outcome, bool) or not isinstance(outcome, (int, float, np.integer, np.floating)):
        raise ValueError(f"{source} must return a number or a mapping of metrics, "
                         f"got {type(outcome).__name__}")
    return float(outcome), {key: float(outcome)}


def ranks_first(score: float, index: int, other: float, other_index: int, minimize: bool) -> bool:
    """Whether ``score`` (of run ``index``) beats ``other``: the better score, on a tie the earlier run."""
    if _better(score, other, minimize):
        return True
    return not _better(other, score, minimize) and index < other_index


def _better(score: float, best: float, minimize: bool) -> bool:
    if math.isnan(score):
        return False
    if math.isnan(best):
        return True
    return score < best if minimize else score > best
