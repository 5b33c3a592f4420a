"""Checkpoints: one ``.npz`` file with the architecture as JSON and every array.

The file is a zip of ``.npy`` members (NumPy's ``.npz``).  ``header`` holds one
JSON object:

* ``format``, ``version``: ``"nn-from-scratch checkpoint"``, 1;
* ``class``, ``config``: the model's class name and ``config()``;
* ``training``: the model's mode; ``parameters``, ``buffers``: array names;
* ``optimizer``: the optimizer's ``state_dict()`` or null;
* ``metadata``: a JSON object of the caller's choosing (``python -m nn train
  --save`` stores ``dataset``, ``test_accuracy``, ``epochs``, ``command``,
  ``history`` and ``train_args`` there); read it with ``load_metadata``;
* ``resume``: what ``Trainer.fit(checkpoint=...)`` needs to continue a run
  (schedule, random generators, history), or absent.

Arrays are stored under ``param/<name>``, ``buffer/<name>``, ``optim/<path>``
and ``resume/<path>``; JSON refers to them as ``{"__array__": "<member>"}``.

Loading trusts nothing in the file: it is read with zipfile and NumPy's
``.npy`` header parser, never with pickle, so a checkpoint can never run code;
the JSON must have the form above; the shapes the config implies are compared
with the shapes the file stores before the model is built, so a config cannot
make the loader allocate more than the file holds; every array must have its
parameter's dtype and shape and hold only finite values.  Every failure is a
``CheckpointError`` naming the file and the field.

Writing goes to a temporary file in the same directory that is renamed over
the target only when complete (see ``datasets.files.StagedFile``).
"""

from __future__ import annotations

import json
import lzma
import math
import os
import struct
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from datasets.files import StagedFile, check_writable
from layers import Layer
from layers.device import to_numpy

__all__ = ["CheckpointError", "atomic_write", "check_writable", "load_metadata", "load_model",
           "load_optimizer_state", "load_weights", "save_model"]

FORMAT = "nn-from-scratch checkpoint"
VERSION = 1
#: the JSON header holds names, configs and a history: far below this
MAX_HEADER_BYTES = 64 << 20
_MAX_DEPTH = 64  # JSON nesting; a Sequential's config is 5 levels deep

# What zipfile, zlib/lzma/bz2 and NumPy's .npy parser raise on damaged bytes.
# (NumPy parses a .npy header with the tokenize module: TokenError.)
_READ_ERRORS = (OSError, EOFError, ValueError, TypeError, SyntaxError, KeyError, struct.error,
                zlib.error, lzma.LZMAError, zipfile.BadZipFile, NotImplementedError, RuntimeError,
                OverflowError, tokenize.TokenError)


class CheckpointError(ValueError):
    """A file that is not a checkpoint of ours, is damaged, or does not fit the model."""


