"""Losses: ``forward(scores, targets) -> float`` and ``backward(dout=1.0) -> dscores``."""

from losses.base import Loss
from losses.mse import MeanSquaredError
from losses.sigmoid_cross_entropy import SigmoidWithLoss
from losses.softmax_cross_entropy import SoftmaxWithLoss

__all__ = ["Loss", "MeanSquaredError", "SigmoidWithLoss", "SoftmaxWithLoss"]
