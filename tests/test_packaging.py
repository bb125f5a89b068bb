"""A non-editable install ships the Hydra configs the entry points need."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CONF_DIR, REPO_ROOT


@pytest.mark.slow
def test_wheel_contains_every_config_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("sisr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sisr/conf/{p.relative_to(CONF_DIR).as_posix()}" for p in CONF_DIR.rglob("*.yaml")}
    assert expected <= names
    assert "sisr/train.py" in names and "benchmarks/run.py" in names
