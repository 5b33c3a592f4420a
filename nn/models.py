"""Ready-made architectures: the MLPs of the course and the textbook's SimpleConvNet."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import layers
from layers import Affine, Layer
from nn.sequential import Sequential

ACTIVATIONS = {"relu": layers.ReLU, "sigmoid": layers.Sigmoid, "tanh": layers.Tanh,
               "leaky_relu": layers.LeakyReLU}


def activation(name: str) -> Layer:
    """A new activation layer by name: relu, sigmoid, tanh or leaky_relu."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def mlp(in_features: int = 784, hidden: Sequence[int] = (256, 256), out_features: int = 10, *,
        activation_name: str = "relu", init: Any = None, batchnorm: bool = False,
        dropout: float = 0.0, seed: int | None = 0, dtype: Any = np.float32,
        device: str = "cpu") -> Sequential:
    """A multi-layer perceptron: Affine, activation, ..., Affine (scores, no softmax).

    Each hidden block is Affine → [BatchNorm] → activation → [Dropout], the
    order of the textbook's chapter 6 networks.

    Args:
        in_features: inputs per sample (784 for MNIST).
        hidden: sizes of the hidden layers; empty for a linear classifier.
        out_features: number of classes.
        activation_name: relu, sigmoid, tanh or leaky_relu.
        init: weight initialisation; by default "he" for ReLU-like and
            "xavier" for sigmoid/tanh, as the textbook recommends.
        batchnorm: put a BatchNorm after every hidden Affine.
        dropout: drop probability of a Dropout after every hidden activation (0: none).
        seed: seeds the initial weights and the dropout masks.
        dtype: float32 or float64.
        device: where the model lives: "cpu" (default) or "gpu" (needs CuPy).

    >>> mlp(784, [50], 10).summary().splitlines()[-1]
    'Total parameters: 39,760 (float32, 155.3 KiB)'
    """
    if init is None:
        init = "xavier" if activation_name in ("sigmoid", "tanh") else "he"
    rng = np.random.default_rng(seed)
    sizes = [in_features, *hidden, out_features]
    model: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        model.append(Affine(fan_in, fan_out, init=init, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            if batchnorm:
                model.append(layers.BatchNorm(fan_out, dtype=dtype))
            model.append(activation(activation_name))
            if dropout:
                model.append(layers.Dropout(dropout, rng=rng))
    return Sequential(model).to(device)


def simple_convnet(input_shape: Sequence[int] = (1, 28, 28), filters: int = 30, kernel_size: int = 5,
                   hidden: int = 100, out_features: int = 10, *, seed: int | None = 0,
                   dtype: Any = np.float32, device: str = "cpu") -> Sequential:
    """The textbook's SimpleConvNet: conv 30×5×5 → ReLU → 2×2 max-pool → Affine 100 → ReLU → Affine 10.

    ``device`` is "cpu" (default) or "gpu" (needs CuPy).
    """
    channels, height, width = input_shape
    rng = np.random.default_rng(seed)
    conv = layers.Convolution(channels, filters, kernel_size, init="he", rng=rng, dtype=dtype)
    pooled = conv.output_shape((1, channels, height, width))
    pooled = (filters, pooled[2] // 2, pooled[3] // 2)
    return Sequential([
        conv, layers.ReLU(), layers.MaxPooling(2), layers.Flatten(),
        Affine(int(np.prod(pooled)), hidden, init="he", rng=rng, dtype=dtype), layers.ReLU(),
        Affine(hidden, out_features, init="he", rng=rng, dtype=dtype),
    ]).to(device)
