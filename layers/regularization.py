"""Dropout: randomly silenced units in training, the identity at inference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from layers.base import Layer, check_array, make_rng
from layers.device import device_of, is_array


class Dropout(Layer):
    """Inverted dropout: keep each unit with probability ``1 - p`` and scale it by ``1 / (1 - p)``.

    The scaling happens in training, so the expected output equals the input
    and eval mode is exactly the identity (the textbook's version instead
    multiplies by ``1 - p`` at inference).  The mask is drawn from a seeded
    ``np.random.Generator`` in the input's dtype.

    Fixing the mask, for gradient checks: ``freeze_mask()`` keeps the mask of
    the last train-mode forward (or ``freeze_mask(keep)`` takes a boolean
    ``keep`` array) and every later train-mode forward reuses it instead of
    drawing a new one, until ``unfreeze_mask()``.  The frozen mask survives
    ``copy.deepcopy``, so ``gradcheck(layer.freeze_mask(), x)`` works.

    Args:
        p: probability of dropping a unit, in [0, 1).
        rng: a ``np.random.Generator``, an int seed or None for the masks.

    Shape:
        any; the output has the input's shape.

    >>> drop = Dropout(0.5, rng=0)
    >>> out = drop(np.ones((2, 4), dtype=np.float32))
    >>> sorted(set(out.ravel().tolist()))       # dropped, or kept and doubled
    [0.0, 2.0]
    >>> drop.eval()(np.ones((1, 3), dtype=np.float32))
    array([[1., 1., 1.]], dtype=float32)
    """

    def __init__(self, p: float = 0.5, rng: Any = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p) \
                or not 0 <= p < 1:
            raise ValueError(f"Dropout p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = make_rng(rng)
        self.frozen_keep: np.ndarray | None = None  # set by freeze_mask(): reused by forward
        self.mask: np.ndarray | None = None   # last train forward: 0 or 1/(1-p), input dtype
        self.x_shape: tuple[int, ...] | None = None
        self.in_dtype: np.dtype | None = None

    def describe(self) -> str:
        return f"Dropout(p={self.p:g})"

    def config(self) -> dict[str, Any]:
        return {"p": self.p}

    # -- fixing the mask ----------------------------------------------------
    def freeze_mask(self, keep: np.ndarray | None = None) -> "Dropout":
        """Reuse one mask in every train-mode forward from now on; returns ``self``.

        Args:
            keep: boolean array, True for the units to keep; by default the
                mask of the last train-mode forward.
        """
        if keep is None:
            if self.mask is None:
                raise RuntimeError(f"{self.describe()}: freeze_mask() has no mask to keep yet; "
                                   "run a train-mode forward first or pass keep=")
            keep = self.mask != 0
        elif not is_array(keep) or keep.dtype != np.bool_:
            raise TypeError(f"{self.describe()}: freeze_mask expected keep as a boolean NumPy "
                            f"(or CuPy) array, got {getattr(keep, 'dtype', type(keep).__name__)}")
        self.frozen_keep = keep.copy()
        return self

    def unfreeze_mask(self) -> "Dropout":
        """Draw a fresh mask in every train-mode forward again; returns ``self``."""
        self.frozen_keep = None
        return self

    @property
    def mask_frozen(self) -> bool:
        return self.frozen_keep is not None

    # -- the computation ----------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array(self, x)
        self.x_shape, self.in_dtype = x.shape, x.dtype
        if not self.training:
            self.mask = None
            return x.copy()
        if self.frozen_keep is not None:
            if self.frozen_keep.shape != x.shape:
                raise ValueError(f"{self.describe()}: the frozen mask has shape "
                                 f"{self.frozen_keep.shape}, got input of shape {x.shape}; "
                                 "call unfreeze_mask() to draw masks again")
            keep = self.frozen_keep = device_of(x).asarray(self.frozen_keep)
        else:
            # Drawn on the CPU from the layer's own generator, then moved: the same
            # seed gives the same masks on every device.
            keep = device_of(x).asarray(self.rng.random(x.shape, dtype=x.dtype) >= x.dtype.type(self.p))
        self.mask = keep * x.dtype.type(1 / (1 - self.p))  # bool * scalar keeps x's dtype
        return x * self.mask

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        if self.x_shape is None:
            raise self._missing_forward()
        self._check_dout(dout, self.x_shape, self.in_dtype)
        if not input_grad:
            return None
        return dout.copy() if self.mask is None else dout * self.mask
