"""Max and average pooling over ``(N, C, H, W)`` batches, each channel on its own.

Both loop over the ``kh*kw`` offsets inside a window and work on the strided
``(N, C, OH, OW)`` view of every window's pixel at that offset: for 2x2
pooling that is four whole-array ``np.maximum`` (or add) calls.  This was
measured faster than gathering the windows (im2col-style) and reducing over
a short last axis, and is as fast as a reshape-based path for the common
``stride == pool_size`` case, so there is no separate fast path.  Padding
follows PyTorch: max pooling pads with -inf (a pad never wins), average
pooling with zeros that count in the mean; a pad may be at most half the
window, so every window holds at least one real pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layers.base import Layer, check_array
from layers.device import array_module
from layers.conv import Pair, as_pair, compact, crop, offset_view, output_hw, pad_images, show


class Pooling(Layer):
    """Shared geometry, checks and messages of ``MaxPooling`` and ``AvgPooling``."""

    def __init__(self, pool_size: int | Pair | list[int] = 2,
                 stride: int | Pair | list[int] | None = None,
                 pad: int | Pair | list[int] = 0) -> None:
        super().__init__()
        self.pool_size = as_pair(pool_size, "pool_size")
        self.stride = self.pool_size if stride is None else as_pair(stride, "stride")
        self.pad = as_pair(pad, "pad", allow_zero=True)
        if self.pad[0] > self.pool_size[0] // 2 or self.pad[1] > self.pool_size[1] // 2:
            raise ValueError(f"{type(self).__name__}: pad must be at most half the pool size "
                             f"{show(self.pool_size)}, got pad {show(self.pad)}")
        self.x_shape: tuple[int, ...] | None = None  # input shape of the last forward
        self.in_dtype: np.dtype | None = None       # and its dtype
        self.out_hw: Pair | None = None

    def describe(self) -> str:
        kh, kw = self.pool_size
        return (f"{type(self).__name__}({kh}x{kw}, stride {show(self.stride)}, "
                f"pad {show(self.pad)})")

    def config(self) -> dict[str, Any]:
        return {"pool_size": compact(self.pool_size), "stride": compact(self.stride),
                "pad": compact(self.pad)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != 4:
            raise ValueError(f"{self.describe()}: expected input of shape (N, C, H, W), "
                             f"got {tuple(input_shape)}")
        oh, ow = output_hw(self.describe(), tuple(input_shape[2:]), self.pool_size,
                           self.stride, self.pad)
        return (*input_shape[:2], oh, ow)

    @property
    def overlapping(self) -> bool:
        return self.stride[0] < self.pool_size[0] or self.stride[1] < self.pool_size[1]

    def offsets(self) -> list[tuple[int, int]]:
        """Window offsets in row-major order: (0, 0), (0, 1), ... (kh-1, kw-1)."""
        return [(i, j) for i in range(self.pool_size[0]) for j in range(self.pool_size[1])]

    def _start_forward(self, x: np.ndarray) -> Pair:
        check_array(self, x)
        out_hw = self.output_shape(x.shape)[2:]
        self.x_shape, self.in_dtype, self.out_hw = x.shape, x.dtype, out_hw
        return out_hw

    def _start_backward(self, dout: np.ndarray) -> None:
        if self.x_shape is None:
            raise self._missing_forward()
        self._check_dout(dout, (*self.x_shape[:2], *self.out_hw), self.in_dtype)


class MaxPooling(Pooling):
    """The largest value of each window, per channel.

    Ties: the gradient goes to one maximum only, the first in row-major order
    within the window (top row first, then leftmost), as in PyTorch.

    Args:
        pool_size: window ``k`` or ``(kh, kw)``.
        stride: ``s`` or ``(sh, sw)``; ``None`` (default) means ``pool_size``.
        pad: -inf padding on each side, at most half the window.

    Shape:
        input ``(N, C, H, W)``; output ``(N, C, OH, OW)``, ``OH = (H + 2*ph - kh) // sh + 1``.

    >>> pool = MaxPooling(2)
    >>> pool(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """

    def __init__(self, pool_size: int | Pair | list[int] = 2,
                 stride: int | Pair | list[int] | None = None,
                 pad: int | Pair | list[int] = 0) -> None:
        super().__init__(pool_size, stride, pad)
        self.padded: np.ndarray | None = None  # the (padded) input of the last forward
        self.out: np.ndarray | None = None  # its window maxima

    def forward(self, x: np.ndarray) -> np.ndarray:
        out_hw = self._start_forward(x)
        xp = array_module(x)
        padded = pad_images(x, self.pad, -np.inf)
        out = None
        for i, j in self.offsets():
            view = offset_view(padded, i, j, self.stride, out_hw)
            if out is None:
                out = view.copy()
            else:
                xp.maximum(out, view, out=out)
        self.padded, self.out = padded, out
        return out

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        self._start_backward(dout)
        if not input_grad:
            return None
        xp = array_module(dout)
        dxp = xp.zeros(self.padded.shape, dtype=dout.dtype)
        # Scan the offsets in row-major order; a window's gradient goes to the
        # first offset holding its maximum, then the window is no longer open.
        first = xp.empty(self.out.shape, dtype=bool)
        still_open: np.ndarray | None = None
        offsets = self.offsets()
        for k, (i, j) in enumerate(offsets):
            xp.equal(offset_view(self.padded, i, j, self.stride, self.out_hw), self.out, out=first)
            if still_open is None:
                still_open = ~first
            else:
                first &= still_open
                if k < len(offsets) - 1:
                    still_open ^= first  # first is a subset of still_open: this removes it
            target = offset_view(dxp, i, j, self.stride, self.out_hw)
            if self.overlapping:
                target += dout * first
            else:
                xp.multiply(dout, first, out=target)
        return crop(dxp, self.pad)


class AvgPooling(Pooling):
    """The mean of each window, per channel; zero padding counts in the mean.

    Args:
        pool_size: window ``k`` or ``(kh, kw)``.
        stride: ``s`` or ``(sh, sw)``; ``None`` (default) means ``pool_size``.
        pad: zero padding on each side, at most half the window.

    Shape:
        input ``(N, C, H, W)``; output ``(N, C, OH, OW)``, ``OH = (H + 2*ph - kh) // sh + 1``.

    >>> AvgPooling(2)(np.arange(16.0).reshape(1, 1, 4, 4))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        out_hw = self._start_forward(x)
        padded = pad_images(x, self.pad)
        out = None
        for i, j in self.offsets():
            view = offset_view(padded, i, j, self.stride, out_hw)
            if out is None:
                out = view.copy()
            else:
                out += view
        out *= x.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        return out

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        self._start_backward(dout)
        if not input_grad:
            return None
        share = dout * dout.dtype.type(1.0 / (self.pool_size[0] * self.pool_size[1]))
        n, c, h, w = self.x_shape
        dxp = array_module(dout).zeros((n, c, h + 2 * self.pad[0], w + 2 * self.pad[1]),
                                       dtype=dout.dtype)
        for i, j in self.offsets():
            target = offset_view(dxp, i, j, self.stride, self.out_hw)
            if self.overlapping:
                target += share
            else:
                target[...] = share
        return crop(dxp, self.pad)
