"""End to end: `python -m benchmarks.run --profile tiny` trains every job, scores and reports (what CI runs).

It runs from a scratch working directory, outside the checkout, with the default output: everything lands under
`<cwd>/logs/benchmarks/tiny/<time>/`, and the checkout's reference copy (benchmarks/results/tiny/) is not touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.leaderboard.profile import job_name, load_profile
from tests.configs import job_models
from tests.test_benchmarks_html import check_rendered_page
from tests.conftest import HANG_GUARD

PROFILE = load_profile("tiny")
# The leaderboard's rows: bicubic, then every model each job trains, in the profile's order (stage 1 before its GAN).
ROWS = ["bicubic", *(model for job in PROFILE.jobs for model in job_models(job.overrides))]
JOBS = [job_name(job.name, scale) for job in PROFILE.jobs for scale in PROFILE.scales_of(job)]
TWO_STAGE = [(job_name(job.name, 4), *job_models(job.overrides)) for job in PROFILE.jobs if len(job_models(job.overrides)) == 2]


@pytest.mark.slow
def test_tiny_profile_end_to_end(shared_data_dir: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "SISR_HOME"}
    env |= {"SISR_DATA_DIR": str(shared_data_dir), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "benchmarks.run", "--profile", "tiny"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-2000:]

    (work,) = (tmp_path / "logs" / "benchmarks" / "tiny").resolve().iterdir()  # the default: a folder per run
    assert {"leaderboard.md", "leaderboard.json", "leaderboard.html", "psnr_vs_compute.png"} <= {
        p.name for p in work.iterdir()
    }
    # Training went through sisr.train's multirun layout, one folder per job, inside the work folder.
    run_dir = work / "train" / "srcnn_x4"
    assert (run_dir / "metrics.json").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (work / "train").iterdir() if p.is_dir()) == sorted(JOBS)
    assert TWO_STAGE  # the profile exercises the stage hand-over

    data = json.loads((work / "leaderboard.json").read_text())
    assert [(row["model"], row["scale"]) for row in data["rows"]] == [(model, 4) for model in ROWS]
    rows = {row["model"]: row for row in data["rows"]}
    for job, psnr_model, gan in TWO_STAGE:
        stage1, stage2 = work / "train" / job / "stage1_psnr", work / "train" / job / "stage2_gan"
        assert rows[psnr_model]["run_dir"] == str(stage1) and rows[gan]["run_dir"] == str(stage2)
        assert rows[psnr_model]["checkpoint"] == str(stage1 / "checkpoints" / "last.ckpt")  # final weights
        stages = json.loads((work / "train" / job / "stages.json").read_text())
        assert stages["pretrained_generator"] == rows[psnr_model]["checkpoint"]  # the GAN started from that row
        assert (rows[psnr_model]["batches"], rows[gan]["batches"]) == (16, 4)
    assert data["test_sets"] == ["Set5", "Set14"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    srcnn = rows["srcnn"]
    assert srcnn["batches"] == metrics["batches"] > 0
    assert srcnn["train_seconds"] == metrics["train_seconds"]
    assert srcnn["sets"]["Set14"]["count"] == 14
    assert srcnn["sets"]["Set14"]["paper_psnr"] == 27.49
    for set_name in ("Set5", "Set14"):
        assert rows["bicubic"]["sets"][set_name]["delta_psnr"] == pytest.approx(0.0, abs=0.02)  # bicubic calibration
    assert any(note.startswith("LPIPS column:") for note in data["notes"]) or all(
        row["sets"][s]["lpips"] is not None for row in data["rows"] for s in data["test_sets"]
    )

    check_rendered_page(work / "leaderboard.html", len(ROWS), tmp_path, expected_images=1 + 1 + len(ROWS))
