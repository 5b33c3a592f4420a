"""``Sequential``: layers chained forward, gradients chained back in reverse."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from layers import Layer, Parameter
from layers.device import to_numpy as host
from nn.inputs import as_input, model_dtype


def scores_to_classes(scores: np.ndarray) -> np.ndarray:
    """Class indices from scores: the argmax of each row, or for a single score
    column (a binary classifier on logits) 1 where the score is positive."""
    if scores.ndim == 2 and scores.shape[1] > 1:
        return scores.argmax(axis=1)
    return (scores.reshape(len(scores)) > 0).astype(np.int64)


def layers_in(model: Layer) -> Iterator[tuple[str, Layer]]:
    """``(path, layer)`` for ``model`` itself (path ``""``) and every layer inside it,
    found through its attributes and lists (a ``Sequential``'s ``layers.0``, ...).

    >>> from layers import ReLU
    >>> [path for path, _ in layers_in(Sequential([Sequential([ReLU()])]))]
    ['', 'layers.0', 'layers.0.layers.0']
    """
    seen: set[int] = set()
    stack = [("", model)]
    while stack:
        path, layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield path, layer
        inner = []
        for key, value in vars(layer).items():
            if isinstance(value, Layer):
                inner.append((f"{path}.{key}".lstrip("."), value))
            elif isinstance(value, (list, tuple)):
                inner += [(f"{path}.{key}.{i}".lstrip("."), v) for i, v in enumerate(value)
                          if isinstance(v, Layer)]
        stack += reversed(inner)


class Sequential(Layer):
    """A network that applies its layers in order.

    ``forward`` runs the layers first to last, ``backward`` last to first;
    ``train()`` and ``eval()`` switch every layer's mode (for Dropout and
    BatchNorm) instead of a flag passed through each call.

    Args:
        layers: the layers, as one list or as separate arguments.

    >>> from layers import Affine, ReLU
    >>> model = Sequential([Affine(784, 50, rng=0), ReLU(), Affine(50, 10, rng=1)])
    >>> model.forward(np.zeros((5, 784), dtype=np.float32)).shape
    (5, 10)
    >>> len(model), sum(p.size for p in model.parameters())
    (3, 39760)
    """

    def __init__(self, *layers: Layer | Iterable[Layer]) -> None:
        super().__init__()
        if len(layers) == 1 and not isinstance(layers[0], Layer):
            layers = tuple(layers[0])  # Sequential([a, b, c])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: expected Layer objects, got {type(layer).__name__} "
                                f"at position {i}")
        self.layers: list[Layer] = list(layers)

    # -- the computation -------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout: np.ndarray, *, input_grad: bool = True) -> np.ndarray | None:
        """Backpropagate ``dout`` through every layer in reverse order.

        With ``input_grad=False`` the first layer skips the gradient of the
        network's input (the data), which the trainer never needs.
        """
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            dout = self.layers[i].backward(dout, input_grad=input_grad or i > 0)
        return dout

    def scores(self, x: Any, batch_size: int = 1024, *, to_numpy: bool = False) -> np.ndarray:
        """The network's outputs for ``x`` (scores, before any softmax), in eval mode and in batches.

        ``x`` may hold any real numbers (bool, integers, float16/32/64, or a
        nested list): it is converted to the model's dtype once, so a float32
        model gives float32 scores for float64 data.  Each batch is moved to
        the model's device; the scores stay there unless ``to_numpy=True``.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        x = as_input(x, model_dtype(self), "input")
        device = self.device
        was_training = self.training
        self.eval()
        try:
            parts = [self.forward(device.asarray(x[start:start + batch_size]))
                     for start in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        if not parts:
            out = device.xp.zeros(self.output_shape(x.shape), dtype=x.dtype)
        else:
            out = parts[0] if len(parts) == 1 else device.xp.concatenate(parts)
        return host(out) if to_numpy else out

    def predict(self, x: Any, batch_size: int = 1024, *, to_numpy: bool = False) -> np.ndarray:
        """Class indices for ``x``: the argmax of ``scores(x)`` (converted as ``scores`` says).

        For a single output column (a binary classifier on logits) the class
        is 1 where the score is positive.  On the model's device unless
        ``to_numpy=True``.
        """
        classes = scores_to_classes(self.scores(x, batch_size))
        return host(classes) if to_numpy else classes

    # -- parameters and modes ----------------------------------------------
    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers)
                for name, p in layer.named_parameters()]

    def buffers(self) -> dict[str, np.ndarray]:
        return {f"{i}.{name}": v for i, layer in enumerate(self.layers)
                for name, v in layer.buffers().items()}

    def load_buffers(self, buffers: dict[str, np.ndarray]) -> None:
        for i, layer in enumerate(self.layers):
            prefix = f"{i}."
            own = {k[len(prefix):]: v for k, v in buffers.items() if k.startswith(prefix)}
            if own:
                layer.load_buffers(own)

    def train(self, mode: bool = True) -> "Sequential":
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def astype(self, dtype: Any) -> "Sequential":
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        for layer in self.layers:
            input_shape = layer.output_shape(input_shape)
        return input_shape

    def config(self) -> dict[str, Any]:
        return {"layers": [{"class": type(layer).__name__, "config": layer.config()}
                           for layer in self.layers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        return cls([layer_cls.from_config(layer_config)
                    for layer_cls, layer_config in cls._layer_specs(config)])

    @classmethod
    def parameter_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        return {f"{i}.{name}": shape
                for i, (layer_cls, layer_config) in enumerate(cls._layer_specs(config))
                for name, shape in layer_cls.parameter_shapes(layer_config).items()}

    @staticmethod
    def _layer_specs(config: Any) -> list[tuple[type[Layer], dict[str, Any]]]:
        """``(class, config)`` of every layer in a ``config()``, checked for form."""
        specs = config.get("layers", []) if isinstance(config, dict) else None
        if not isinstance(specs, list):
            raise ValueError(f"Sequential config must be {{'layers': [...]}}, got {config!r:.200}")
        found = []
        for i, spec in enumerate(specs):
            name = spec.get("class") if isinstance(spec, dict) else None
            layer_config = spec.get("config", {}) if isinstance(spec, dict) else None
            if not isinstance(name, str) or name not in Layer.registry:
                raise ValueError(f"layer {i}: unknown layer class {name!r:.100}; known classes "
                                 f"are {sorted(Layer.registry)}")
            if not isinstance(layer_config, dict):
                raise ValueError(f"layer {i} ({name}): config must be a dict, got "
                                 f"{layer_config!r:.100}")
            found.append((Layer.registry[name], layer_config))
        return found

    def save(self, path: Any, optimizer: Any = None, metadata: dict[str, Any] | None = None) -> Any:
        """Write architecture, parameters and buffers (and optimizer state) to one ``.npz``.

        The file is written to a temporary name and renamed into place, so an
        interrupted save never leaves a half-written checkpoint.  See
        ``nn.load_model``.
        """
        from nn.checkpoint import save_model  # checkpoint imports nothing of Sequential's
        return save_model(self, path, optimizer=optimizer, metadata=metadata)

    # -- containers and display --------------------------------------------
    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(self.layers[index])
        return self.layers[index]

    def describe(self) -> str:
        return f"Sequential({len(self.layers)} layers)"

    def __repr__(self) -> str:
        if not self.layers:
            return "Sequential()"
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"

    def input_shape(self) -> tuple[int, ...] | None:
        """Per-sample input shape if the first layer fixes it (``Affine``'s ``in_features``)."""
        first = self.layers[0] if self.layers else None
        return (first.in_features,) if hasattr(first, "in_features") else None

    def summary(self, input_shape: tuple[int, ...] | None = None) -> str:
        """A table of layers, output shapes and parameter counts, with the total.

        Args:
            input_shape: the shape of one sample, e.g. ``(784,)`` or ``(1, 28, 28)``;
                by default taken from the first layer with ``in_features``.
        """
        shape_known = input_shape is not None or self.input_shape() is not None
        shape: tuple[Any, ...] = ("N", *(input_shape or self.input_shape() or ()))
        rows = [("#", "layer", "output shape", "params")]
        total = 0
        for i, layer in enumerate(self.layers):
            count = sum(p.size for p in layer.parameters())
            total += count
            if shape_known:
                try:
                    shape = ("N", *layer.output_shape((1, *shape[1:]))[1:])
                    out = "(" + ", ".join(str(s) for s in shape) + ")"
                except (ValueError, TypeError, IndexError):
                    shape_known, out = False, "?"
            else:
                out = "?"
            rows.append((str(i), repr(layer), out, f"{count:,}"))
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        rule = "-" * (sum(widths) + 6)
        fmt = lambda r: f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:>{widths[3]}}"
        dtypes = sorted({p.dtype.name for p in self.parameters()}) or ["-"]
        lines = [fmt(rows[0]), rule, *(fmt(r) for r in rows[1:]), rule,
                 f"Total parameters: {total:,} ({'/'.join(dtypes)}, "
                 f"{sum(p.data.nbytes for p in self.parameters()) / 1024:,.1f} KiB)"]
        return "\n".join(lines)

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())
