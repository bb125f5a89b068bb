"""Two-stage GAN training in one run: PSNR-oriented pre-training, then adversarial fine-tuning from it.

SRGAN (Ledig et al., CVPR 2017) starts from an MSE-trained SRResNet and ESRGAN (Wang et al., ECCV-W 2018)
from an L1-trained RRDBNet. An experiment holds stage 1 in its `pretrain:` block (a pixel-loss model config
whose generator interpolates `${model.generator}`, and a batch budget `max_steps`); `run_stages` trains it
under `<output_dir>/stage1_psnr`, then trains `model` under `<output_dir>/stage2_gan` starting from stage 1's
best (else last) checkpoint, and writes both summaries to `<output_dir>/stages.json`.

Restarting a run in the same output folder reuses a finished stage 1 and resumes an interrupted stage from
its last checkpoint.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from sisr.cli import to_container, write_json
from sisr.errors import SISRError
from sisr.provenance import config_hash
from sisr.train import train

log = logging.getLogger(__name__)

STAGE1_DIR = "stage1_psnr"
STAGE2_DIR = "stage2_gan"
LAST_CHECKPOINT = "last.ckpt"  # ModelCheckpoint's name for its save_last file


def run_stages(cfg: DictConfig) -> dict[str, Any]:
    """Run stage 1 (`cfg.pretrain`) unless `cfg.model.pretrained_generator` is set, then stage 2 (`cfg.model`) from it.

    Args:
        cfg: a composed train config with a `pretrain` block (see conf/experiment/srgan_x4.yaml).

    Returns:
        {"pretrained_generator": checkpoint stage 2 started from, "stage1": summary or None, "stage2": summary}.
    """
    if "pretrained_generator" not in cfg.model:
        raise SISRError(
            "`pretrain` needs a GAN model that starts from a pretrained generator (model=srgan or model=esrgan); "
            "set pretrain=null to train this model in one stage."
        )
    output_dir = Path(cfg.paths.output_dir)
    stage1: dict[str, Any] | None = None
    pretrained = cfg.model.get("pretrained_generator")
    if pretrained:
        log.info("model.pretrained_generator=%s: skipping stage 1 (PSNR pre-training)", pretrained)
    else:
        stage1, pretrained = _run_stage1(cfg, output_dir / STAGE1_DIR)

    stage2_cfg = _stage_config(cfg, output_dir / STAGE2_DIR)
    with open_dict(stage2_cfg):
        stage2_cfg.model.pretrained_generator = str(pretrained)
        stage2_cfg.ckpt_path = cfg.get("ckpt_path") or _last_checkpoint(stage2_cfg)
    log.info("stage 2 (GAN) from %s -> %s", pretrained, output_dir / STAGE2_DIR)
    stage2 = train(stage2_cfg)

    result = {"pretrained_generator": str(pretrained), "stage1": stage1, "stage2": stage2}
    write_json(output_dir / "stages.json", result)
    return result


def _run_stage1(cfg: DictConfig, stage_dir: Path) -> tuple[dict[str, Any], str]:
    """Train (or reuse) the PSNR-oriented generator; return its summary and the checkpoint to start stage 2 from."""
    stage_cfg = stage1_config(cfg, stage_dir)
    if _checkpoint_dir(stage_cfg) is None:
        raise SISRError(
            "two-stage training hands stage 1's weights over through a checkpoint, but no ModelCheckpoint callback "
            "is configured; use callbacks=default."
        )
    finished = _finished_summary(stage_cfg, stage_dir)
    if finished is not None:
        summary = finished
        log.info("stage 1 already finished in %s: reusing it", stage_dir)
    else:
        with open_dict(stage_cfg):
            stage_cfg.ckpt_path = _last_checkpoint(stage_cfg)
        log.info("stage 1 (PSNR pre-training, %d batches) -> %s", stage_cfg.trainer.max_steps, stage_dir)
        summary = train(stage_cfg)
    checkpoint = _handover_checkpoint(summary)
    if checkpoint is None:
        raise SISRError(
            f"stage 1 in {stage_dir} left no checkpoint to start stage 2 from; "
            "check that the ModelCheckpoint callback saves (save_last: true)."
        )
    return summary, checkpoint


def stage1_config(cfg: DictConfig, stage_dir: Path) -> DictConfig:
    """The train config of stage 1: `cfg` with model := pretrain.model, max_steps := pretrain.max_steps, no test."""
    pretrain = cfg.get("pretrain")
    if not isinstance(pretrain, DictConfig) or "model" not in pretrain or "max_steps" not in pretrain:
        raise SISRError("the `pretrain` block needs `model` (the stage-1 model config) and `max_steps` (batches).")
    # Resolved against the full config first: its `${model.generator}` means the GAN's generator.
    model = OmegaConf.to_container(pretrain.model, resolve=True)
    stage_cfg = _stage_config(cfg, stage_dir)
    with open_dict(stage_cfg):
        stage_cfg.model = model
        stage_cfg.trainer.max_steps = int(pretrain.max_steps)
        stage_cfg.test_after_fit = False
        stage_cfg.ckpt_path = None
    return stage_cfg


def _stage_config(cfg: DictConfig, stage_dir: Path) -> DictConfig:
    stage_cfg = copy.deepcopy(cfg)
    with open_dict(stage_cfg):
        stage_cfg.paths.output_dir = str(stage_dir)
        stage_cfg.pretrain = None
    return stage_cfg


def _checkpoint_dir(stage_cfg: DictConfig) -> Path | None:
    """The folder the run's ModelCheckpoint callback writes to, if it has one."""
    for entry in (stage_cfg.get("callbacks") or {}).values():
        if isinstance(entry, DictConfig) and str(entry.get("_target_", "")).endswith("ModelCheckpoint"):
            return Path(entry.dirpath) if entry.get("dirpath") else None
    return None


def _last_checkpoint(stage_cfg: DictConfig) -> str | None:
    """The stage's last checkpoint when an earlier attempt left one (to resume from), else None."""
    folder = _checkpoint_dir(stage_cfg)
    last = folder / LAST_CHECKPOINT if folder else None
    return str(last) if last is not None and last.is_file() else None


def _handover_checkpoint(summary: dict[str, Any]) -> str | None:
    for key in ("best_checkpoint", "last_checkpoint"):
        path = summary.get(key)
        if path and Path(path).is_file():
            return str(path)
    return None


def _finished_summary(stage_cfg: DictConfig, stage_dir: Path) -> dict[str, Any] | None:
    """The summary of a finished stage 1 of this same recipe in `stage_dir`, else None."""
    metrics = stage_dir / "metrics.json"
    if not metrics.is_file():
        return None
    summary = json.loads(metrics.read_text())
    if _handover_checkpoint(summary) is None:
        return None
    if summary.get("config_hash") != config_hash(to_container(stage_cfg)):
        raise SISRError(
            f"{stage_dir} holds a finished stage 1 trained with a different config; "
            "delete that folder or choose another output folder (hydra.run.dir=...)."
        )
    return summary