def atomic_write(path: str | os.PathLike, write: Any) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place.

    The folder is created if needed; a symbolic link at ``path`` is written
    through; the new file follows the umask (or keeps the mode of the file it
    replaces); temporaries of earlier writers of ``path`` that were killed
    are removed.
    """
    path = Path(path)
    Path(os.path.realpath(path)).parent.mkdir(parents=True, exist_ok=True)
    staged = StagedFile(path, ".tmp")
    try:
        with os.fdopen(staged.fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        staged.commit()
    finally:
        staged.discard()
    return path


# -- writing -----------------------------------------------------------------------------

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


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"checkpoint metadata must be JSON-serialisable, got {type(value).__name__}")


def save_model(model: Layer, path: str | os.PathLike, *, optimizer: Any = None,
               metadata: dict[str, Any] | None = None,
               resume: dict[str, Any] | None = None) -> Path:
    """Save ``model`` (and, if given, ``optimizer``'s state) to ``path`` atomically.

    Args:
        model: a ``Sequential`` or any registered layer.
        path: the ``.npz`` file to write (NumPy adds nothing: the name is kept).
        optimizer: an optimizer whose ``state_dict()`` is stored too.
        metadata: JSON-serialisable extras, e.g. the training command.
        resume: the state ``Trainer.fit`` keeps to continue a run (arrays allowed).

    Returns:
        the path written.
    """
    if metadata is not None and not isinstance(metadata, dict):
        raise TypeError(f"metadata must be a dict, got {type(metadata).__name__}")
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
    if resume is not None:
        header["resume"] = _split_arrays(resume, "resume", arrays)
    arrays["header"] = np.array(json.dumps(header, default=_json_scalar))
    return atomic_write(path, lambda f: np.savez(f, **arrays))


# -- reading -----------------------------------------------------------------------------

def _depth(obj: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if level > _MAX_DEPTH:
            break
        if isinstance(value, dict):
            stack += [(v, level + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, level + 1) for v in value]
    return deepest


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(n, str) for n in value) \
        and len(set(value)) == len(value)


class _Checkpoint:
    """An open checkpoint: its validated header, and its arrays read one at a time."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no checkpoint at {self.path}")
        try:
            self.zip = zipfile.ZipFile(self.path)
        except _READ_ERRORS as exc:
            raise self.error(f"not a checkpoint saved by model.save() (cannot read it as .npz: "
                             f"{exc})") from None
        try:
            self.members = {info.filename[:-4]: info for info in self.zip.infolist()
                            if info.filename.endswith(".npy")}
            self.header = self._read_header()
        except BaseException:
            self.zip.close()
            raise

    def __enter__(self) -> "_Checkpoint":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.zip.close()

    def error(self, message: str) -> CheckpointError:
        # Text from the file may hold newlines or terminal escapes: shown escaped, on one line.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        return CheckpointError(f"{self.path}: {shown}")

    def _read_header(self) -> dict[str, Any]:
        if "header" not in self.members:
            raise self.error("not a checkpoint saved by model.save() (no header entry)")
        text = self.array("header", "the header", kind="U", shape=(), max_bytes=MAX_HEADER_BYTES)
        try:
            header = json.loads(str(text[()]))
        except (ValueError, RecursionError) as exc:
            raise self.error(f"checkpoint header is damaged ({type(exc).__name__}: {exc})") from None
        if not isinstance(header, dict):
            raise self.error(f"checkpoint header is a JSON {type(header).__name__}, expected an "
                             "object; not a checkpoint saved by model.save()")
        if header.get("format") != FORMAT:
            raise self.error(f"not a checkpoint saved by model.save() "
                             f"(format {header.get('format')!r:.100})")
        if header.get("version") != VERSION:
            raise self.error(f"checkpoint version {header.get('version')!r:.100} is not "
                             f"supported (this version reads {VERSION})")
        if _depth(header) > _MAX_DEPTH:
            raise self.error(f"checkpoint header is nested more than {_MAX_DEPTH} levels deep")
        expected = {"class": (str, "a class name"), "config": (dict, "an object"),
                    "parameters": (list, "a list of names"), "buffers": (list, "a list of names"),
                    "training": (bool, "true or false"), "optimizer": ((dict, type(None)), "an object or null"),
                    "metadata": (dict, "an object"), "resume": ((dict, type(None)), "an object or null")}
        header.setdefault("training", False)
        header.setdefault("optimizer", None)
        header.setdefault("metadata", {})
        header.setdefault("resume", None)
        for key, (types, form) in expected.items():
            if key not in header:
                raise self.error(f"checkpoint header has no {key!r} field")
            if not isinstance(header[key], types) or (key in ("parameters", "buffers")
                                                       and not _names(header[key])):
                raise self.error(f"checkpoint header field {key!r} must be {form}, got "
                                 f"{header[key]!r:.100}")
        return header

    def array(self, name: str, what: str, *, kind: str = "f", dtype: np.dtype | None = None,
              shape: tuple[int, ...] | None = None, max_bytes: int | None = None) -> np.ndarray:
        """Read member ``name``, checking its claims before reading its data.

        ``kind`` is the NumPy dtype kind required (``"f"``: real floating point,
        then also finite); ``dtype`` and ``shape``, when given, must match exactly.
        """
        info = self.members.get(name)
        if info is None:
            raise self.error(f"{what} is missing (no array {name!r})")
        try:
            with self.zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    found_shape, fortran, found = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    found_shape, fortran, found = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f".npy format version {version} is not supported")
                if found.hasobject or found.kind != kind \
                        or (dtype is not None and found.newbyteorder("=") != dtype) \
                        or (kind == "f" and found.itemsize not in (4, 8)):
                    want = dtype if dtype is not None else {"f": "float32 or float64", "U": "text"}[kind]
                    raise self.error(f"{what} must be {want}, the file holds {found}")
                if shape is not None and tuple(found_shape) != tuple(shape):
                    raise self.error(f"{what} has shape {tuple(found_shape)} in the checkpoint, "
                                     f"expected {tuple(shape)}")
                nbytes = math.prod(found_shape) * found.itemsize
                limit = info.file_size if max_bytes is None else min(info.file_size, max_bytes)
                if nbytes > limit:
                    raise self.error(f"{what} claims {nbytes:,} bytes ({found} {tuple(found_shape)}) "
                                     f"but its entry holds at most {limit:,}")
                data = f.read(nbytes + 1)  # reading to the end makes zipfile check the CRC
        except CheckpointError:
            raise
        except _READ_ERRORS as exc:
            raise self.error(f"{what} is damaged ({type(exc).__name__}: {exc})") from None
        if len(data) != nbytes:
            raise self.error(f"{what} is damaged: {len(data)} data bytes, expected {nbytes}")
        value = np.ndarray(found_shape, found, buffer=data, order="F" if fortran else "C")
        value = value.astype(found.newbyteorder("="))  # a writable, native-order copy
        if kind == "f" and not np.isfinite(value).all():
            bad = np.flatnonzero(~np.isfinite(value))
            raise self.error(f"{what} holds {bad.size} non-finite value(s) (first "
                             f"{value.flat[bad[0]]} at flat index {bad[0]})")
        return value

    def join_arrays(self, obj: Any, what: str, prefix: str) -> Any:
        """``obj`` with every ``{"__array__": member}`` replaced by that array, read and checked."""
        if isinstance(obj, dict):
            if set(obj) == {"__array__"}:
                name = obj["__array__"]
                if not isinstance(name, str) or not name.startswith(prefix + "/"):
                    raise self.error(f"{what}: bad array reference {name!r:.100}")
                return self.array(name, f"{what} array {name!r}")
            return {k: self.join_arrays(v, what, prefix) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.join_arrays(v, what, prefix) for v in obj]
        return obj

    # -- the model -----------------------------------------------------------------------
    def build(self) -> Layer:
        """The model the header describes, with its weights, buffers and mode."""
        header = self.header
        cls_name = header["class"]
        if cls_name not in Layer.registry:
            raise self.error(f"unknown model class {cls_name!r:.100}")
        cls = Layer.registry[cls_name]
        try:
            shapes = cls.parameter_shapes(header["config"])
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise self.error(f"cannot rebuild the architecture: {exc}") from None
        stored = header["parameters"] + header["buffers"]
        if sorted(stored) != sorted(shapes) or len(stored) != len(shapes):
            raise self.error(f"the checkpoint stores parameters and buffers {stored} but its "
                             f"config ({cls_name}) has {sorted(shapes)}")
        # Every array's shape is checked before the model allocates its own.
        values = {name: self.array(f"param/{name}", f"parameter {name!r}", shape=shapes[name])
                  for name in header["parameters"]}
        buffers = {name: self.array(f"buffer/{name}", f"buffer {name!r}", shape=shapes[name])
                   for name in header["buffers"]}
        try:
            model = cls.from_config(header["config"])
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise self.error(f"cannot rebuild the architecture: {exc}") from None
        self._fill(model, values, buffers)
        model.train(header["training"])
        return model

    def load_into(self, model: Layer) -> None:
        """Copy the stored weights and buffers into ``model``, checking every name and shape."""
        header = self.header
        expected = [name for name, _ in model.named_parameters()]
        if header["parameters"] != expected:
            raise self.error(f"the checkpoint's parameters {header['parameters']} do not match "
                             f"the model's {expected} (a different architecture)")
        own = model.buffers()
        if sorted(header["buffers"]) != sorted(own):
            raise self.error(f"the checkpoint's buffers {header['buffers']} do not match the "
                             f"model's {list(own)} (a different architecture)")
        params = dict(model.named_parameters())
        values = {name: self.array(f"param/{name}", f"parameter {name!r}", shape=params[name].shape)
                  for name in expected}
        buffers = {name: self.array(f"buffer/{name}", f"buffer {name!r}", shape=own[name].shape)
                   for name in own}
        self._fill(model, values, buffers)

    def _fill(self, model: Layer, values: dict[str, np.ndarray],
              buffers: dict[str, np.ndarray]) -> None:
        params = model.named_parameters()
        if [name for name, _ in params] != list(values):
            raise self.error(f"the checkpoint's parameters {list(values)} do not match the "
                             f"model's {[name for name, _ in params]} (a different architecture)")
        own = model.buffers()
        for name, p in params:  # checked before anything is changed
            self._check_fits(f"parameter {name!r}", values[name], p.data)
        for name, value in buffers.items():
            self._check_fits(f"buffer {name!r}", value, own[name])
        for name, p in params:
            p.data[...] = p.device.asarray(values[name])
            p.zero_grad()
        if buffers:
            model.load_buffers(buffers)

    def _check_fits(self, what: str, value: np.ndarray, target: np.ndarray) -> None:
        if value.shape != target.shape:
            raise self.error(f"{what} has shape {value.shape} in the checkpoint, the model "
                             f"expects {target.shape}")
        if value.dtype != target.dtype:
            raise self.error(f"{what} is {value.dtype} in the checkpoint, the model's is "
                             f"{target.dtype} (no silent conversion)")

    def load_optimizer(self, optimizer: Any) -> None:
        state = self.header["optimizer"]
        if state is None:
            raise self.error("the checkpoint holds no optimizer state "
                             "(save it with model.save(path, optimizer=...))")
        state = self.join_arrays(state, "optimizer state", "optim")
        keys = set(getattr(optimizer, "state_keys", ()))
        for i, entry in enumerate(state.get("state") if isinstance(state.get("state"), list) else []):
            # all of the optimizer's arrays or none (before its first step): a part would fail later
            if isinstance(entry, dict) and entry and set(entry) != keys:
                raise self.error(f"optimizer state of parameter {i} holds {sorted(entry)!r:.100}, "
                                 f"{type(optimizer).__name__} keeps {sorted(keys)}")
        try:
            optimizer.load_state_dict(state)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise self.error(f"optimizer state does not fit {type(optimizer).__name__}: {exc}") from None


