"""Data sets: MNIST / Fashion-MNIST loaders, an IDX reader, and mini-batching.

A leaf package: it imports NumPy and the standard library only.

Example:
    >>> from datasets import load_mnist, minibatches
    >>> (x_train, t_train), (x_test, t_test) = load_mnist()  # doctest: +SKIP
    >>> rng = np.random.default_rng(0)  # doctest: +SKIP
    >>> for xb, tb in minibatches(x_train, t_train, 100, rng=rng):  # doctest: +SKIP
    ...     pass
"""

from .batching import minibatches, num_batches, train_val_split
from .cache import cache_root
from .download import DownloadError
from .idx import DatasetError, read_idx
from .mnist import (
    FASHION_MNIST_MD5,
    FASHION_MNIST_MIRRORS,
    MNIST_MD5,
    MNIST_MIRRORS,
    load_fashion_mnist,
    load_mnist,
)

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "minibatches",
    "num_batches",
    "train_val_split",
    "DatasetError",
    "DownloadError",
    "read_idx",
    "cache_root",
    "MNIST_MIRRORS",
    "FASHION_MNIST_MIRRORS",
    "MNIST_MD5",
    "FASHION_MNIST_MD5",
]
