"""End to end: `python -m benchmarks.run --profile tiny`, restricted to SRCNN at x4, trains, scores and reports."""

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
    command = [sys.executable, "-m", "benchmarks.run", "--profile", "tiny", "--models", "srcnn", "--scales", "4",
               "--output", str(out), "--work-dir", str(work)]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]

    # Training went through sisr.train's multirun layout, inside the work folder.
    run_dir = work / "train" / "srcnn_x4"
    assert (run_dir / "metrics.json").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()
    assert list((run_dir / "checkpoints").glob("*.ckpt"))
    assert not list(out.rglob("*.ckpt"))

    data = json.loads((out / "leaderboard.json").read_text())
    assert [(row["model"], row["scale"]) for row in data["rows"]] == [("bicubic", 4), ("srcnn", 4)]
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

    check_rendered_page(out / "leaderboard.html", 2, tmp_path, expected_images=1 + 3)  # plot + HR, bicubic, srcnn
