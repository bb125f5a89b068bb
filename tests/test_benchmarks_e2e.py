"""End to end: `python -m benchmarks.run --profile tiny` trains every model, scores and reports (what CI runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.profile import REPO_ROOT
from tests.test_benchmarks_html import check_rendered_page


@pytest.mark.slow
def test_tiny_profile_end_to_end(shared_data_dir: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "results", tmp_path / "work"
    env = {**os.environ, "SISR_DATA_DIR": str(shared_data_dir), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "benchmarks.run", "--profile", "tiny", "--output", str(out),
               "--work-dir", str(work)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]

    # Training went through sisr.train's multirun layout, inside the work folder.
    run_dir = work / "train" / "srcnn_x4"
    assert (run_dir / "metrics.json").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()
    assert list((run_dir / "checkpoints").glob("*.ckpt"))
    assert not list(out.rglob("*.ckpt"))

    data = json.loads((out / "leaderboard.json").read_text())
    models = ["bicubic", "srcnn", "srresnet", "srgan", "rrdb", "esrgan"]
    assert [(row["model"], row["scale"]) for row in data["rows"]] == [(model, 4) for model in models]
    for gan, psnr_model in (("srgan", "srresnet"), ("esrgan", "rrdb")):  # GANs start from the suite's PSNR models
        gan_config = (work / "train" / f"{gan}_x4" / ".hydra" / "config.yaml").read_text()
        assert f"{psnr_model}_x4" in gan_config
    assert data["test_sets"] == ["Set5", "Set14"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    srcnn = data["rows"][1]
    assert srcnn["batches"] == metrics["batches"] > 0
    assert srcnn["train_seconds"] == metrics["train_seconds"]
    assert srcnn["sets"]["Set14"]["count"] == 14
    assert srcnn["sets"]["Set14"]["paper_psnr"] == 27.49
    for set_name in ("Set5", "Set14"):
        assert data["rows"][0]["sets"][set_name]["delta_psnr"] == pytest.approx(0.0, abs=0.02)  # bicubic calibration
    assert any(note.startswith("LPIPS column:") for note in data["notes"]) or all(
        row["sets"][s]["lpips"] is not None for row in data["rows"] for s in data["test_sets"]
    )

    check_rendered_page(out / "leaderboard.html", len(models), tmp_path, expected_images=1 + 1 + len(models))
