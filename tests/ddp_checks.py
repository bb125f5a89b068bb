"""What every multi-process training run must show (tests/test_ddp.py locally, tests/test_slurm.py under SLURM):
world size 2, every Set5/Set14 image scored exactly once, metrics equal to single-process `sisr.eval` of the
final weights, and only rank 0 writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sisr.core.evaluation import evaluate
from tests.configs import tiny_overrides

SETS = {"Set5": 5, "Set14": 14}


def ddp_train_overrides(model: str) -> list[str]:
    """A tiny two-process CPU run of `model` on Set5/Set14, validated and tested on both (3 batches)."""
    return [
        f"model={model}", *tiny_overrides(model), "data=shared", "data.scale=4", "data.patch_size=32",
        "data.batch_size=2", "data.num_workers=0", "data.val_sets=[Set5,Set14]", "data.test_sets=[Set5,Set14]",
        "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_steps=3",
        "trainer.val_check_interval=3", "trainer.enable_progress_bar=false", "logger=csv",
    ]  # fmt: skip


def assert_two_process_run(run_dir: Path, compose_train: Any) -> dict[str, Any]:
    """Check a finished two-process run folder against single-process `sisr.eval` of its final weights."""
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "completed" and summary["world_size"] == 2 and summary["written_by_rank"] == 0
    assert sorted(p.name for p in (run_dir / "csv").iterdir()) == ["hparams.yaml", "metrics.csv"]  # one logger's files
    for name, count in SETS.items():  # no padded shards, no image twice
        assert summary["test"][f"test/{name}/count"] == count and summary["val"][f"val/{name}/count"] == count
    overrides = [f"ckpt_path={summary['last_checkpoint']}", "data.test_sets=[Set5,Set14]", "lpips=false"]
    single = evaluate(compose_train(overrides, "eval", "eval"))
    for name in SETS:
        assert single["sets"][name]["count"] == summary["test"][f"test/{name}/count"]
        for key in ("psnr", "ssim", "psnr_rgb"):
            assert summary["test"][f"test/{name}/{key}"] == pytest.approx(single["sets"][name][key], abs=1e-6), (name, key)
    return summary
