"""A clear error when another installed package shadows one of ours.

The project installs ``layers``, ``losses``, ``optimizers`` and ``datasets``
as top-level packages beside ``nn``.  Other distributions use some of those
names too, above all Hugging Face's ``datasets``; whichever comes first on
``sys.path`` wins, and the loser's users would meet a baffling
``cannot import name 'minibatches' from 'datasets'`` deep inside ``nn``.
``check_packages`` finds each name's location without importing it (a
foreign package may be slow or fail to import) and compares it with ours.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["OUR_PACKAGES", "check_packages"]

#: the top-level packages that sit beside ``nn`` in every install.
OUR_PACKAGES = ("layers", "losses", "optimizers", "datasets")
_NAMESAKES = {"datasets": "Hugging Face's `datasets` library, which uses the same import name"}


def _origin(name: str) -> str | None:
    """The file a plain ``import name`` loads (or has loaded), without importing it."""
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__file__", None)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    return None if spec is None else spec.origin


def check_packages(home: Path | None = None) -> None:
    """Raise ``ImportError`` if ``import layers`` etc. would not load the packages beside ``nn``.

    Args:
        home: the folder holding ``nn/`` and its sibling packages (default:
            the one this file is in).
    """
    home = Path(__file__).resolve().parents[1] if home is None else Path(home)
    for name in OUR_PACKAGES:
        expected = home / name / "__init__.py"
        origin = _origin(name)
        if origin is not None and Path(origin).resolve() == expected.resolve():
            continue
        if origin is None or origin in ("namespace", "built-in", "frozen"):
            found = "no regular package" if origin is None else f"a {origin} package"
        else:
            found = str(Path(origin).parent)
        culprit = _NAMESAKES.get(name, "another installed package with the same top-level name")
        raise ImportError(
            f"nn-from-scratch needs its own `{name}` package ({expected.parent}), but "
            f"`import {name}` finds {found} instead: most likely {culprit}. The two cannot be "
            f"installed side by side; install nn-from-scratch in a virtual environment of its own "
            f"(python3 -m venv .venv && . .venv/bin/activate && pip install -e . in its clone)."
        )