# -- the public functions ------------------------------------------------------------------

def load_model(path: str | os.PathLike, device: str = "cpu") -> Layer:
    """Rebuild the model saved at ``path``, with its weights, buffers and mode, on ``device``.

    Args:
        path: a file written by ``model.save(path)`` (on any device).
        device: where the model lives: "cpu" (default) or "gpu".

    Raises:
        CheckpointError: the file is not ours, is damaged, or does not match.
        FileNotFoundError: there is no file at ``path``.

    >>> # model.save("mlp.npz"); model = nn.load_model("mlp.npz")
    """
    with _Checkpoint(path) as checkpoint:
        return checkpoint.build().to(device)


def load_weights(model: Layer, path: str | os.PathLike, optimizer: Any = None) -> Layer:
    """Load the weights saved at ``path`` into an existing ``model`` of the same architecture."""
    with _Checkpoint(path) as checkpoint:
        header = checkpoint.header
        if header["class"] != type(model).__name__ or header["config"] != model.config():
            raise checkpoint.error(f"the checkpoint holds a different architecture "
                                   f"({header['class']} {header['config']!r:.300}) than the "
                                   f"model ({type(model).__name__} {model.config()})")
        checkpoint.load_into(model)
        if optimizer is not None:
            checkpoint.load_optimizer(optimizer)
    return model


def load_optimizer_state(optimizer: Any, path: str | os.PathLike) -> Any:
    """Restore the optimizer state saved with ``model.save(path, optimizer=...)``.

    Build the optimizer on the loaded model's parameters first:
    ``opt = Adam(model.parameters()); load_optimizer_state(opt, path)``.
    """
    with _Checkpoint(path) as checkpoint:
        checkpoint.load_optimizer(optimizer)
    return optimizer


def load_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` dict saved with the model (``{}`` if none), without loading the model.

    ``python -m nn train --save`` stores ``dataset`` (the data set's name),
    ``test_accuracy``, ``epochs``, ``command``, ``date``, ``version``,
    ``history`` and ``train_args``.
    """
    with _Checkpoint(path) as checkpoint:
        return checkpoint.header["metadata"]


def open_checkpoint(path: str | os.PathLike) -> _Checkpoint:
    """The checkpoint at ``path``, open, its header validated (for ``nn.resume``)."""
    return _Checkpoint(path)
