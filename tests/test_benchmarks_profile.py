"""Benchmark profiles, the training jobs they become, and how their runs are found and ordered."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

import sisr
from benchmarks import leaderboard
from benchmarks.leaderboard.collect import TrainedRun, find_runs, in_profile_order, select_runs
from benchmarks.leaderboard.profile import PROFILES_DIR, job_name, load_profile
from benchmarks.leaderboard.score import CONF_DIR
from benchmarks.leaderboard.train import quote_override_value, train_command
from sisr.plumbing.errors import SISRError
from sisr.core.stages import stage1_config
from sisr.core.training import capped_budget
from tests.configs import job_models, trainable_models


def test_tiny_profile_trains_every_model_config_once_on_the_shared_sets() -> None:
    # The CI leaderboard smoke-tests every trainable model config: a new one needs a job (a line) in the profile.
    profile = load_profile("tiny")
    trained = [model for job in profile.jobs for model in job_models(job.overrides)]
    assert sorted(trained) == trainable_models()
    assert profile.test_sets == ["Set5", "Set14"]
    assert 4 in profile.scales
    assert "data=sample" in profile.train_overrides


def test_profiles_and_configs_come_from_the_packages_and_cite_no_machine_paths() -> None:
    assert PROFILES_DIR == Path(leaderboard.__file__).resolve().parent / "profiles"
    assert CONF_DIR == Path(sisr.__file__).resolve().parent / "conf"  # the package's configs, not a checkout's
    for path in [*PROFILES_DIR.glob("*.yaml"), PROFILES_DIR.parent / "paper_results.yaml"]:
        assert "/work/" not in path.read_text(), path


def compose_job(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.mark.parametrize("name", ["tiny", "full"])
def test_every_profile_job_composes_with_the_train_config(name: str) -> None:
    """Each (job, scale) of a profile is a valid `sisr.train` override list (checked by composing it)."""
    profile = load_profile(name)
    for job in profile.jobs:
        for scale in profile.scales_of(job):
            cfg = compose_job([*profile.train_overrides, *job.overrides, f"data.scale={scale}"])
            assert cfg.data.scale == scale
            assert cfg.test_after_fit is False
            assert cfg.model.get("pretrained_generator") is None  # GANs start from their own stage 1


def job_config(profile_name: str, job: str, compose_train):
    profile = load_profile(profile_name)
    overrides = next(j.overrides for j in profile.jobs if j.name == job)
    return compose_train([*profile.train_overrides, *overrides, "data.scale=4"], run=f"{profile_name}-{job}")


def test_tiny_two_stage_jobs_train_both_stages_small(compose_train, tmp_path: Path) -> None:
    for job, stage1_model in (("srgan", "SRResNet"), ("esrgan", "RRDBNet")):
        cfg = job_config("tiny", job, compose_train)
        assert capped_budget(cfg, cfg.trainer.max_steps) == 4  # stage 2 (GAN) batches
        stage1 = stage1_config(cfg, tmp_path / job / "stage1_psnr")
        assert capped_budget(stage1, stage1.trainer.max_steps) == 16  # budget_cap
        assert stage1.model.generator._target_.endswith(stage1_model)
        assert stage1.model.generator.num_features == cfg.model.generator.num_features == 16
        assert stage1.model.optimizer.lr == 1e-3


def test_full_profile_is_the_paper_recipe(compose_train, tmp_path: Path) -> None:
    profile = load_profile("full")
    assert profile.test_sets == ["Set5", "Set14", "BSD100"]
    srcnn = next(job for job in profile.jobs if job.name == "srcnn")
    assert profile.scales_of(srcnn) == [2, 3, 4]
    assert "data=div2k" in profile.train_overrides
    srgan = job_config("full", "srgan", compose_train)
    assert (srgan.data.patch_size, srgan.data.batch_size, srgan.trainer.max_steps) == (96, 16, 200000)
    assert srgan.pretrain.max_steps == 1000000  # SRGAN paper: SRResNet trained with 1e6 updates
    esrgan = job_config("full", "esrgan", compose_train)
    assert (esrgan.data.patch_size, esrgan.trainer.max_steps, esrgan.pretrain.max_steps) == (128, 400000, 1000000)


def test_restricting_a_profile_keeps_order_and_rejects_unknown_jobs() -> None:
    profile = load_profile("tiny").restricted(["esrgan", "srcnn"], [4])
    assert [job.name for job in profile.jobs] == ["srcnn", "esrgan"]
    assert all(profile.scales_of(job) == [4] for job in profile.jobs)
    with pytest.raises(SISRError, match="has no job srresnet; choose from srcnn, srgan, esrgan"):
        load_profile("tiny").restricted(["srresnet"])


def test_bad_profiles_get_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(SISRError, match="not found"):
        load_profile("no-such-profile")
    path = tmp_path / "p.yaml"
    path.write_text("scales: [4]\ntest_sets: [Set5]\njobs:\n  - name: srcnn\n    overrides: [trainer.max_steps=2]\n")
    with pytest.raises(SISRError, match=r"jobs\[0\] \(srcnn\) needs a 'model=<config>' or 'experiment=<config>'"):
        load_profile(str(path))
    path.write_text("test_sets: [Set5]\njobs:\n  - {name: srcnn, overrides: [model=srcnn]}\n")
    with pytest.raises(SISRError, match="key 'scales' is missing"):
        load_profile(str(path))
    path.write_text("scales: [4]\ntest_sets: [Set5]\nmodels: [{name: srcnn, overrides: [model=srcnn]}]\n")
    with pytest.raises(SISRError, match="key 'jobs' is missing"):
        load_profile(str(path))
    path.write_text("scales: [4]\ntest_sets: [Set5]\njobs: [{name: a, overrides: [model=srcnn]}]\nvisual: {crop: 3}\n")
    with pytest.raises(SISRError, match="unknown key in 'measure' or 'visual'"):
        load_profile(str(path))


def test_train_command_is_a_one_job_multirun_into_the_sweep(tmp_path: Path) -> None:
    profile = load_profile("tiny")
    srgan = next(job for job in profile.jobs if "experiment=srgan_x4" in job.overrides)
    command = train_command(profile, srgan, 4, tmp_path / "my sweep")
    assert command[:4] == [sys.executable, "-m", "sisr.train", "--multirun"]
    assert f"hydra.sweep.dir='{tmp_path / 'my sweep'}'" in command
    assert "hydra.sweep.subdir=srgan_x4" in command
    assert command.index("experiment=srgan_x4") > command.index("data=sample")  # job overrides after the shared ones
    assert "data.scale=4" in command
    assert not any("checkpoint" in part for part in command)  # stage 1 hands over inside the job (sisr.core.stages)
    assert job_name("srgan", 4) == "srgan_x4"
    assert quote_override_value("/a/it's=1.ckpt") == "'/a/it\\'s=1.ckpt'"


# ----------------------------------------------------------------------------------- collecting run folders
def fake_run(run_dir: Path, model: str, status: str = "completed", checkpoint: bool = True) -> Path:
    (run_dir / "checkpoints").mkdir(parents=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    if checkpoint:
        last.write_bytes(b"")
    metrics = {"scale": 4, "choices": {"model": model}, "status": status, "last_checkpoint": str(last)}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def test_runs_that_did_not_complete_or_lack_last_ckpt_are_errors_naming_the_folder(tmp_path: Path) -> None:
    interrupted = fake_run(tmp_path / "a" / "srgan_x4" / "stage2_gan", "srgan", status="interrupted")
    with pytest.raises(SISRError, match=f"run {interrupted} did not complete .*status: interrupted"):
        find_runs(tmp_path / "a")
    no_last = fake_run(tmp_path / "b" / "0", "srcnn", checkpoint=False)
    (no_last / "checkpoints" / "best-batch0000002.ckpt").write_bytes(b"")  # never scored instead of last.ckpt
    with pytest.raises(SISRError, match=f"run {no_last} has no last.ckpt"):
        find_runs(tmp_path / "b")


def run_of(model: str, run_dir: Path) -> TrainedRun:
    return TrainedRun(run_dir=run_dir, model=model, scale=4, checkpoint=run_dir / "last.ckpt", metrics={}, config={})


def test_runs_are_ordered_by_profile_job_with_stage1_first(tmp_path: Path) -> None:
    profile = load_profile("tiny")
    folders = [
        ("esrgan_x4/stage1_psnr", "rrdb"),
        ("esrgan_x4/stage2_gan", "esrgan"),
        ("other/0", "edsr"),
        ("srcnn_x4", "srcnn"),
        ("srgan_x4/stage1_psnr", "srresnet"),
        ("srgan_x4/stage2_gan", "srgan"),
    ]
    runs = [run_of(model, tmp_path / folder) for folder, model in folders]  # folder (find_runs) order
    ordered = in_profile_order(runs, profile, tmp_path)
    assert [run.model for run in ordered] == ["srcnn", "srresnet", "srgan", "rrdb", "esrgan", "edsr"]
    assert [run.model for run in select_runs(runs, ["srresnet", "srgan"], [4])] == ["srresnet", "srgan"]
    with pytest.raises(SISRError, match="no run matches --models srcnn and --scales \\[2\\]"):
        select_runs(runs, ["srcnn"], [2])
