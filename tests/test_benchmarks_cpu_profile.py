"""The CPU profile (real training within stated budgets), jobs that need VGG19 and are skipped without it, and the
learning curves every row carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.leaderboard.assemble import network_description
from benchmarks.leaderboard.collect import learning_curve
from benchmarks.leaderboard.plots import learning_curves
from benchmarks.leaderboard.profile import load_profile, runnable_jobs, unmet_requirement
from benchmarks.leaderboard.report import to_markdown
from sisr.plumbing.errors import SISRError
from sisr.losses.vgg import RANDOM_INIT_FOR_TESTS, imagenet_cache_path
from tests.test_benchmarks_profile import compose_job
from tests.test_benchmarks_table import board_with_rows

BUDGET_PER_ROW_MINUTES, BUDGET_IN_ALL_MINUTES = 20, 75


def minutes(max_time: str) -> float:
    """Lightning's "DD:HH:MM:SS" in minutes."""
    days, hours, mins, secs = (int(part) for part in max_time.split(":"))
    return days * 1440 + hours * 60 + mins + secs / 60


def test_cpu_profile_pixel_rows_fit_the_stated_budgets() -> None:
    """Every pixel job of the CPU profile has a hard time limit of at most 20 minutes per (job, scale) and 75 in
    all, trains on the shipped data and is scored on Set5, Set14 and BSD100."""
    profile = load_profile("cpu")
    assert profile.test_sets == ["Set5", "Set14", "BSD100"]
    pixel_jobs = [job for job in profile.jobs if not job.requires]
    assert {job.name for job in pixel_jobs} == {"srcnn", "srresnet", "rrdb"}
    total = 0.0
    trained = set()
    for job in pixel_jobs:
        for scale in profile.scales_of(job):
            cfg = compose_job([*profile.train_overrides, *job.overrides, f"data.scale={scale}"])
            limit = minutes(cfg.trainer.max_time)
            assert limit <= BUDGET_PER_ROW_MINUTES, (job.name, scale, cfg.trainer.max_time)
            total += limit
            trained.add((cfg.model.generator._target_.rsplit(".", 1)[-1], scale, cfg.data.train))
    assert total <= BUDGET_IN_ALL_MINUTES
    assert trained == {("SRCNN", 3, "t91"), ("SRCNN", 4, "t91"), ("SRResNet", 4, "sun_hays80"), ("RRDBNet", 4, "sun_hays80")}


def test_cpu_profile_gan_jobs_compose_and_require_vgg19() -> None:
    profile = load_profile("cpu")
    gan_jobs = {job.name: job for job in profile.jobs if job.requires}
    assert set(gan_jobs) == {"srgan", "esrgan"} and all(job.requires == ["vgg19"] for job in gan_jobs.values())
    for job in gan_jobs.values():
        cfg = compose_job([*profile.train_overrides, *job.overrides, "data.scale=4"])
        assert cfg.pretrain.model.generator == cfg.model.generator  # stage 1 trains the GAN's own generator
        assert cfg.model.perceptual_loss.weights == "imagenet"  # never random weights in a real profile


def test_jobs_needing_vgg19_are_skipped_with_the_reason_when_the_weights_are_absent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    profile = load_profile("cpu")
    kept, skipped = runnable_jobs(profile)
    assert [job.name for job in kept.jobs] == ["srcnn", "srresnet", "rrdb"]
    assert [name for name, _ in skipped] == ["srgan", "esrgan"]
    reason = skipped[0][1]
    assert reason.startswith("skipped: VGG19 ImageNet weights are not in the torch hub cache")
    assert str(imagenet_cache_path()) in reason and "model.perceptual_loss.weights=" in reason

    imagenet_cache_path().parent.mkdir(parents=True)
    imagenet_cache_path().write_bytes(b"present")  # only presence is checked here; loading checks the hash
    kept, skipped = runnable_jobs(profile)
    assert skipped == [] and len(kept.jobs) == 5


def test_a_vgg19_weights_override_decides_whether_the_job_runs(tmp_path: Path) -> None:
    profile = load_profile("cpu")
    srgan = next(job for job in profile.jobs if job.name == "srgan")
    weights_file = tmp_path / "vgg19.pth"
    with_file = srgan.__class__(srgan.name, [*srgan.overrides, f"model.perceptual_loss.weights={weights_file}"],
                                requires=srgan.requires)  # fmt: skip
    assert "vgg19.pth" in unmet_requirement(profile, with_file) and "does not exist" in unmet_requirement(profile, with_file)
    weights_file.write_bytes(b"x")
    assert unmet_requirement(profile, with_file) is None
    random_init = srgan.__class__(srgan.name, [*srgan.overrides, f"model.perceptual_loss.weights={RANDOM_INIT_FOR_TESTS}"],
                                  requires=srgan.requires)  # fmt: skip
    assert unmet_requirement(profile, random_init) is None


