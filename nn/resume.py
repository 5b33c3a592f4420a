"""What ``Trainer.fit(checkpoint=...)`` saves after every epoch, and how ``resume=`` reads it.

Everything the next epoch depends on goes into one checkpoint file (the
format of ``nn.checkpoint``, so ``load_model`` and ``python -m nn evaluate``
read it too):

* the model's parameters and buffers (BatchNorm's running statistics), and
  the state of every random generator inside the model (Dropout's masks);
* the optimizer's state (moments, step count, learning rate) and the
  schedule's epoch;
* the state of the trainer's shuffling generator;
* the ``History`` so far and early stopping's bookkeeping (best value,
  epochs waited, the best epoch's weights).

So a run continued from the checkpoint of epoch k computes epochs k+1, ...
exactly as the run that was never stopped, bit for bit, as long as BLAS runs
the same number of threads.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from layers import Layer
from nn.checkpoint import open_checkpoint, save_model
from nn.history import History
from nn.sequential import layers_in

__all__ = ["RunState", "completed_epochs", "model_generators", "load_run", "save_run"]

#: the fit() arguments a run must keep to be continued
SETTINGS = ("samples", "batch_size", "shuffle", "drop_last", "patience", "restore_best",
            "validation")


@dataclass
class RunState:
    """The trainer's own part of a run: history and early stopping's bookkeeping."""

    history: History = field(default_factory=History)
    best: float = math.inf
    waited: int = 0
    best_weights: list[np.ndarray] | None = None
    best_buffers: dict[str, np.ndarray] = field(default_factory=dict)


def model_generators(model: Layer) -> list[tuple[str, np.random.Generator]]:
    """Every ``np.random.Generator`` a layer of ``model`` holds, with its path."""
    return [(f"{path}.{key}".lstrip("."), value)
            for path, layer in layers_in(model)
            for key, value in vars(layer).items() if isinstance(value, np.random.Generator)]


def save_run(path: str | os.PathLike, trainer: Any, rng: np.random.Generator, state: RunState,
             settings: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
    """Write the run after a completed epoch to ``path``, atomically."""
    resume = {
        "settings": settings,
        "rng": rng.bit_generator.state,
        "generators": {name: g.bit_generator.state for name, g in model_generators(trainer.model)},
        "schedule": None if trainer.schedule is None else trainer.schedule.state_dict(),
        "history": state.history.as_dict(),
        "best": state.best,
        "waited": state.waited,
        "best_weights": state.best_weights,
        "best_buffers": state.best_buffers,
    }
    save_model(trainer.model, path, optimizer=trainer.optimizer, metadata=metadata, resume=resume)


def _checked_generator_state(generator: np.random.Generator, state: Any) -> Any:
    """``state`` if ``generator`` accepts it, tried on a fresh generator of its kind."""
    scratch = type(generator.bit_generator)()
    scratch.state = state  # raises TypeError, ValueError or OverflowError for anything else
    return state


def load_run(path: str | os.PathLike, trainer: Any, rng: np.random.Generator,
             settings: dict[str, Any]) -> RunState:
    """Restore a run saved by ``save_run`` into ``trainer`` and ``rng``; return its ``RunState``.

    The whole file is read and checked before the model, optimizer, schedule
    or generators are changed; only what the optimizer's and the schedule's
    own ``load_state_dict`` check can still fail after the weights are in.

    Raises:
        CheckpointError: the file is damaged, holds no run, or a run that does
            not fit this model, optimizer, schedule or these ``fit`` settings.
    """
    model, optimizer, schedule = trainer.model, trainer.optimizer, trainer.schedule
    with open_checkpoint(path) as checkpoint:
        error = checkpoint.error
        header = checkpoint.header
        if header["resume"] is None:
            raise error("holds no training run to resume (it was written by model.save(), "
                        "not by Trainer.fit(checkpoint=...))")
        if header["class"] != type(model).__name__ or header["config"] != model.config():
            raise error(f"the run was trained with a different model ({header['class']} "
                        f"{header['config']!r:.300}) than this one ({type(model).__name__} "
                        f"{model.config()})")
        resume = checkpoint.join_arrays(header["resume"], "resume state", "resume")
        fields = {"settings": dict, "rng": dict, "generators": dict, "schedule": (dict, type(None)),
                  "history": dict, "best": (int, float), "waited": int,
                  "best_weights": (list, type(None)), "best_buffers": dict}
        for key, types in fields.items():
            if key not in resume or not isinstance(resume[key], types) \
                    or isinstance(resume[key], bool):
                raise error(f"resume state field {key!r} is missing or of the wrong type")
        saved = resume["settings"]
        for key in SETTINGS:
            if saved.get(key) != settings[key]:
                raise error(f"cannot resume: the run used {key}={saved.get(key)!r:.60}, this "
                            f"call has {key}={settings[key]!r}; resume with the same data and "
                            "settings")
        try:
            history = History.from_dict(resume["history"])
        except ValueError as exc:
            raise error(f"resume state: {exc}") from None
        if resume["waited"] < 0 or math.isnan(resume["best"]):
            raise error("resume state: early stopping's bookkeeping is damaged")
        generators = model_generators(model)
        states = resume["generators"]
        if sorted(states) != sorted(name for name, _ in generators):
            raise error(f"resume state holds random generators {sorted(states)}, the model has "
                        f"{sorted(name for name, _ in generators)}")
        try:
            _checked_generator_state(rng, resume["rng"])
            for name, generator in generators:
                _checked_generator_state(generator, states[name])
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise error(f"resume state: a random generator's state is damaged ({exc})") from None
        best_weights = resume["best_weights"]
        params = model.parameters()
        if best_weights is not None and (
                len(best_weights) != len(params) or any(
                    not isinstance(w, np.ndarray) or w.shape != p.shape or w.dtype != p.dtype
                    for w, p in zip(best_weights, params))):
            raise error("resume state: the best epoch's weights do not fit the model")
        buffers = model.buffers()
        best_buffers = resume["best_buffers"]
        if best_buffers and (sorted(best_buffers) != sorted(buffers) or any(
                not isinstance(v, np.ndarray) or v.shape != buffers[k].shape
                or v.dtype != buffers[k].dtype for k, v in best_buffers.items())):
            raise error("resume state: the best epoch's buffers do not fit the model")
        if (resume["schedule"] is None) != (schedule is None):
            has = "a" if resume["schedule"] is not None else "no"
            raise error(f"the run had {has} learning-rate schedule, this trainer "
                        f"{'has none' if schedule is None else 'has one'}")
        if schedule is not None and resume["schedule"].get("type") != type(schedule).__name__:
            raise error(f"the run's schedule was {resume['schedule'].get('type')!r:.60}, this "
                        f"trainer's is {type(schedule).__name__}")

        checkpoint.load_into(model)
        checkpoint.load_optimizer(optimizer)
        if schedule is not None:
            try:
                schedule.load_state_dict(resume["schedule"])
            except (TypeError, ValueError, KeyError) as exc:
                raise error(f"schedule state does not fit {type(schedule).__name__}: {exc}") from None
    rng.bit_generator.state = resume["rng"]
    for name, generator in generators:
        generator.bit_generator.state = states[name]
    return RunState(history=history, best=float(resume["best"]), waited=int(resume["waited"]),
                    best_weights=best_weights, best_buffers=best_buffers)



def completed_epochs(path: str | os.PathLike) -> int:
    """How many epochs the run saved at ``path`` has completed.

    Raises:
        CheckpointError: the file is damaged or holds no training run.
    """
    with open_checkpoint(path) as checkpoint:
        resume = checkpoint.header["resume"]
        record = resume.get("history") if isinstance(resume, dict) else None
        try:
            return len(History.from_dict(record))
        except ValueError as exc:
            raise checkpoint.error(f"holds no training run to resume ({exc})") from None
