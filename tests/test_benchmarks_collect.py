"""`--collect`: a finished sweep folder becomes a leaderboard without retraining."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from benchmarks.leaderboard.collect import find_runs
from benchmarks.run import main, parse_args, run
from sisr.errors import SISRError
from sisr.stages import STAGE1_DIR, STAGE2_DIR, run_stages
from sisr.training import train
from tests.conftest import SMOKE_OVERRIDES, TINY_MODEL_OVERRIDES

# Bicubic x4 on Set5 from REFERENCE.md, and how close an implementation of the protocol must land.
BICUBIC_SET5_X4 = (28.42, 0.8104)
CALIBRATION_PSNR, CALIBRATION_SSIM = 0.02, 0.002

PROFILE = """
name: collect-test
scales: [4]
test_sets: [Set5]
jobs:
  - {name: srcnn, overrides: [model=srcnn]}
measure: {input_size: [32, 32], warmup: 0, repeats: 1, device: cpu}
visual: {set: Set5, image: img_002, scale: 4, top: 8, left: 8, size: 32, zoom: 2}
"""


@pytest.fixture()
def fake_sweep(compose_train, tmp_path: Path) -> Path:
    """A multirun folder as `python -m sisr.train -m` leaves it, with one real tiny SRCNN run, then moved."""
    overrides = ["model=srcnn", *SMOKE_OVERRIDES, *TINY_MODEL_OVERRIDES["srcnn"], "test_after_fit=false", "logger=csv"]
    cfg = compose_train(overrides, run="multiruns/2026-01-01_00-00-00/0")
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(cfg, run_dir / ".hydra" / "config.yaml")
    moved = tmp_path / "copied-sweep"
    shutil.move(str(run_dir.parent), moved)  # paths recorded in metrics.json now point nowhere
    return moved


@pytest.mark.slow
def test_collect_reads_a_sweep_and_writes_the_leaderboard(
    fake_sweep: Path, shared_data_dir: Path, tmp_path: Path
) -> None:
    runs = find_runs(fake_sweep)
    assert [(r.model, r.scale) for r in runs] == [("srcnn", 4)]
    assert runs[0].checkpoint.is_relative_to(fake_sweep)  # re-rooted after the move
    metrics = json.loads((fake_sweep / "0" / "metrics.json").read_text())

    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    out = tmp_path / "out"
    args = ["--profile", str(profile), "--collect", str(fake_sweep), "--output", str(out)]
    paths = run(parse_args([*args, "--work-dir", str(tmp_path / "work")]))

    assert not list((tmp_path / "work").rglob("metrics.json"))  # nothing was retrained
    board = json.loads(paths["leaderboard.json"].read_text())
    rows = {row["model"]: row for row in board["rows"]}
    assert list(rows) == ["bicubic", "srcnn"]
    bicubic = rows["bicubic"]["sets"]["Set5"]
    assert bicubic["psnr"] == pytest.approx(BICUBIC_SET5_X4[0], abs=CALIBRATION_PSNR)
    assert bicubic["ssim"] == pytest.approx(BICUBIC_SET5_X4[1], abs=CALIBRATION_SSIM)
    assert bicubic["paper_psnr"] == BICUBIC_SET5_X4[0]
    srcnn = rows["srcnn"]
    assert srcnn["batches"] == metrics["batches"] == 2
    assert srcnn["config_hash"] == metrics["config_hash"]
    assert srcnn["parameters"] == metrics["parameters"]
    assert srcnn["paper_label"] == "SRCNN 9-5-5"
    assert srcnn["sets"]["Set5"]["paper_psnr"] == 30.48
    assert srcnn["sets"]["Set5"]["delta_psnr"] is None  # a tiny SRCNN is not the paper's network
    assert srcnn["sets"]["Set5"]["not_compared"].startswith("network differs: num_features")
    assert srcnn["architecture"].startswith("SRCNN: ")
    assert srcnn["curve"] == []  # logger=csv: no TensorBoard events to draw a learning curve from
    with open(paths["leaderboard.csv"]) as handle:
        assert [r["model"] for r in csv.DictReader(handle)] == ["bicubic", "srcnn"]
    markdown = paths["leaderboard.md"].read_text()
    assert "| bicubic | x4 |" in markdown and "| srcnn, paper: SRCNN 9-5-5 | x4 |" in markdown
    assert sorted(p.name for p in (out / "visual").glob("*.png")) == ["00_hr.png", "01_bicubic.png", "02_srcnn.png"]
    assert paths["psnr_vs_compute.png"].stat().st_size > 0


def test_collect_of_an_empty_folder_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SISRError, match="no metrics.json under"):
        find_runs(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["--collect", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_run_without_checkpoints_is_reported(tmp_path: Path) -> None:
    run_dir = tmp_path / "0"
    run_dir.mkdir()
    metrics = {"scale": 4, "choices": {"model": "srcnn"}, "status": "completed", "last_checkpoint": None}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(SISRError, match=f"run {run_dir} has no last.ckpt under checkpoints/"):
        find_runs(tmp_path)


@pytest.mark.slow
def test_both_stages_of_a_two_stage_run_are_rows_scoring_their_final_weights(compose_train) -> None:
    overrides = ["experiment=srgan_x4", *SMOKE_OVERRIDES, *TINY_MODEL_OVERRIDES["srgan"], "logger=csv"]
    cfg = compose_train([*overrides, "test_after_fit=false"], run="sweep/srgan_x4")
    stages = run_stages(cfg)
    runs = find_runs(Path(cfg.paths.output_dir).parent)
    assert [(r.model, r.run_dir.name) for r in runs] == [("srresnet", STAGE1_DIR), ("srgan", STAGE2_DIR)]
    assert [r.checkpoint.name for r in runs] == ["last.ckpt", "last.ckpt"]
    assert str(runs[0].checkpoint) == stages["pretrained_generator"]  # the row is the weights stage 2 started from
    assert runs[0].config["model"]["_target_"].endswith("PixelSRModule")
