"""Mini-batch iteration and a seeded train/validation split."""

from __future__ import annotations

import numbers
from collections.abc import Iterator

import numpy as np

__all__ = ["minibatches", "num_batches", "train_val_split"]


def _check_batch_size(batch_size) -> int | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    return int(batch_size)


def num_batches(n: int, batch_size: int | None, drop_last: bool = False) -> int:
    """How many batches :func:`minibatches` yields for ``n`` samples.

    Args:
        n: number of samples.
        batch_size: positive int, or None for the whole set as one batch.
        drop_last: drop a final batch smaller than ``batch_size``.

    Returns:
        The number of batches per epoch.

    Example:
        >>> num_batches(10, 3), num_batches(10, 3, drop_last=True), num_batches(10, None)
        (4, 3, 1)
    """
    batch_size = _check_batch_size(batch_size)
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if batch_size is None:
        return 1 if n > 0 else 0
    return n // batch_size if drop_last else -(-n // batch_size)


def minibatches(
    x: np.ndarray,
    t: np.ndarray,
    batch_size: int | None,
    *,
    rng: np.random.Generator | int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(xb, tb)`` mini-batches for one epoch.

    With ``shuffle=True`` the epoch is a permutation drawn from ``rng``: every
    sample appears exactly once (sampling without replacement). Pass the same
    Generator every epoch to get a new, reproducible order each time. Only
    the batch is gathered (fancy indexing); the data set is never copied.
    With ``shuffle=False`` batches are views of consecutive rows.

    Args:
        x: inputs, shape ``(N, ...)``.
        t: targets, shape ``(N, ...)``.
        batch_size: positive int, or None to yield ``(x, t)`` themselves once
            (no copy; order does not change a mean gradient).
        rng: a ``np.random.Generator`` (advanced by each epoch), an int
            seed, or None for fresh OS entropy.
        shuffle: permute the samples each epoch.
        drop_last: skip a final batch smaller than ``batch_size``.
        out: optional ``(x_buf, t_buf)`` with room for ``batch_size`` rows
            and the dtypes of ``x`` and ``t``; shuffled batches are gathered
            into them (views, overwritten by the next batch) instead of new
            arrays.

    Shape:
        ``xb``: ``(B, ...)``, ``tb``: ``(B, ...)`` with ``B = batch_size``
        except possibly the last batch.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, t = np.arange(10).reshape(5, 2), np.arange(5)
        >>> [tb.tolist() for _, tb in minibatches(x, t, 2, rng=rng)]
        [[2, 4], [3, 0], [1]]
    """
    batch_size = _check_batch_size(batch_size)
    n = len(x)
    if len(t) != n:
        raise ValueError(f"x and t must have the same length, got {n} and {len(t)}")
    if batch_size is None:
        if n > 0:
            yield x, t
        return
    if out is not None:
        _check_out(out, x, t, batch_size)
    stop = n - n % batch_size if drop_last else n
    if not shuffle:
        for i in range(0, stop, batch_size):
            yield x[i:i + batch_size], t[i:i + batch_size]
        return
    order = np.random.default_rng(rng).permutation(n)  # a Generator passes through unchanged
    for i in range(0, stop, batch_size):
        idx = order[i:i + batch_size]
        if out is None:
            yield x[idx], t[idx]
        else:
            k = len(idx)
            # mode="clip" avoids take's internal buffering; indices are valid anyway.
            # The method, not np.take: that adds two Python-level wrapper calls per array.
            xb = x.take(idx, axis=0, out=out[0][:k], mode="clip")
            tb = t.take(idx, axis=0, out=out[1][:k], mode="clip")
            yield xb, tb


def _check_out(out, x: np.ndarray, t: np.ndarray, batch_size: int) -> None:
    for buf, src, name in ((out[0], x, "x"), (out[1], t, "t")):
        fits = (
            isinstance(buf, np.ndarray)
            and buf.dtype == src.dtype
            and buf.shape[1:] == src.shape[1:]
            and buf.shape[0] >= min(batch_size, len(src))
            and buf.flags.c_contiguous
        )
        if not fits:
            raise ValueError(
                f"out buffer for {name} must be a C-contiguous {src.dtype} array of shape "
                f"({batch_size}, {', '.join(map(str, src.shape[1:]))}), got "
                f"{getattr(buf, 'dtype', type(buf).__name__)} {getattr(buf, 'shape', '')}"
            )


def _split_count(val_size, n: int) -> int:
    if isinstance(val_size, bool):
        raise ValueError(f"val_size must be a fraction in (0, 1) or a count, got {val_size!r}")
    if isinstance(val_size, numbers.Integral):
        n_val = int(val_size)
        if not 0 < n_val < n:
            raise ValueError(
                f"val_size as a count must be in 1..{n - 1} for {n} samples, got {n_val}"
            )
        return n_val
    if isinstance(val_size, numbers.Real):
        if not 0.0 < val_size < 1.0:
            raise ValueError(f"val_size as a fraction must be in (0, 1), got {val_size}")
        n_val = int(round(val_size * n))
        if not 0 < n_val < n:
            raise ValueError(
                f"val_size={val_size} of {n} samples gives {n_val} validation samples; "
                "both parts must be non-empty"
            )
        return n_val
    raise ValueError(f"val_size must be a fraction in (0, 1) or a count, got {val_size!r}")


def train_val_split(
    x: np.ndarray,
    t: np.ndarray,
    val_size: float | int = 0.1,
    *,
    seed: int | np.random.Generator | None = 0,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split ``(x, t)`` at random into a training and a validation part.

    The samples are drawn without replacement from a seeded permutation; each
    part keeps the original relative order of its samples.

    Args:
        x: inputs, shape ``(N, ...)``.
        t: targets, shape ``(N, ...)``.
        val_size: fraction in (0, 1) (rounded to a count) or a count in 1..N-1.
        seed: int seed or Generator; the same seed gives the same split.

    Returns:
        ``(x_train, t_train), (x_val, t_val)``, disjoint, together all N samples.

    Raises:
        ValueError: lengths differ, or ``val_size`` leaves a part empty.

    Example:
        >>> x, t = np.arange(20).reshape(10, 2), np.arange(10)
        >>> (x_tr, t_tr), (x_va, t_va) = train_val_split(x, t, 0.2, seed=0)
        >>> len(t_tr), len(t_va)
        (8, 2)
    """
    n = len(x)
    if len(t) != n:
        raise ValueError(f"x and t must have the same length, got {n} and {len(t)}")
    n_val = _split_count(val_size, n)
    order = np.random.default_rng(seed).permutation(n)
    # sorted indices keep each part in original order and read memory sequentially
    val_idx = np.sort(order[:n_val])
    train_idx = np.sort(order[n_val:])
    return (x[train_idx], t[train_idx]), (x[val_idx], t[val_idx])
