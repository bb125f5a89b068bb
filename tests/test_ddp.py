"""Every trainable model with two gloo processes on CPU: every image scored exactly once, metrics equal
single-process sisr.eval, only rank 0 writing; BatchNorm models say once what replaces SyncBatchNorm on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sisr.core.distributed import has_batchnorm
from sisr.core.training import build_model
from tests.configs import trainable_models
from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data
from tests.ddp_checks import assert_two_process_run, ddp_train_overrides

SYNC_BN_NOTE = "SyncBatchNorm runs on GPUs only"


@pytest.mark.slow
@pytest.mark.parametrize("model", trainable_models())
def test_two_process_training(model: str, tmp_path: Path, compose_train) -> None:
    run_dir = tmp_path / "ddp"
    command = [sys.executable, "-m", "sisr.train", *ddp_train_overrides(model), f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_two_process_run(run_dir, compose_train)
    # trainer=ddp asks for SyncBatchNorm; on CPU, rank 0 alone says once what it does instead, for BatchNorm models.
    with_batchnorm = has_batchnorm(build_model(compose_train(ddp_train_overrides(model))))
    assert (result.stdout + result.stderr).count(SYNC_BN_NOTE) == int(with_batchnorm)