def test_an_unknown_requirement_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("scales: [4]\ntest_sets: [Set5]\njobs:\n  - {name: a, requires: [gpu], overrides: [model=srcnn]}\n")
    with pytest.raises(SISRError, match=r"jobs\[0\] \(a\) requires gpu, which is not a known requirement"):
        load_profile(str(path))


def write_events(folder: Path, scalars: list[tuple[str, float, int, float]]) -> None:
    """A TensorBoard event file in `folder` holding (tag, value, step, wall time) scalars."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder))
    for tag, value, step, wall_time in scalars:
        writer.add_scalar(tag, value, step, walltime=wall_time)
    writer.close()


def test_learning_curve_reads_every_validation_with_its_wall_minutes(tmp_path: Path) -> None:
    start = 1_000_000.0
    write_events(tmp_path / "tensorboard" / "a", [
        ("train/loss", 0.5, 9, start),
        ("val/psnr", 30.5, 10, start + 75),
        ("train/loss", 0.4, 19, start + 100),
        ("val/psnr", 31.0, 20, start + 150),
    ])  # fmt: skip
    write_events(tmp_path / "tensorboard" / "b", [("val/psnr", 31.5, 20, start + 300)])  # a resume re-validates
    assert learning_curve(tmp_path) == [(10, 1.25, 30.5), (20, 5.0, 31.5)]
    assert learning_curve(tmp_path / "elsewhere") == []


def test_network_description_names_the_class_and_its_widths() -> None:
    config = {"model": {"generator": {"_target_": "sisr.models.srresnet.SRResNet", "in_channels": 3, "out_channels": 3,
                                      "num_features": 48, "num_blocks": 6, "scale": 4}}}  # fmt: skip
    assert network_description(config) == "SRResNet: num_features=48, num_blocks=6"


def test_learning_curves_are_plotted_and_linked_and_skipped_rows_listed(tmp_path: Path) -> None:
    board = board_with_rows()
    assert learning_curves(board, tmp_path / "none.png") is None  # no row logged a curve: nothing written
    assert not (tmp_path / "none.png").exists()
    srcnn = next(row for row in board.rows if row.model == "srcnn")
    srcnn.curve, srcnn.curve_sets = [(1.0, 29.0), (2.0, 29.4)], ["Set5", "Set14"]
    path = learning_curves(board, tmp_path / "curves.png")
    assert path is not None and path.stat().st_size > 10_000
    board.skipped = [("srgan", "skipped: VGG19 ImageNet weights are not in the torch hub cache (...).")]
    text = to_markdown(board, "plot.png", None, path.name)
    assert "## Learning curves" in text and "(curves.png)" in text
    assert "| srgan | skipped: VGG19 ImageNet weights are not in the torch hub cache (...). |" in text
    assert json.loads(json.dumps(board.to_dict()))["skipped"] == [{"job": "srgan", "reason": board.skipped[0][1]}]


def test_the_committed_cpu_leaderboard_beats_bicubic_on_every_set_in_every_row() -> None:
    """benchmarks/results/cpu/ (README, "CPU leaderboard"): each trained row above bicubic at its scale, every set,
    every row scored on the images the sets hold, trained within the stated budgets."""
    board = json.loads((Path(__file__).resolve().parents[1] / "benchmarks/results/cpu/leaderboard.json").read_text())
    bicubic = {row["scale"]: row["sets"] for row in board["rows"] if row["model"] == "bicubic"}
    trained = [row for row in board["rows"] if row["model"] != "bicubic"]
    assert {(row["model"], row["scale"]) for row in trained} == {("srcnn", 3), ("srcnn", 4), ("srresnet", 4), ("rrdb", 4)}
    for row in trained:
        assert row["train_seconds"] <= BUDGET_PER_ROW_MINUTES * 60
        for set_name, count in (("Set5", 5), ("Set14", 14), ("BSD100", 100)):
            assert row["sets"][set_name]["count"] == count
            assert row["sets"][set_name]["psnr"] > bicubic[row["scale"]][set_name]["psnr"], (row["model"], set_name)
    assert sum(row["train_seconds"] for row in trained) <= BUDGET_IN_ALL_MINUTES * 60
    assert [item["job"] for item in board["skipped"]] in ([], ["srgan", "esrgan"])
