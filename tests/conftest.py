"""Shared fixtures: where the benchmark images live, and CPU-only determinism."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def locate_shared_data() -> Path:
    """The shared data folder: $SISR_DATA_DIR if set, else ../shared/data beside the repository."""
    env = os.environ.get("SISR_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared data folder; missing data fails under CI=true and skips elsewhere."""
    path = locate_shared_data()
    if not (path / "benchmark").is_dir():
        message = f"benchmark data not found at {path}; set SISR_DATA_DIR to the folder holding benchmark/"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _cpu_determinism() -> None:
    torch.manual_seed(0)
