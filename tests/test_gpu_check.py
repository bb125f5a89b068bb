"""The prepared GPU check stays runnable: its reduced CPU mode runs every part or says why it skipped it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.speed import gpu_check
from benchmarks.speed.step_timing import MODELS


def test_largest_fitting_doubles_then_bisects() -> None:
    tried: list[int] = []

    def fits(side: int) -> bool:
        tried.append(side)
        return side <= 700

    assert gpu_check.largest_fitting(fits, 64, 4096, 16, lambda: 1.0) == (688, 704)
    assert tried[:5] == [64, 128, 256, 512, 1024]  # doubling until the first failure, then bisection
    assert gpu_check.largest_fitting(lambda side: True, 64, 256, 16, lambda: 1.0) == (256, None)  # the cap fitted
    assert gpu_check.largest_fitting(fits, 64, 4096, 16, lambda: 0.0) == (0, None)  # no time: nothing tried


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread")
def test_the_reduced_cpu_mode_runs_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SISR_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "gpu_check.json"
    report = gpu_check.main(["--output", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["mode"] == "cpu-reduced" and "errors" not in report, report.get("errors")
    assert set(report["speed"]) == set(MODELS)
    assert all(row["32-true"]["eager"]["images_per_s"] > 0 for row in report["speed"].values())
    assert report["speed"]["srresnet"]["32-true"]["eager_channels_last"]["images_per_s"] > 0
    assert {"bf16-mixed", "compile", "ddp"} <= set(report["skipped"])  # GPU-only parts, each with its reason
    assert set(report["syncs"]) == {"srcnn", "srresnet", "srgan"}  # srgan: see tests/test_sync_free.py on VGG19
    assert report["syncs"]["srcnn"]["between_intervals"] == report["syncs"]["srresnet"]["between_intervals"] == 0
    assert len(report["data_wait"]["shares"]) == 2 and all(0 <= share <= 1 for share in report["data_wait"]["shares"])
    assert report["multirun"]["returncode"] == 0 and report["multirun"]["statuses"] == ["completed", "completed"]
    assert report["largest_upscale"]["lr_side"] == 128 and report["largest_upscale"]["first_failing_lr_side"] is None
