"""2-D convolution on ``(N, C, H, W)`` batches, and the im2col/col2im pair it runs on.

``im2col`` turns every kernel-sized window of the padded input into one
column of numbers, so the convolution becomes a matrix product on BLAS.
``col2im`` is its *adjoint*, not its inverse: it sends every window's values
back to the pixels they came from and **sums** where windows overlap, which is
exactly what the gradient needs (``<im2col(x), y> == <x, col2im(y)>``).

Both have two layouts of the same numbers:

* rows (the textbook's): ``(N*OH*OW, C*kh*kw)``, one row per output pixel;
* ``per_sample=True``: ``(N, C*kh*kw, OH*OW)``, one matrix per sample, the
  rows layout transposed sample by sample.  ``Convolution`` uses this one:
  ``W @ col`` then lands directly in ``(N, out_channels, OH*OW)`` order, so
  neither the output nor ``dout`` needs a transposed copy, and col2im reads
  contiguous slices.

Windows come from ``sliding_window_view`` (no copy until the final reshape);
col2im loops over the ``kh*kw`` kernel offsets only, never over samples or pixels.
The small geometry helpers here are shared with ``layers/pooling.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from layers.base import (Init, Layer, Parameter, as_float_dtype, check_array, check_device_matches,
                         check_dtype_matches, check_positive_int, init_std, make_rng)
from layers.device import array_module, is_array, sliding_window_view

Pair = tuple[int, int]


# -- geometry shared by convolution and pooling ----------------------------------

def as_pair(value: Any, name: str, *, allow_zero: bool = False) -> Pair:
    """``3 -> (3, 3)``; ``(3, 5)`` or ``[3, 5]`` kept as ``(3, 5)``; anything else is refused."""
    def is_int(v: Any) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < (0 if allow_zero else 1):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return pair


def compact(pair: Pair) -> int | list[int]:
    """JSON-friendly form for ``config()``: an int when both sides agree."""
    return pair[0] if pair[0] == pair[1] else list(pair)


def show(pair: Pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"


def output_hw(owner: str, in_hw: tuple[int, int], kernel: Pair, stride: Pair, pad: Pair) -> Pair:
    """``(OH, OW)`` of a sliding window; refuses a kernel larger than the padded input."""
    hp, wp = in_hw[0] + 2 * pad[0], in_hw[1] + 2 * pad[1]
    if kernel[0] > hp or kernel[1] > wp:
        raise ValueError(
            f"{owner}: the {kernel[0]}x{kernel[1]} window is larger than the padded input "
            f"{hp}x{wp} (input {in_hw[0]}x{in_hw[1]}, pad {show(pad)})"
        )
    return (hp - kernel[0]) // stride[0] + 1, (wp - kernel[1]) // stride[1] + 1


def pad_images(x: np.ndarray, pad: Pair, value: float = 0.0) -> np.ndarray:
    """``x`` padded on H and W by ``pad`` with ``value``; ``x`` itself when ``pad`` is 0."""
    if pad == (0, 0):
        return x
    return array_module(x).pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])),
                               constant_values=value)


def offset_view(padded: np.ndarray, i: int, j: int, stride: Pair, out_hw: Pair) -> np.ndarray:
    """The ``(N, C, OH, OW)`` view of the pixels at offset ``(i, j)`` of every window."""
    (sh, sw), (oh, ow) = stride, out_hw
    return padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]


def crop(padded: np.ndarray, pad: Pair) -> np.ndarray:
    """Undo ``pad_images``: a contiguous copy of the interior (``padded`` itself when unpadded)."""
    if pad == (0, 0):
        return padded
    ph, pw = pad
    return array_module(padded).ascontiguousarray(
        padded[:, :, ph:padded.shape[2] - ph, pw:padded.shape[3] - pw])


# -- im2col / col2im ------------------------------------------------------------

def _geometry(fn: str, x_shape: tuple[int, ...], kh: int, kw: int, stride: Any,
              pad: Any) -> tuple[Pair, Pair, Pair, Pair]:
    if len(x_shape) != 4:
        raise ValueError(f"{fn}: expected images of shape (N, C, H, W), got {tuple(x_shape)}")
    kernel = as_pair((kh, kw), "kernel size")
    stride, pad = as_pair(stride, "stride"), as_pair(pad, "pad", allow_zero=True)
    return kernel, stride, pad, output_hw(fn, x_shape[2:], kernel, stride, pad)


def im2col(x: np.ndarray, kh: int, kw: int, stride: Any = 1, pad: Any = 0, *,
           per_sample: bool = False) -> np.ndarray:
    """Every ``kh x kw`` window of the zero-padded ``x`` as a row (or column) of numbers.

    Args:
        x: images ``(N, C, H, W)``.
        kh, kw: window height and width.
        stride, pad: an int or an ``(h, w)`` pair.
        per_sample: return ``(N, C*kh*kw, OH*OW)`` instead of ``(N*OH*OW, C*kh*kw)``.

    Returns:
        a new array in ``x``'s dtype; within a window the values run over
        ``(c, i, j)`` in that order, matching ``W.reshape(out_channels, -1)``.

    >>> im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2)
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    if not is_array(x):
        raise TypeError(f"im2col: expected x as a NumPy (or CuPy) array, got {type(x).__name__}")
    kernel, stride, pad, (oh, ow) = _geometry("im2col", x.shape, kh, kw, stride, pad)
    n, c = x.shape[:2]
    windows = sliding_window_view(pad_images(x, pad), kernel, axis=(2, 3))
    windows = windows[:, :, ::stride[0], ::stride[1]]  # (N, C, OH, OW, kh, kw), a view
    if per_sample:
        return windows.transpose(0, 1, 4, 5, 2, 3).reshape(n, c * kernel[0] * kernel[1], oh * ow)
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kernel[0] * kernel[1])


