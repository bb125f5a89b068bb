"""End-to-end CPU smoke runs of every model config: train, validate per set, checkpoint, resume, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from sisr.weights.checkpoints import load_generator
from sisr.core.evaluation import evaluate
from sisr.core.training import train
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides, trainable_models

@pytest.mark.parametrize("model", trainable_models())
def test_every_model_trains_validates_and_checkpoints(model: str, compose_train) -> None:
    cfg = compose_train([f"model={model}", *SMOKE_OVERRIDES, *tiny_overrides(model)])
    summary = train(cfg)

    run_dir = Path(cfg.paths.output_dir)
    assert summary["batches"] == 2
    assert set(summary["val"]) >= {"val/Sample/psnr", "val/Sample/ssim", "val/Sample/psnr_rgb", "val/psnr"}
    assert all(torch.isfinite(torch.tensor(v)) for v in summary["val"].values())
    assert Path(summary["last_checkpoint"]).is_file()
    assert json.loads((run_dir / "metrics.json").read_text())["config_hash"] == summary["config_hash"]
    saved = OmegaConf.load(run_dir / "config.yaml")  # the resolved config: no interpolations left
    assert saved.data.root == cfg.data.root and "${" not in (run_dir / "config.yaml").read_text()
    assert (run_dir / "csv" / "metrics.csv").is_file()
    assert any((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_validation_metric_equals_sisr_eval_on_the_checkpoint(compose_train, tmp_path: Path) -> None:
    # Validate on the whole Sample set (2 images) so that training and sisr.eval score the same images.
    overrides = [*SMOKE_OVERRIDES, *tiny_overrides("srresnet"), "data.val_max_images=null", "test_after_fit=false"]
    summary = train(compose_train(["model=srresnet", *overrides]))

    eval_cfg = compose_train(
        [f"ckpt_path={summary['last_checkpoint']}", "data.test_sets=[Sample]"],
        config_name="eval",
        run="eval",
    )
    results = evaluate(eval_cfg)
    assert results["scale"] == 4
    assert results["sets"]["Sample"]["psnr"] == pytest.approx(summary["val"]["val/Sample/psnr"], abs=1e-3)
    assert results["sets"]["Sample"]["ssim"] == pytest.approx(summary["val"]["val/Sample/ssim"], abs=1e-5)


def test_generator_is_rebuilt_from_the_config_saved_in_the_checkpoint(compose_train) -> None:
    cfg = compose_train(["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "test_after_fit=false"])
    summary = train(cfg)
    generator, config = load_generator(summary["last_checkpoint"])
    assert type(generator).__name__ == "SRCNN"
    assert generator.extract.out_channels == 8
    assert config["model"]["generator"]["num_features"] == 8


def test_interrupted_run_resumes_from_its_last_checkpoint(compose_train) -> None:
    base = ["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "test_after_fit=false"]
    first = train(compose_train(base))
    resumed = train(compose_train([*base, "trainer.max_steps=4", "budget_cap=4", f"ckpt_path={first['last_checkpoint']}"], run="resumed"))
    assert first["global_step"] == 2
    assert resumed["global_step"] == 4
    assert resumed["seed"] == first["seed"]  # the seed actually used: the stream resumes where it stopped
    assert resumed["resumed_from"] == first["last_checkpoint"] and first["resumed_from"] is None
    assert first["status"] == resumed["status"] == "completed"


def test_a_save_interrupted_mid_write_leaves_the_previous_checkpoint_intact(
    compose_train, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "test_after_fit=false", "logger=none"]
    first = train(compose_train(base))
    last = Path(first["last_checkpoint"])
    before = last.read_bytes()

    def interrupted_save(obj: object, f: object, *args: object, **kwargs: object) -> None:
        f.write(b"partial")  # type: ignore[attr-defined]
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(torch, "save", interrupted_save)  # what Lightning serialises checkpoints with
    resume = [
        *base,
        "trainer.max_steps=4",
        "budget_cap=4",
        f"ckpt_path={last}",
        f"callbacks.model_checkpoint.dirpath={last.parent}",
        f"callbacks.best_checkpoint.dirpath={last.parent}",
    ]
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train(compose_train(resume, run="resumed"))
    assert last.read_bytes() == before
    assert sorted(p.name for p in last.parent.iterdir()) == sorted([last.name, Path(first["best_checkpoint"]).name])


@pytest.mark.parametrize("experiment, train_set, val_set", [("demo", "sample", "Sample"), ("cpu_srresnet", "sun_hays80", "Set5")])
def test_single_stage_experiments_run_end_to_end(compose_train, experiment: str, train_set: str, val_set: str) -> None:
    # The same configs as the README's runs, shortened to two batches and one test set.
    overrides = [
        f"experiment={experiment}",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "data.num_workers=0",
        "data.val_max_images=2",
        f"data.test_sets=[{val_set}]",
    ]
    summary = train(compose_train(overrides))
    assert summary["batches"] == 2
    assert summary["train_set"] == train_set
    assert {f"val/{val_set}/psnr", f"val/{val_set}/ssim"} <= set(summary["val"])
    assert {f"test/{val_set}/psnr", f"test/{val_set}/ssim"} <= set(summary["test"])
