"""Two gloo processes on CPU: every image scored exactly once, metrics equal single-process sisr.eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sisr.core.evaluation import evaluate
from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data
from tests.configs import tiny_overrides


@pytest.mark.slow
def test_two_process_training_scores_every_image_once(tmp_path: Path, compose_train) -> None:
    run_dir = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "sisr.train", "model=srcnn", *tiny_overrides("srcnn"), "data=shared",
        "data.scale=3", "data.patch_size=33", "data.batch_size=4", "data.num_workers=0", "data.val_sets=[Set5,Set14]",
        "data.test_sets=[Set5,Set14]", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
        "trainer.max_steps=3", "trainer.val_check_interval=3", "trainer.enable_progress_bar=false", "logger=csv",
        f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "completed" and summary["written_by_rank"] == 0
    assert sorted(p.name for p in (run_dir / "csv").iterdir()) == ["hparams.yaml", "metrics.csv"]  # one logger's files
    assert summary["test"]["test/Set5/count"] == 5 and summary["test"]["test/Set14/count"] == 14  # no padding
    assert summary["val"]["val/Set5/count"] == 5 and summary["val"]["val/Set14/count"] == 14

    single = evaluate(compose_train([f"ckpt_path={summary['last_checkpoint']}", "data.test_sets=[Set5,Set14]", "lpips=false"], "eval", "eval"))
    for name in ("Set5", "Set14"):
        assert single["sets"][name]["count"] == summary["test"][f"test/{name}/count"]
        for key in ("psnr", "ssim", "psnr_rgb"):
            assert summary["test"][f"test/{name}/{key}"] == pytest.approx(single["sets"][name][key], abs=1e-6)