def col2im(col: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, stride: Any = 1,
           pad: Any = 0) -> np.ndarray:
    """The adjoint of ``im2col``: window values summed back onto an ``x_shape`` image.

    Pixels covered by several windows receive the sum of their values; the
    padding border is dropped.  The layout is read from ``col``'s rank: 2-D is
    ``(N*OH*OW, C*kh*kw)``, 3-D is the ``per_sample`` ``(N, C*kh*kw, OH*OW)``.

    >>> col = np.ones((4, 4))                       # 2x2 windows of a 3x3 image
    >>> col2im(col, (1, 1, 3, 3), 2, 2)[0, 0]       # how many windows hold each pixel
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    if not is_array(col):
        raise TypeError(f"col2im: expected col as a NumPy (or CuPy) array, got {type(col).__name__}")
    x_shape = tuple(int(s) for s in x_shape)
    kernel, stride, pad, (oh, ow) = _geometry("col2im", x_shape, kh, kw, stride, pad)
    n, c, h, w = x_shape
    k = c * kernel[0] * kernel[1]
    if col.ndim == 3 and col.shape == (n, k, oh * ow):
        cols = col.reshape(n, c, kernel[0], kernel[1], oh, ow)
    elif col.ndim == 2 and col.shape == (n * oh * ow, k):
        cols = col.reshape(n, oh, ow, c, kernel[0], kernel[1]).transpose(0, 3, 4, 5, 1, 2)
    else:
        raise ValueError(
            f"col2im: for images {x_shape} and a {kernel[0]}x{kernel[1]} window expected col of "
            f"shape ({n * oh * ow}, {k}) or ({n}, {k}, {oh * ow}), got {col.shape}"
        )
    dxp = array_module(col).zeros((n, c, h + 2 * pad[0], w + 2 * pad[1]), dtype=col.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            offset_view(dxp, i, j, stride, (oh, ow))[...] += cols[:, :, i, j]
    return crop(dxp, pad)


# -- the layer ----------------------------------------------------------------

class Convolution(Layer):
    """2-D convolution (cross-correlation, as in every framework): ``out = W * x + b``.

    Args:
        in_channels: channels of the input, ``C``.
        out_channels: number of filters, the output's channels.
        kernel_size: ``k`` or ``(kh, kw)``.
        stride: ``s`` or ``(sh, sw)``.
        pad: zero padding on each side, ``p`` or ``(ph, pw)``.
        init: ``"he"``, ``"xavier"`` or a standard deviation; fan_in is ``C*kh*kw``.
        rng: a ``np.random.Generator`` or an int seed for the initial weights.
        dtype: float32 (default) or float64, for parameters and computation.

    Shape:
        input ``(N, C, H, W)``; output ``(N, out_channels, OH, OW)`` with
        ``OH = (H + 2*ph - kh) // sh + 1`` (likewise ``OW``).
        ``W`` is ``(out_channels, C, kh, kw)``, ``b`` is ``(out_channels,)``.

    >>> conv = Convolution(1, 30, 5, rng=0)
    >>> conv
    Convolution(1 -> 30, 5x5, stride 1, pad 0)
    >>> conv(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape
    (2, 30, 24, 24)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Pair | list[int],
        stride: int | Pair | list[int] = 1,
        pad: int | Pair | list[int] = 0,
        init: Init = "he",
        rng: Any = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels, "out_channels")
        self.kernel_size = as_pair(kernel_size, "kernel_size")
        self.stride = as_pair(stride, "stride")
        self.pad = as_pair(pad, "pad", allow_zero=True)
        self.init = init
        self.dtype = as_float_dtype(dtype)
        kh, kw = self.kernel_size
        std = init_std(init, self.in_channels * kh * kw)
        weights = make_rng(rng).standard_normal((self.out_channels, self.in_channels, kh, kw),
                                                dtype=self.dtype)
        weights *= self.dtype.type(std)
        self.W = Parameter(weights, name="W")
        self.b = Parameter(np.zeros(self.out_channels, dtype=self.dtype), name="b")
        self.col: np.ndarray | None = None  # per-sample im2col of the last input, (N, C*kh*kw, OH*OW)
        self.x_shape: tuple[int, ...] | None = None
        self.out_shape: tuple[int, ...] | None = None

    def describe(self) -> str:
        kh, kw = self.kernel_size
        return (f"Convolution({self.in_channels} -> {self.out_channels}, {kh}x{kw}, "
                f"stride {show(self.stride)}, pad {show(self.pad)})")

    def config(self) -> dict[str, Any]:
        init = self.init if isinstance(self.init, str) else float(self.init)
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": compact(self.kernel_size), "stride": compact(self.stride),
                "pad": compact(self.pad), "init": init, "dtype": self.dtype.name}

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        c_in = check_positive_int(config.get("in_channels"), "in_channels")
        c_out = check_positive_int(config.get("out_channels"), "out_channels")
        return {"W": (c_out, c_in, *as_pair(config.get("kernel_size"), "kernel_size")),
                "b": (c_out,)}

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        self._check_shape(tuple(input_shape))
        oh, ow = output_hw(self.describe(), tuple(input_shape[2:]), self.kernel_size,
                           self.stride, self.pad)
        return (input_shape[0], self.out_channels, oh, ow)

    def _check_shape(self, shape: tuple[int, ...]) -> None:
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ValueError(f"{self.describe()}: expected input of shape "
                             f"(N, {self.in_channels}, H, W), got {shape}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        out_shape = self.output_shape(x.shape)
        check_dtype_matches(self, x, self.dtype)
        check_device_matches(self, x, self.W.data)
        xp = array_module(x)
        col = im2col(x, *self.kernel_size, self.stride, self.pad, per_sample=True)
        out = xp.matmul(self.W.data.reshape(self.out_channels, -1), col)  # (N, OC, OH*OW)
        out += self.b.data[:, None]
        self.col, self.x_shape, self.out_shape = col, x.shape, out_shape
        return out.reshape(out_shape)

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.col is None:
            raise self._missing_forward()
        self._check_dout(dout, self.out_shape, self.dtype)
        n, oc, oh, ow = self.out_shape
        d3 = dout.reshape(n, oc, oh * ow)
        self.b.grad += d3.sum(axis=(0, 2))
        # dW = sum over samples of dout_n @ col_n.T: N small BLAS products, then one sum.
        xp = array_module(dout)
        self.W.grad += xp.matmul(d3, self.col.transpose(0, 2, 1)).sum(axis=0).reshape(self.W.shape)
        if not input_grad:
            return None
        dcol = xp.matmul(self.W.data.reshape(self.out_channels, -1).T, d3)  # (N, C*kh*kw, OH*OW)
        return col2im(dcol, self.x_shape, *self.kernel_size, self.stride, self.pad)
