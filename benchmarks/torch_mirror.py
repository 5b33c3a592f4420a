"""The same network in PyTorch: a ``torch.nn.Sequential`` with our model's layers and weights.

The benchmarks compare like with like: the same architecture, the same
initial weights, the same dtype.  ``mirror(model)`` builds PyTorch's
version of one of our ``Sequential`` models (Affine, Convolution, pooling,
activations, Flatten, Dropout); ``Runner`` trains it the way a competent
PyTorch user writes the loop: batches gathered with ``index_select`` from
data already on the device, ``zero_grad(set_to_none=True)``, and Adam with
``fused=True`` where the device has it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import layers
from layers.device import to_numpy


def mirror(model: Any, device: str = "cpu") -> Any:
    """A ``torch.nn.Sequential`` equal to ``model`` (same layers, same weights) on ``device``."""
    import torch
    nn = torch.nn
    mods = []
    for layer in model.layers:
        if isinstance(layer, layers.Affine):
            m = nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(to_numpy(layer.W.data).T.copy()))
                m.bias.copy_(torch.from_numpy(to_numpy(layer.b.data)))
        elif isinstance(layer, layers.Convolution):
            m = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                          stride=layer.stride, padding=layer.pad)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(to_numpy(layer.W.data)))
                m.bias.copy_(torch.from_numpy(to_numpy(layer.b.data)))
        elif isinstance(layer, layers.MaxPooling):
            m = nn.MaxPool2d(layer.pool_size, stride=layer.stride, padding=layer.pad)
        elif isinstance(layer, layers.AvgPooling):
            m = nn.AvgPool2d(layer.pool_size, stride=layer.stride, padding=layer.pad)
        elif isinstance(layer, layers.Dropout):
            m = nn.Dropout(layer.p)
        else:
            simple = {layers.ReLU: nn.ReLU, layers.Sigmoid: nn.Sigmoid, layers.Tanh: nn.Tanh,
                      layers.Flatten: nn.Flatten}
            if type(layer) not in simple:
                raise TypeError(f"no PyTorch mirror for {layer!r}")
            m = simple[type(layer)]()
        mods.append(m)
    dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        model.parameters()[0].dtype]
    return nn.Sequential(*mods).to(device=device, dtype=dtype)


class Runner:
    """Trains a mirrored model one epoch at a time on data that lives on its device."""

    def __init__(self, model: Any, optimizer: str, lr: float, batch: int, device: str = "cpu") -> None:
        import torch
        self.torch, self.device, self.batch = torch, device, batch
        self.model = mirror(model, device)
        self.loss = torch.nn.CrossEntropyLoss()
        params = self.model.parameters()
        if optimizer == "adam":
            # fused=True is PyTorch's fastest Adam (one kernel or one loop for every tensor).
            self.opt = torch.optim.Adam(params, lr=lr, fused=True)
        else:
            self.opt = torch.optim.SGD(params, lr=lr)
        self.gen = torch.Generator(device=device).manual_seed(0)

    def data(self, x: np.ndarray, t: np.ndarray) -> tuple[Any, Any]:
        """``(x, t)`` as tensors on this runner's device."""
        torch = self.torch
        return torch.from_numpy(x).to(self.device), torch.from_numpy(t).to(self.device)

    def run_epoch(self, x: Any, t: Any) -> None:
        torch = self.torch
        n = len(x)
        order = torch.randperm(n, generator=self.gen, device=self.device)
        for i in range(0, n, self.batch):
            idx = order[i:i + self.batch]
            xb, tb = x.index_select(0, idx), t.index_select(0, idx)
            loss = self.loss(self.model(xb), tb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
