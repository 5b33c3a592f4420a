"""Checkpoints: one ``.npz`` file with the architecture as JSON and every array.

The file holds a JSON header (format name, version, the model's class and
config, parameter and buffer names, optional optimizer state and metadata) and
the arrays under ``param/<name>``, ``buffer/<name>`` and ``optim/<path>``.  It
is loaded with ``allow_pickle=False``: a checkpoint can never run code.
Writing goes to a temporary file in the same directory that is renamed over
the target only when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from layers import Layer
from layers.device import to_numpy

FORMAT = "nn-from-scratch checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a checkpoint of ours, or does not fit the model."""


def atomic_write(path: str | os.PathLike, write: Any) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _split_arrays(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Replace every array in a nested dict/list by a reference to an npz entry."""
    if isinstance(obj, np.ndarray):
        arrays[prefix] = obj
        return {"__array__": prefix}
    if isinstance(obj, dict):
        return {str(k): _split_arrays(v, f"{prefix}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split_arrays(v, f"{prefix}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join_arrays(obj: Any, archive: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return archive[obj["__array__"]]
        return {k: _join_arrays(v, archive) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, archive) for v in obj]
    return obj


def save_model(model: Layer, path: str | os.PathLike, *, optimizer: Any = None,
               metadata: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (and, if given, ``optimizer``'s state) to ``path`` atomically.

    Args:
        model: a ``Sequential`` or any registered layer.
        path: the ``.npz`` file to write (NumPy adds nothing: the name is kept).
        optimizer: an optimizer whose ``state_dict()`` is stored too.
        metadata: JSON-serialisable extras, e.g. the training command.

    Returns:
        the path written.
    """
    arrays: dict[str, np.ndarray] = {}
    params = model.named_parameters()
    buffers = model.buffers()
    for name, p in params:  # always as NumPy: a checkpoint loads onto any device
        arrays[f"param/{name}"] = to_numpy(p.data)
    for name, value in buffers.items():
        arrays[f"buffer/{name}"] = to_numpy(value)
    header = {
        "format": FORMAT,
        "version": VERSION,
        "class": type(model).__name__,
        "config": model.config(),
        "training": model.training,
        "parameters": [name for name, _ in params],
        "buffers": list(buffers),
        "optimizer": None if optimizer is None else _split_arrays(optimizer.state_dict(), "optim", arrays),
        "metadata": metadata or {},
    }
    arrays["header"] = np.array(json.dumps(header))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


def _open(path: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{path}: not a checkpoint saved by model.save() "
                              f"(cannot read it as .npz: {exc})") from None
    if not hasattr(archive, "files") or "header" not in archive.files:
        raise CheckpointError(f"{path}: not a checkpoint saved by model.save() (no header entry)")
    try:
        header = json.loads(str(archive["header"]))
    except (ValueError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: checkpoint header is damaged ({exc})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a checkpoint saved by model.save() "
                              f"(format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {header.get('version')} is not "
                              f"supported (this version reads {VERSION})")
    return archive, header


def _load_arrays(model: Layer, archive: Any, header: dict[str, Any], path: Path) -> None:
    """Copy parameters and buffers into ``model`` after checking every name and shape."""
    expected = [name for name, _ in model.named_parameters()]
    if header["parameters"] != expected:
        raise CheckpointError(f"{path}: the checkpoint's parameters {header['parameters']} do "
                              f"not match the model's {expected} (a different architecture)")
    missing = [n for n in expected if f"param/{n}" not in archive.files]
    missing += [n for n in header["buffers"] if f"buffer/{n}" not in archive.files]
    if missing:
        raise CheckpointError(f"{path}: arrays missing from the checkpoint: {missing}")
    values = {}
    for name, p in model.named_parameters():
        try:
            value = archive[f"param/{name}"]
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"{path}: array {name!r} is damaged ({exc})") from None
        if value.shape != p.shape:
            raise CheckpointError(f"{path}: parameter {name!r} has shape {value.shape} in the "
                                  f"checkpoint, the model expects {p.shape}")
        values[name] = value
    buffers = {n: archive[f"buffer/{n}"] for n in header["buffers"]}
    for name, p in model.named_parameters():
        p.data[...] = p.device.asarray(values[name])
        p.zero_grad()
    if buffers:
        model.load_buffers(buffers)


def load_model(path: str | os.PathLike, device: str = "cpu") -> Layer:
    """Rebuild the model saved at ``path``, with its weights, buffers and mode, on ``device``.

    Args:
        path: a file written by ``model.save(path)`` (on any device).
        device: where the model lives: "cpu" (default) or "gpu".

    Raises:
        CheckpointError: the file is not ours, is damaged, or does not match.

    >>> # model.save("mlp.npz"); model = nn.load_model("mlp.npz")
    """
    archive, header = _open(path)
    with archive:
        cls_name = header.get("class")
        if cls_name not in Layer.registry:
            raise CheckpointError(f"{path}: unknown model class {cls_name!r}")
        try:
            model = Layer.registry[cls_name].from_config(header["config"])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: cannot rebuild the architecture: {exc}") from None
        _load_arrays(model, archive, header, Path(path))
        model.train(header.get("training", False))
    return model.to(device)


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` dict saved with the model at ``path`` (empty if none was given).

    ``python -m nn train --save`` records ``dataset``, ``test_accuracy``,
    ``epochs``, ``command``, ``date``, ``version`` and the per-epoch ``history``.

    Raises:
        CheckpointError: the file is not ours or is damaged.
    """
    archive, header = _open(path)
    archive.close()
    return dict(header.get("metadata") or {})


def load_weights(model: Layer, path: str | os.PathLike, optimizer: Any = None) -> Layer:
    """Load the weights saved at ``path`` into an existing ``model`` of the same architecture."""
    archive, header = _open(path)
    with archive:
        if header.get("class") != type(model).__name__ or header.get("config") != model.config():
            raise CheckpointError(f"{Path(path)}: the checkpoint holds a different architecture "
                                  f"({header.get('class')} {header.get('config')}) than the model "
                                  f"({type(model).__name__} {model.config()})")
        _load_arrays(model, archive, header, Path(path))
        if optimizer is not None:
            _load_optimizer(optimizer, archive, header, Path(path))
    return model


def load_optimizer_state(optimizer: Any, path: str | os.PathLike) -> Any:
    """Restore the optimizer state saved with ``model.save(path, optimizer=...)``.

    Build the optimizer on the loaded model's parameters first:
    ``opt = Adam(model.parameters()); load_optimizer_state(opt, path)``.
    """
    archive, header = _open(path)
    with archive:
        _load_optimizer(optimizer, archive, header, Path(path))
    return optimizer


def _load_optimizer(optimizer: Any, archive: Any, header: dict[str, Any], path: Path) -> None:
    if header.get("optimizer") is None:
        raise CheckpointError(f"{path}: the checkpoint holds no optimizer state "
                              "(save it with model.save(path, optimizer=...))")
    optimizer.load_state_dict(_join_arrays(header["optimizer"], archive))
