"""The layer contract and the device tests again, on a real GPU through CuPy.

The same test functions as tests/test_layer_contract.py and tests/test_device.py,
collected here with the device fixtures set to "gpu".  Every test skips, with
the reason, where CuPy or an NVIDIA GPU is missing; CI covers the same code on
the CPU stand-in for CuPy.
"""

from __future__ import annotations

import pytest

from layers.device import DeviceError, get_device


def _why_no_gpu() -> str | None:
    try:
        get_device("gpu")
    except DeviceError as error:
        return str(error)
    return None


REASON = _why_no_gpu()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no GPU here: {REASON}")


@pytest.fixture
def device() -> str:
    return "gpu"


@pytest.fixture
def dev():
    return get_device("gpu")


from test_layer_contract import *  # noqa: E402,F401,F403  (collected again with device="gpu")
from test_device import (  # noqa: E402,F401
    test_checkpoints_are_numpy_and_load_onto_either_device,
    test_every_optimizer_steps_on_the_device_as_on_the_cpu,
    test_gradcheck_runs_in_float64_on_the_device,
    test_losses_on_the_device_match_the_cpu_and_the_numerical_gradient,
    test_optimizer_state_follows_a_model_moved_after_it_was_built,
    test_to_moves_parameters_buffers_and_caches_and_back,
    test_training_on_the_device_follows_the_cpu,
)
