"""SRGAN / ESRGAN configs and the two-stage experiments (PSNR pre-training, then GAN) as CPU smoke runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import Callback

from sisr.plumbing.errors import SISRError
from sisr.core.stages import STAGE1_DIR, STAGE2_DIR, run_stages, stage1_config
from sisr.core.training import train
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides

EXPERIMENTS = {"srgan_x4": "srgan", "esrgan_x4": "esrgan"}
PROBE = ["+callbacks.fit_start_probe._target_=tests.test_stages.FitStartProbe"]
# The experiments set paper-scale budgets; debug=smoke (in SMOKE_OVERRIDES) caps both stages at two batches.
QUICK = ["logger=csv", "test_after_fit=false"]


pytestmark = pytest.mark.usefixtures("single_thread")


class FitStartProbe(Callback):
    """Records the generator weights every run starts training from (class-level: Hydra builds the instances)."""

    records: list[dict[str, Any]] = []

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        FitStartProbe.records.append(
            {
                "module": type(module).__name__,
                "output_dir": str(trainer.default_root_dir),
                "generator": {key: value.clone() for key, value in module.generator.state_dict().items()},
            }
        )


@pytest.fixture()
def probe() -> list[dict[str, Any]]:
    FitStartProbe.records = []
    return FitStartProbe.records


def checkpoint_generator(path: str) -> dict[str, torch.Tensor]:
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    return {key.removeprefix("generator."): value for key, value in state.items() if key.startswith("generator.")}


# ----------------------------------------------------------------------------------------------- configs
def test_paper_settings_in_the_model_configs(compose_train) -> None:
    srgan = compose_train(["model=srgan"]).model
    assert srgan.perceptual_loss.layer_weights == {"conv5_4": 1.0}
    assert srgan.perceptual_loss.before_activation is False and srgan.perceptual_loss.criterion == "mse"
    assert srgan.perceptual_loss.feature_scale == pytest.approx(1 / 12.75)
    assert (srgan.adversarial_loss.kind, srgan.adversarial_weight, srgan.pixel_weight) == ("vanilla", 1e-3, 0.0)
    assert srgan.optimizer_g.lr == srgan.optimizer_d.lr == 1e-4
    assert srgan.scheduler_g.milestones == [100000] and srgan.scheduler_g.gamma == 0.1
    assert srgan.perceptual_loss.weights == "imagenet"

    esrgan = compose_train(["model=esrgan"]).model
    assert esrgan.perceptual_loss.before_activation is True and esrgan.perceptual_loss.criterion == "l1"
    assert (esrgan.adversarial_loss.kind, esrgan.adversarial_weight) == ("relativistic_average", 5e-3)
    assert (esrgan.pixel_loss.criterion, esrgan.pixel_weight, esrgan.perceptual_weight) == ("l1", 1e-2, 1.0)
    assert esrgan.scheduler_d.milestones == [50000, 100000, 200000, 300000] and esrgan.scheduler_d.gamma == 0.5
    assert list(esrgan.optimizer_g.betas) == [0.9, 0.999]


@pytest.mark.parametrize(
    ("experiment", "patch", "criterion", "lr"), [("srgan_x4", 96, "mse", 1e-4), ("esrgan_x4", 128, "l1", 2e-4)]
)
def test_experiment_composes_both_stages(compose_train, experiment: str, patch: int, criterion: str, lr: float) -> None:
    cfg = compose_train([f"experiment={experiment}", "model.generator.num_blocks=3"])
    assert cfg.data.scale == 4 and cfg.data.patch_size == patch and cfg.data.batch_size == 16
    assert cfg.model.discriminator.input_size == patch
    stage1 = stage1_config(cfg, Path("/runs/x/stage1"))
    assert stage1.model._target_ == "sisr.lit.pixel.PixelSRModule"
    assert stage1.model.generator == OmegaConf.to_container(cfg.model.generator, resolve=True)
    assert stage1.model.generator.num_blocks == 3  # a width/depth override reaches both stages
    assert (stage1.model.loss.criterion, stage1.model.optimizer.lr) == (criterion, lr)
    assert stage1.trainer.max_steps == 1_000_000 and stage1.test_after_fit is False
    assert stage1.paths.output_dir == "/runs/x/stage1" and stage1.pretrain is None
    assert stage1.callbacks.model_checkpoint.dirpath == "/runs/x/stage1/checkpoints"


def test_stages_need_a_gan_model_and_a_checkpoint_callback(compose_train) -> None:
    with pytest.raises(SISRError, match="model=srgan or model=esrgan"):
        run_stages(compose_train(["experiment=srgan_x4", "model=srresnet"]))
    with pytest.raises(SISRError, match="hands stage 1's final weights over through last.ckpt.*callbacks=default"):
        run_stages(compose_train(["experiment=srgan_x4", "callbacks=none"]))


# ----------------------------------------------------------------------------------------------- smoke runs
@pytest.mark.parametrize("model", ["srgan", "esrgan"])
def test_single_stage_gan_smoke(compose_train, model: str) -> None:
    single = [f"model={model}", "model.pretrained_generator=null", "logger=csv", "test_after_fit=false"]
    cfg = compose_train([*single, *SMOKE_OVERRIDES, *tiny_overrides(model)])
    summary = train(cfg)
    assert summary["batches"] == 2 and summary["global_step"] == 4  # one G and one D step per batch
    assert torch.isfinite(torch.tensor(summary["val"]["val/psnr"]))
    assert Path(summary["last_checkpoint"]).is_file()


@pytest.mark.parametrize("experiment", ["srgan_x4", "esrgan_x4"])
def test_two_stage_experiment_chains_stage2_onto_stage1(compose_train, probe, experiment: str) -> None:
    model = EXPERIMENTS[experiment]
    overrides = [f"experiment={experiment}", *SMOKE_OVERRIDES, *tiny_overrides(model), *QUICK, *PROBE]
    cfg = compose_train(overrides)
    run_dir = Path(cfg.paths.output_dir)
    result = run_stages(cfg)

    stage1, stage2 = result["stage1"], result["stage2"]
    assert (stage1["batches"], stage1["global_step"]) == (2, 2)
    assert (stage2["batches"], stage2["global_step"]) == (2, 4)
    assert result["pretrained_generator"] == stage1["last_checkpoint"]  # the final weights are handed over
    assert Path(stage1["last_checkpoint"]) == run_dir / STAGE1_DIR / "checkpoints" / "last.ckpt"
    assert stage1["choices"]["model"] == ("srresnet" if model == "srgan" else "rrdb")
    assert Path(stage2["last_checkpoint"]).parent == run_dir / STAGE2_DIR / "checkpoints"
    assert json.loads((run_dir / "stages.json").read_text()) == json.loads(json.dumps(result))
    assert (run_dir / STAGE1_DIR / "metrics.json").is_file() and (run_dir / STAGE2_DIR / "metrics.json").is_file()

    # stage 1 trained the pixel-loss model with the tiny generator; stage 2 started from its weights
    stage1_config_saved = torch.load(stage1["last_checkpoint"], map_location="cpu", weights_only=True)["sisr_config"]
    assert stage1_config_saved["model"]["_target_"] == "sisr.lit.pixel.PixelSRModule"
    assert stage1_config_saved["model"]["generator"]["num_features"] == 8
    assert [record["module"] for record in probe] == ["PixelSRModule", "AdversarialSRModule"]
    initial, start_of_gan = probe[0]["generator"], probe[1]["generator"]
    assert probe[1]["output_dir"] == str(run_dir / STAGE2_DIR)
    expected = checkpoint_generator(result["pretrained_generator"])
    assert start_of_gan.keys() == expected.keys()
    assert all(torch.equal(start_of_gan[key], value) for key, value in expected.items())
    assert any(not torch.equal(initial[key], value) for key, value in expected.items())  # stage 1 did train


def test_restart_reuses_stage1_and_a_given_generator_skips_it(compose_train, probe) -> None:
    overrides = ["experiment=srgan_x4", *SMOKE_OVERRIDES, *tiny_overrides("srgan"), *QUICK, *PROBE]
    first = run_stages(compose_train(overrides))
    stage1_checkpoint = Path(first["pretrained_generator"])
    stamp = stage1_checkpoint.stat().st_mtime_ns

    # Same run folder again: stage 1 is reused (not retrained), stage 2 resumes from its last checkpoint.
    probe.clear()
    again = run_stages(compose_train(overrides))
    assert again["stage1"] == first["stage1"] and stage1_checkpoint.stat().st_mtime_ns == stamp
    assert [record["module"] for record in probe] == ["AdversarialSRModule"]
    assert again["stage2"]["global_step"] == 4

    # A different recipe in the same folder is refused rather than silently reusing stale weights.
    with pytest.raises(SISRError, match="different config"):
        run_stages(compose_train([*overrides, "pretrain.model.optimizer.lr=0.5"]))

    # model.pretrained_generator given: no stage 1 at all.
    probe.clear()
    skipped = run_stages(compose_train([*overrides, f"model.pretrained_generator={stage1_checkpoint}"], run="given"))
    run_dir = Path(skipped["stage2"]["last_checkpoint"]).parents[2]
    assert skipped["stage1"] is None and skipped["pretrained_generator"] == str(stage1_checkpoint)
    assert not (run_dir / STAGE1_DIR).exists()
    assert [record["module"] for record in probe] == ["AdversarialSRModule"]
    expected = checkpoint_generator(str(stage1_checkpoint))
    assert all(torch.equal(probe[0]["generator"][key], value) for key, value in expected.items())
