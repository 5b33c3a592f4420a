"""Layers: each a ``forward``/``backward`` pair on whole mini-batches."""

from layers.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Step, Tanh, softmax
from layers.base import Layer, Parameter
from layers.graph import Add, Mul
from layers.linear import Affine

__all__ = [
    "Add", "Affine", "Layer", "LeakyReLU", "Mul", "Parameter", "ReLU", "Sigmoid",
    "Softmax", "Step", "Tanh", "softmax",
]
