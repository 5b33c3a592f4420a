"""Where the pieces are put together: Sequential, gradient checking, training.

>>> import nn
>>> from layers import Affine, ReLU
>>> model = nn.Sequential([Affine(784, 100), ReLU(), Affine(100, 10)])
"""

from layers import Parameter
from nn.gradcheck import GradCheckReport, gradcheck, numerical_gradient
from nn.sequential import Sequential

__all__ = ["GradCheckReport", "Parameter", "Sequential", "gradcheck", "numerical_gradient"]
