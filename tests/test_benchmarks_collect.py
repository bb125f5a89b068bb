"""`--collect`: a finished sweep folder becomes a leaderboard without retraining."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from benchmarks.leaderboard.collect import find_runs
from benchmarks.run import main, parse_args, run
from sisr.plumbing.errors import SISRError
from sisr.core.stages import STAGE1_DIR, STAGE2_DIR, run_stages
from sisr.core.training import train
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides

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
    overrides = ["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "test_after_fit=false", "logger=csv"]
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
    overrides = ["experiment=srgan_x4", *SMOKE_OVERRIDES, *tiny_overrides("srgan"), "logger=csv"]
    cfg = compose_train([*overrides, "test_after_fit=false"], run="sweep/srgan_x4")
    stages = run_stages(cfg)
    runs = find_runs(Path(cfg.paths.output_dir).parent)
    assert [(r.model, r.run_dir.name) for r in runs] == [("srresnet", STAGE1_DIR), ("srgan", STAGE2_DIR)]
    assert [r.checkpoint.name for r in runs] == ["last.ckpt", "last.ckpt"]
    assert str(runs[0].checkpoint) == stages["pretrained_generator"]  # the row is the weights stage 2 started from
    assert runs[0].config["model"]["_target_"].endswith("PixelSRModule")


def bicubic_outputs(shared_data_dir: Path, folder: Path, scale: int = 4) -> Path:
    """MATLAB-bicubic upscales of Set5's LR images saved as 8-bit PNGs, as released results are: `<folder>/Set5/`."""
    import numpy as np
    import torch
    from PIL import Image

    from sisr.protocol.imresize import imresize_uint8_levels

    (folder / "Set5").mkdir(parents=True)
    for lr_path in sorted((shared_data_dir / "benchmark" / "Set5" / f"image_SRF_{scale}").glob("*_LR.png")):
        lr = torch.from_numpy(np.asarray(Image.open(lr_path).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
        sr = imresize_uint8_levels(lr[None], scale)[0]
        levels = (sr.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(levels).save(folder / "Set5" / lr_path.name.replace("_LR", "_SR"))
    return folder


@pytest.mark.slow
def test_external_outputs_are_rows_labelled_external_and_scored_by_the_same_protocol(
    fake_sweep: Path, shared_data_dir: Path, tmp_path: Path
) -> None:
    released = bicubic_outputs(shared_data_dir, tmp_path / "released")
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    args = ["--profile", str(profile), "--collect", str(fake_sweep), "--output", str(tmp_path / "out")]
    paths = run(parse_args([*args, "--work-dir", str(tmp_path / "work"), "--external", f"bicubic_released:4={released}"]))

    board = json.loads(paths["leaderboard.json"].read_text())
    rows = {row["model"]: row for row in board["rows"]}
    assert list(rows) == ["bicubic", "srcnn", "bicubic_released"]
    external, bicubic = rows["bicubic_released"], rows["bicubic"]
    assert external["external"] is True and bicubic["external"] is False
    assert external["parameters"] is None and external["batches"] is None
    assert external["sets"]["Set5"]["count"] == 5
    # The same images through the precomputed path: only the 8-bit rounding of the saved PNGs differs.
    assert external["sets"]["Set5"]["psnr"] == pytest.approx(bicubic["sets"]["Set5"]["psnr"], abs=0.02)
    markdown = paths["leaderboard.md"].read_text()
    assert "| bicubic_released (external) | x4 |" in markdown and "n/a (external outputs)" in markdown
    assert any("(external) score SR images computed elsewhere" in note for note in board["notes"])
    assert len(list((tmp_path / "out" / "visual").glob("*.png"))) == 3  # HR, bicubic, srcnn: no model to run


def test_a_malformed_or_missing_external_folder_is_one_sentence(tmp_path: Path) -> None:
    from benchmarks.run import parse_external

    with pytest.raises(SISRError, match="is not NAME:SCALE=FOLDER"):
        parse_external("srcnn=folder")
    with pytest.raises(SISRError, match="does not exist; give a folder with one subfolder per test set"):
        parse_external(f"srcnn:3={tmp_path / 'missing'}")
    assert parse_external(f"srcnn:3={tmp_path}").scale == 3


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1], ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_while_scoring_is_recorded_and_exits_non_zero(
    fake_sweep: Path, shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    import benchmarks.leaderboard.suite as suite

    original = suite.build_leaderboard

    def score_then_signal(*args, **kwargs):
        os.kill(os.getpid(), signum)  # arrives while the suite scores the runs
        return original(*args, **kwargs)

    monkeypatch.setattr(suite, "build_leaderboard", score_then_signal)
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    work, out = tmp_path / "work", tmp_path / "out"
    with pytest.raises(SystemExit) as stopped:
        main(["--profile", str(profile), "--collect", str(fake_sweep), "--output", str(out), "--work-dir", str(work)])
    assert stopped.value.code == 128 + signum
    status = json.loads((work / "suite.json").read_text())
    assert status["status"] == "interrupted" and status["phase"] == "scoring"
    assert signal.Signals(signum).name in status["error"]
    assert not (out / "leaderboard.json").exists()  # no leaderboard claims a result it did not finish


@pytest.mark.slow  # Real-ESRGAN x4plus (16.7 M parameters) on five 24x24 Set5 crops, and measured once at 32x32
def test_published_weights_are_a_row_run_scored_and_measured_like_a_trained_one(
    fake_sweep: Path, shared_data_dir: Path, tmp_path: Path
) -> None:
    from benchmarks.published_weights import X4PLUS, realesrgan_ncnn_model
    from tests.test_ncnn_oracle import write_set5_crops

    write_set5_crops(shared_data_dir, tmp_path / "data" / "benchmark", name="Set5")  # the profile's Set5: crops
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE + f"data_root: {tmp_path / 'data'}\n")
    param = realesrgan_ncnn_model(X4PLUS)
    args = ["--profile", str(profile), "--collect", str(fake_sweep), "--output", str(tmp_path / "out")]
    paths = run(parse_args([*args, "--work-dir", str(tmp_path / "work"), "--weights", f"realesrgan_x4plus:4={param}"]))

    board = json.loads(paths["leaderboard.json"].read_text())
    rows = {row["model"]: row for row in board["rows"]}
    assert list(rows) == ["bicubic", "srcnn", "realesrgan_x4plus"]
    published = rows["realesrgan_x4plus"]
    assert published["published"] is True and rows["srcnn"]["published"] is False
    assert published["parameters"] == 16_697_987 and published["macs"] > 10**10
    assert published["latency_ms"] > 0 and published["peak_memory_bytes"] > 0 and published["machine"]
    assert published["sets"]["Set5"]["count"] == 5 and 20 < published["sets"]["Set5"]["psnr"] < 35
    assert "ncnn file realesrgan-x4plus.param" in published["architecture"]
    markdown = paths["leaderboard.md"].read_text()
    assert "| realesrgan_x4plus (published weights) | x4 |" in markdown
    assert markdown.count("not trained here") >= 4  # training data, budget, training time, seed
    assert any("(published weights) run weights trained elsewhere" in note for note in board["notes"])
    assert len(list((tmp_path / "out" / "visual").glob("*.png"))) == 4  # HR, bicubic, srcnn, x4plus


def test_a_malformed_or_missing_weights_file_is_one_sentence(tmp_path: Path) -> None:
    from benchmarks.run import parse_weights

    with pytest.raises(SISRError, match="is not NAME:SCALE=FILE"):
        parse_weights("esrgan=weights.pth")
    with pytest.raises(SISRError, match="does not exist; give a weight file sisr reads"):
        parse_weights(f"esrgan:4={tmp_path / 'missing.pth'}")
    (tmp_path / "w.param").write_text("7767517\n")
    assert parse_weights(f"esrgan:4={tmp_path / 'w.param'}").scale == 4


def test_no_training_scores_only_the_published_rows_next_to_bicubic(shared_data_dir: Path, tmp_path: Path) -> None:
    from sisr.models.rrdbnet import RRDBNet

    weights = tmp_path / "tiny_rrdb_x4.pth"
    torch.manual_seed(0)
    torch.save(RRDBNet(num_features=8, num_blocks=1, growth_channels=4, scale=4).state_dict(), weights)
    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    args = ["--profile", str(profile), "--no-training", "--output", str(tmp_path / "out"), "--work-dir", str(tmp_path / "work")]
    paths = run(parse_args([*args, "--weights", f"tiny_rrdb:4={weights}"]))
    board = json.loads(paths["leaderboard.json"].read_text())
    assert [(row["model"], row["published"]) for row in board["rows"]] == [("bicubic", False), ("tiny_rrdb", True)]
    assert board["rows"][1]["sets"]["Set5"]["count"] == 5
    assert not (tmp_path / "work" / "train").exists()  # the profile's srcnn job was neither trained nor collected
    assert board["description"].startswith("Published weights and external outputs only (--no-training)")
    with pytest.raises(SISRError, match="--no-training scores only --weights and --external rows"):
        run(parse_args([*args]))
