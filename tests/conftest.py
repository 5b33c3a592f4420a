"""Shared fixtures: where the real data lives, and seeded generators; hypothesis profiles."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# The property-based suites (malformed IDX files and checkpoints) run the "ci"
# profile by default: a few hundred generated inputs in all, the same ones on
# every CI run (CI set), fresh ones on every local run.  Locally,
# `python -m pytest --hypothesis-profile thorough` runs thousands, and
# `--hypothesis-show-statistics` counts them.
_PROFILE = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow], "print_blob": True}
settings.register_profile("ci", max_examples=60, derandomize=bool(os.environ.get("CI")),
                          **_PROFILE)
settings.register_profile("thorough", max_examples=1000, **_PROFILE)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
# ../shared sits beside the project root on every machine and in CI.
SHARED = Path(os.environ.get("NN_SHARED_DIR", ROOT.parent / "shared"))
MNIST_DIR = SHARED / "datasets" / "mnist"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def closed_port() -> int:
    """A local TCP port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def without_network(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a subprocess whose every HTTP(S) request is refused at once (a closed
    local port as the proxy), so that a download fails fast instead of reaching out."""
    env = {k: v for k, v in env.items() if k not in ("NO_PROXY", "no_proxy")}
    proxy = f"http://127.0.0.1:{closed_port()}"
    env.update(http_proxy=proxy, https_proxy=proxy, HTTP_PROXY=proxy, HTTPS_PROXY=proxy)
    return env


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory) -> Path:
    """Keep every test's processed-data cache out of the user's real cache folder."""
    path = tmp_path_factory.mktemp("nn-cache")
    previous = os.environ.get("NN_CACHE_DIR")
    os.environ["NN_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("NN_CACHE_DIR", None)
    else:
        os.environ["NN_CACHE_DIR"] = previous


@pytest.fixture(autouse=True, scope="session")
def single_threaded_blas():
    """One BLAS thread: the test matrices are small, results do not depend on the
    thread count, and threaded OpenBLAS slows to a crawl on a busy machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield None
        return
    with threadpool_limits(limits=1, user_api="blas") as limiter:
        yield limiter


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists():
        pytest.fail(f"real MNIST files expected in {MNIST_DIR} (../shared/datasets/mnist)")
    return MNIST_DIR


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(params=["cpu", "standin"])
def device(request) -> str:
    """Each device-aware test runs on the CPU and on the CPU stand-in for CuPy (tests/standin.py),
    which fails the way CuPy does when code mixes NumPy and device arrays."""
    if request.param == "standin":
        import standin
        standin.register()
    return request.param
