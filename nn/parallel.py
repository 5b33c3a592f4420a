"""Run independent trials in this process, on local worker processes (joblib), or on a Dask cluster.

The trials of a random search or of random restarts share nothing: each
builds, trains and scores its own model. ``run_trials`` runs them where it is
asked to and yields each outcome as it finishes. Every trial runs under the
same BLAS thread count (``threads_per_trial``) wherever it runs, because the
thread count decides how BLAS splits its sums and so the last bits of the
result: a trial gives the same numbers in this process, in a joblib worker
and on a Dask worker.

joblib (installed with scikit-learn, the ``[sklearn]`` extra) and
``dask.distributed`` (the ``[dask]`` extra) are imported only when asked for.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from threadpoolctl import threadpool_limits

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT_S = 10.0  # how long to try to reach a Dask scheduler


class Outcome(NamedTuple):
    """One finished trial: its position in the task list, what it returned, where and how long."""

    index: int
    value: Any
    worker: str
    seconds: float


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def worker_count(n_jobs: int | None, threads_per_trial: int, n_tasks: int) -> int:
    """How many local processes run trials: ``n_jobs`` (-1 all cores, -2 all but one, as
    joblib counts), never more than the tasks, nor more than workers × threads fit the cores."""
    if n_jobs is None:
        n_jobs = 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0:
        raise ValueError(f"n_jobs must be a positive integer, or -1 for every core, got {n_jobs!r}")
    _check_threads(threads_per_trial)
    cores = usable_cores()
    wanted = n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    return max(1, min(wanted, cores // threads_per_trial, n_tasks))


def _check_threads(threads: Any) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads_per_trial must be a positive integer, got {threads!r}")


def run_trials(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    shared: Sequence[Any] = (),
    n_jobs: int | None = 1,
    scheduler: Any = None,
    threads_per_trial: int = 1,
) -> Iterator[Outcome]:
    """Call ``fn(*task, *shared)`` for every task; yield an ``Outcome`` as each finishes.

    Args:
        fn: the trial. With ``n_jobs`` or ``scheduler`` it runs in another
            process, so it must be picklable (joblib and Dask pickle lambdas
            and closures too) and return what the caller needs.
        tasks: one argument tuple per trial.
        shared: arguments every trial gets after its own (the data): sent
            once to each worker (joblib memory-maps large arrays; Dask
            scatters them to every worker) instead of once per trial.
        n_jobs: local worker processes; 1 runs the trials in this process.
        scheduler: a Dask scheduler address (``"tcp://host:8786"``) or a
            ``distributed.Client``; the trials then run on that cluster, a
            trial lost with a dying worker being run again elsewhere.
        threads_per_trial: BLAS threads of each trial, in every mode.

    Outcomes come in the order the trials finish, which with several
    workers is not the order of ``tasks``.

    Raises:
        ImportError: joblib or dask.distributed, needed for the mode asked, is missing.
        ConnectionError: the Dask scheduler cannot be reached.
        ValueError: ``n_jobs`` and ``scheduler`` both given, or a bad ``n_jobs``.
    """
    tasks = list(tasks)
    _check_threads(threads_per_trial)
    if scheduler is not None:
        if n_jobs not in (None, 1):
            raise ValueError(f"give n_jobs (local processes) or scheduler (a Dask cluster), not both: "
                             f"n_jobs={n_jobs!r}, scheduler={scheduler!r}")
        yield from _on_dask(fn, tasks, shared, scheduler, threads_per_trial)
        return
    workers = worker_count(n_jobs, threads_per_trial, max(1, len(tasks)))
    if workers == 1:
        for i, task in enumerate(tasks):
            yield Outcome(*call_trial(fn, i, task, threads_per_trial, *shared))
        return
    yield from _on_joblib(fn, tasks, shared, workers, threads_per_trial)


def call_trial(fn: Callable[..., Any], index: int, task: tuple[Any, ...], threads: int,
               *shared: Any) -> tuple[int, Any, str, float]:
    """Run one trial under ``threads`` BLAS threads; return ``(index, value, worker, seconds)``."""
    with threadpool_limits(limits=threads, user_api="blas"):
        started = time.perf_counter()
        value = fn(*task, *shared)
        return index, value, _worker_name(), time.perf_counter() - started


def _worker_name() -> str:
    if "distributed" in sys.modules:  # only a Dask worker has it loaded
        from distributed import get_worker
        try:
            return get_worker().address
        except ValueError:  # not inside a worker
            pass
    return f"{socket.gethostname()} pid {os.getpid()}"


def _on_joblib(fn, tasks, shared, workers, threads) -> Iterator[Outcome]:
    try:
        from joblib import Parallel, delayed
    except ModuleNotFoundError as exc:
        raise ImportError(f"n_jobs={workers} runs the trials in worker processes with joblib, which "
                          "is not installed: pip install \"nn-from-scratch[sklearn]\" (or pip install "
                          "joblib)") from exc
    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
    for outcome in parallel(delayed(call_trial)(fn, i, task, threads, *shared)
                            for i, task in enumerate(tasks)):
        yield Outcome(*outcome)


def _import_distributed(scheduler: Any) -> Any:
    try:
        import distributed
    except ModuleNotFoundError as exc:
        raise ImportError(f"scheduler={scheduler!r} runs the trials on a Dask cluster, which needs "
                          "dask.distributed: pip install \"nn-from-scratch[dask]\"") from exc
    return distributed


def check_scheduler(scheduler: Any) -> None:
    """Raise ValueError unless ``scheduler`` is a ``distributed.Client`` or a well-formed address.

    Checked before connecting: a Client given an address without a port
    fails, then spends 20 s closing itself.
    """
    distributed = _import_distributed(scheduler)
    if isinstance(scheduler, distributed.Client):
        return
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(f"scheduler must be an address such as 'tcp://127.0.0.1:8786' or a "
                         f"distributed.Client, got {scheduler!r}")
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port
    try:
        scheme, location = parse_address(scheduler)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except ValueError as exc:
        raise ValueError(f"the Dask scheduler address {scheduler!r} is not of the form "
                         f"tcp://HOST:PORT ({exc})") from None


def dask_client(scheduler: Any, timeout_s: float | None = None) -> tuple[Any, bool]:
    """A ``distributed.Client`` for ``scheduler`` (an address or a Client) and whether we own it."""
    check_scheduler(scheduler)
    from distributed import Client
    if isinstance(scheduler, Client):
        return scheduler, False
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        return Client(scheduler, timeout=timeout_s, set_as_default=False), True
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:g} s "
                              f"({exc}); is 'dask scheduler' running there?") from None


def _on_dask(fn, tasks, shared, scheduler, threads) -> Iterator[Outcome]:
    client, own = dask_client(scheduler)
    from distributed import as_completed
    futures: list[Any] = []
    try:
        # Broadcast: every worker holds a copy, so a dying worker loses no data.
        data = client.scatter(list(shared), broadcast=True) if shared else []
        run = uuid.uuid4().hex[:8]
        futures = [client.submit(call_trial, fn, i, task, threads, *data, pure=False,
                                 key=f"trial-{i}-{run}") for i, task in enumerate(tasks)]
        for future in as_completed(futures, loop=client.loop):
            yield Outcome(*future.result())
    finally:
        if own:
            client.close()  # which releases every future of this client
        else:
            client.cancel([f for f in futures if not f.done()])
