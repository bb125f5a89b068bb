"""The cluster path without a cluster: a multirun through hydra-submitit-launcher's local executor (the same
launcher as hydra/launcher=slurm), then a leaderboard collected from that sweep folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data


@pytest.mark.slow
def test_submitit_local_multirun_then_collect(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    train = [
        sys.executable, "-m", "sisr.train", "-m", "hydra/launcher=local", "model=srcnn,srresnet", "data=sample",
        "debug=smoke", "data.patch_size=32", "data.batch_size=2", "model.generator.num_features=8", "logger=csv",
        f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    result = subprocess.run(train, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = {json.loads((sweep / str(n) / "metrics.json").read_text())["choices"]["model"]: n for n in (0, 1)}
    assert set(jobs) == {"srcnn", "srresnet"}
    assert all((sweep / str(n) / "checkpoints" / "last.ckpt").is_file() for n in (0, 1))

    out = tmp_path / "board"
    collect = [sys.executable, "-m", "benchmarks.run", "--collect", str(sweep), "--output", str(out),
               "--work-dir", str(tmp_path / "work")]  # fmt: skip
    result = subprocess.run(collect, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    board = json.loads((out / "leaderboard.json").read_text())
    models = [row["model"] for row in board["rows"]]
    assert {"bicubic", "srcnn", "srresnet"} <= set(models)


@pytest.mark.slow
def test_benchmarks_runner_fans_jobs_out_through_the_launcher(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "SISR_HOME"}
    env |= {"SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "benchmarks.run", "--profile", "tiny", "--models", "srcnn,srgan",
               "--launcher", "local", "--work-dir", str(tmp_path / "work")]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    train = tmp_path / "work" / "train"
    assert sorted(p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["srcnn_x4", "srgan_x4"]
    # Both jobs were submitted before either finished: each started before the other ended.
    srcnn_start = (train / "srcnn_x4" / "config.yaml").stat().st_mtime
    srgan_start = (train / "srgan_x4" / "stage1_psnr" / "config.yaml").stat().st_mtime
    srcnn_end = (train / "srcnn_x4" / "metrics.json").stat().st_mtime
    srgan_end = (train / "srgan_x4" / "stage2_gan" / "metrics.json").stat().st_mtime
    assert srcnn_start < srgan_end and srgan_start < srcnn_end
    board = json.loads((tmp_path / "work" / "leaderboard.json").read_text())
    assert [row["model"] for row in board["rows"]] == ["bicubic", "srcnn", "srresnet", "srgan"]
