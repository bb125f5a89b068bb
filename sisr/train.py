"""Train an SR model: `python -m sisr.train model=<srcnn|srresnet|rrdb|srgan|esrgan> data=<div2k|shared|sample>`.

`train(cfg)` is a plain function (tests call it with a composed config); `main` is the thin Hydra wrapper.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor

from sisr.checkpoints import read_checkpoint
from sisr.cli import run_reporting_user_errors, to_container, write_json
from sisr.errors import SISRError
from sisr.lit.base import SRModule
from sisr.models.common import count_parameters
from sisr.provenance import config_hash, git_commit, machine_name

log = logging.getLogger(__name__)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group that maps names to objects (callbacks, loggers)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry is not None and "_target_" in entry]


def hydra_choices() -> dict[str, str]:
    """The config-group choices of this run (model=..., data=...), when run under Hydra."""
    if not HydraConfig.initialized():
        return {}
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if v is not None and "hydra" not in k}


def build_trainer(cfg: DictConfig, model: SRModule, callbacks: list[Any], loggers: list[Any]) -> pl.Trainer:
    """The Trainer of `cfg.trainer`, with its batch budget converted to optimizer steps for this model."""
    steps_per_batch = model.optimizer_steps_per_batch
    max_steps = cfg.trainer.get("max_steps", -1)
    overrides: dict[str, Any] = {}
    if max_steps and max_steps > 0 and steps_per_batch != 1:
        overrides["max_steps"] = max_steps * steps_per_batch
        log.info("%d batches = %d optimizer steps (%d per batch)", max_steps, max_steps * steps_per_batch, steps_per_batch)
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)


def resume_seed(cfg: DictConfig) -> int:
    """The run's seed, offset by the resumed checkpoint's step so a resumed run does not replay its first crops."""
    if not cfg.get("ckpt_path"):
        return int(cfg.seed)
    return int(cfg.seed) + int(read_checkpoint(cfg.ckpt_path).get("global_step", 0))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Train, validate and (optionally) test the final weights of the model described by `cfg`; return the summary.

    The summary is also written to `<output_dir>/metrics.json`; checkpoints go to `<output_dir>/checkpoints/`.
    """
    resolved = to_container(cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(resolved, output_dir / "config.yaml")  # .hydra/config.yaml keeps the interpolations
    pl.seed_everything(resume_seed(cfg), workers=True)

    datamodule = instantiate(cfg.data, _convert_="all")
    model: SRModule = instantiate(cfg.model)
    if not isinstance(model, SRModule):
        raise SISRError(f"model._target_ must build an sisr.lit SRModule, got {type(model).__name__}.")
    model.run_config = resolved
    loggers = instantiate_all(cfg.get("logger"))
    callbacks = instantiate_all(cfg.get("callbacks"))
    if not loggers:  # logger=none: the learning-rate monitor has nowhere to write
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer = build_trainer(cfg, model, callbacks, loggers)

    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    train_seconds = time.perf_counter() - started
    val_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}

    checkpoint = trainer.checkpoint_callback
    best = getattr(checkpoint, "best_model_path", "") or None
    last = getattr(checkpoint, "last_model_path", "") or None
    test_metrics: dict[str, float] = {}
    if cfg.get("test_after_fit") and datamodule.test_set_names and not trainer.fast_dev_run:
        # The final weights, as the papers report: the best-validation checkpoint would be selected on the test
        # sets whenever they double as validation sets (data=div2k, data=shared).
        trainer.test(model, datamodule=datamodule, verbose=False)
        test_metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}

    summary = {
        "choices": hydra_choices(),
        "config_hash": config_hash(resolved),
        "git_commit": git_commit(cfg.paths.root_dir),
        "seed": cfg.seed,
        "scale": cfg.data.scale,
        "train_set": cfg.data.train,
        "batches": trainer.global_step // model.optimizer_steps_per_batch,
        "global_step": trainer.global_step,
        "train_seconds": train_seconds,
        "machine": machine_name(model.device),
        "parameters": count_parameters(model.generator),
        "val": val_metrics,
        "test": test_metrics,
        "best_checkpoint": best,
        "last_checkpoint": last,
    }
    write_json(output_dir / "metrics.json", summary)
    print(f"\nRun folder: {output_dir}")
    if best or last:
        print(f"Checkpoints: {Path(best or last).parent}")
    print(f"Metrics: {output_dir / 'metrics.json'} (CSV and TensorBoard logs beside it)")
    return summary


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the mean validation PSNR (for sweepers)."""
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    if cfg.get("pretrain"):  # two-stage experiments (srgan_x4, esrgan_x4): PSNR pre-training, then the GAN
        from sisr.stages import run_stages  # imported here: sisr.stages builds on train()

        summary = run_reporting_user_errors(run_stages, cfg)["stage2"]
    else:
        summary = run_reporting_user_errors(train, cfg)
    return summary["val"].get("val/psnr")


if __name__ == "__main__":
    main()
