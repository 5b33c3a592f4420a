"""Trial functions that worker processes import by name (tests/ is on their PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def marked_sleep(params: dict, seed: int, marker_dir: str, seconds: float) -> dict:
    """Leave a file naming this trial, this process and its Dask worker; sleep; score ``params["x"]``.

    The file appears when the trial starts, so a test can kill the process in the middle of it.
    """
    from distributed import get_worker

    Path(marker_dir, f"trial{seed}-pid{os.getpid()}").write_text(get_worker().address)
    time.sleep(seconds)
    return {"val_accuracy": params["x"]}

