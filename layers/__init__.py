"""Layers: each a ``forward``/``backward`` pair on whole mini-batches."""

from layers.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Step, Tanh, softmax
from layers.base import Layer, Parameter
from layers.conv import Convolution, col2im, im2col
from layers.graph import Add, Mul
from layers.linear import Affine
from layers.normalization import BatchNorm
from layers.pooling import AvgPooling, MaxPooling
from layers.regularization import Dropout
from layers.shape import Flatten

__all__ = [
    "Add", "Affine", "AvgPooling", "BatchNorm", "Convolution", "Dropout", "Flatten", "Layer",
    "LeakyReLU", "MaxPooling", "Mul", "Parameter", "ReLU", "Sigmoid", "Softmax", "Step", "Tanh",
    "col2im", "im2col", "softmax",
]
