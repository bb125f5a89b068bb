"""The SRCNN x3 weights shipped in weights/ (trained on T91 by `python -m benchmarks.run --profile cpu`): their
size, their provenance, and their scores through `sisr.eval` and `sisr.upscale`, which must stay the README's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sisr.core.evaluation import evaluate
from tests.conftest import REPO_ROOT
from tests.test_upscale import run_upscale

WEIGHTS = REPO_ROOT / "weights" / "srcnn_x3_t91" / "srcnn_x3_t91.pth"
# README, "SRCNN on T91": Y-PSNR (dB) / SSIM of these weights at x3, crop 3. A change anywhere in the model,
# bicubic or metric code that moves them by more than rounding shows up here.
README_SCORES = {"Set5": (32.48, 0.9053), "Set14": (29.05, 0.8152)}
PAPER_9_1_5 = {"Set5": 32.39, "Set14": 29.00}  # SRCNN 9-1-5 trained on the same 91 images (ECCV 2014)


def test_the_shipped_weights_are_small_and_say_where_they_come_from() -> None:
    assert WEIGHTS.stat().st_size < 1024**2
    metadata = json.loads((WEIGHTS.parent / "metadata.json").read_text())
    assert metadata["generator"]["_target_"] == "sisr.models.srcnn.SRCNN" and metadata["scale"] == 3
    assert metadata["generator"]["mid_kernel_size"] == 5 and metadata["ema"] is True
    for set_name, (psnr, _) in README_SCORES.items():
        assert metadata["scores"]["val"][f"val/{set_name}/psnr"] == pytest.approx(psnr, abs=0.005)


def test_sisr_eval_scores_the_shipped_weights_as_the_readme_says(compose_train) -> None:
    cfg = compose_train([f"weights={WEIGHTS}", "data.scale=3", "data.test_sets=[Set5,Set14]", "lpips=false"],
                        config_name="eval", run="eval")  # fmt: skip
    results = evaluate(cfg)
    for set_name, (psnr, ssim) in README_SCORES.items():
        scores = results["sets"][set_name]
        assert scores["psnr"] == pytest.approx(psnr, abs=0.005), set_name
        assert scores["ssim"] == pytest.approx(ssim, abs=0.00005), set_name
        assert scores["psnr"] >= PAPER_9_1_5[set_name]  # the bar: the 9-1-5 paper numbers
    assert results["sets"]["Set5"]["count"] == 5 and results["sets"]["Set14"]["count"] == 14


def test_sisr_upscale_takes_the_shipped_weights(compose_train, shared_data_dir: Path, tmp_path: Path) -> None:
    lr_images = shared_data_dir / "benchmark" / "Set5" / "image_SRF_3" / "*_LR.png"
    summary = run_upscale(compose_train, f"weights={WEIGHTS}", f"input='{lr_images}'", f"output={tmp_path / 'out'}")
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert len(written) == 5 and len(summary["written"]) == 5 and not summary["skipped"]
