"""Two-stage GAN training in one run: PSNR-oriented pre-training, then adversarial fine-tuning from it.

SRGAN (Ledig et al., CVPR 2017) starts from an MSE-trained SRResNet and ESRGAN (Wang et al., ECCV-W 2018)
from an L1-trained RRDBNet. An experiment names stage 1 by reference: its defaults list loads a model config into
the `pretrain.model` package (`- /model@pretrain.model: srresnet`), ties its generator to the GAN's
(`pretrain.model.generator: ${model.generator}`) and gives its batch budget (`pretrain.max_steps`).

`run_stages` trains stage 1 under `<run>/stage1_psnr`, then `model` under `<run>/stage2_gan` starting from stage
1's final weights (`last.ckpt`, the hand-over rule everywhere in sisr, as in the papers), and writes both
summaries to `<run>/stages.json`. Before stage 1 starts it builds stage 2's model, so missing VGG19 weights or a
pretrained generator that does not fit stop the run at once, not after the pre-training. Restarting in the same
run folder reuses a completed stage 1 and resumes an interrupted stage from its newest checkpoint.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from sisr.core.training import AUTO, hydra_choices, preflight, train
from sisr.plumbing.cli import to_container
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import write_json
from sisr.plumbing.provenance import config_hash

log = logging.getLogger(__name__)

STAGE1_DIR = "stage1_psnr"
STAGE2_DIR = "stage2_gan"
STAGE1_CHOICE = "model@pretrain.model"  # the Hydra choice naming stage 1's model config


def train_or_stages(cfg: DictConfig) -> dict[str, Any]:
    """The final stage's summary: two-stage experiments run both stages, other configs one."""
    if cfg.get("pretrain"):
        return run_stages(cfg)["stage2"]
    return train(cfg)


def objective(cfg: DictConfig, summary: dict[str, Any]) -> float | None:
    """The number a sweeper optimises: the run's `cfg.optimized_metric` (a `val/` or `test/` metric of the summary).

    None, with a warning, when the run measured nothing of that kind (e.g. a resumed run that ended before its next
    validation); a name the run's metrics do not have is an error (a misspelt metric)."""
    name = str(cfg.get("optimized_metric") or "val/psnr")
    metrics = {**summary.get("val", {}), **summary.get("test", {})}
    if not summary.get(name.split("/", 1)[0], {}):
        log.warning("optimized_metric=%s was not measured in this run (no %s metrics); a sweeper gets no value", name, name.split("/", 1)[0])
        return None
    if name not in metrics:
        raise SISRError(f"optimized_metric={name} is not among the run's metrics ({', '.join(sorted(metrics)) or 'none'}).")
    return float(metrics[name])


def run_stages(cfg: DictConfig) -> dict[str, Any]:
    """Run stage 1 (`cfg.pretrain`) unless `cfg.model.pretrained_generator` is set, then stage 2 (`cfg.model`).

    Args:
        cfg: a composed train config with a `pretrain` block (see conf/experiment/srgan_x4.yaml).

    Returns:
        {"pretrained_generator": the weights stage 2 started from, "stage1": summary or None, "stage2": summary}.
    """
    if "pretrained_generator" not in cfg.model:
        raise SISRError(
            "`pretrain` needs a GAN model that starts from a pretrained generator (model=srgan or model=esrgan); "
            "set pretrain=null to train this model in one stage."
        )
    if not any(str(entry.get("_target_", "")).endswith("RunCheckpoint") for entry in (cfg.get("callbacks") or {}).values()):
        raise SISRError(
            "two-stage training hands stage 1's final weights over through last.ckpt, but no RunCheckpoint "
            "callback is configured; use callbacks=default."
        )
    output_dir = Path(cfg.paths.output_dir)
    choices = hydra_choices()
    stage2_cfg = stage_config(cfg, output_dir / STAGE2_DIR)
    with open_dict(stage2_cfg):
        stage2_cfg.ckpt_path = cfg.get("ckpt_path") or AUTO
    preflight(stage2_cfg)  # VGG19 weights, data, a given pretrained generator: checked before stage 1

    stage1: dict[str, Any] | None = None
    pretrained = cfg.model.get("pretrained_generator")
    if pretrained:
        log.info("model.pretrained_generator=%s: skipping stage 1 (PSNR pre-training)", pretrained)
    else:
        stage1 = _run_stage1(cfg, output_dir / STAGE1_DIR, choices)
        pretrained = stage1["last_checkpoint"]
    with open_dict(stage2_cfg):
        stage2_cfg.model.pretrained_generator = str(pretrained)
    log.info("stage 2 (GAN) from %s -> %s", pretrained, output_dir / STAGE2_DIR)
    stage2 = train(stage2_cfg, choices=choices)

    result = {"pretrained_generator": str(pretrained), "stage1": stage1, "stage2": stage2}
    write_json(output_dir / "stages.json", result)
    return result


def _run_stage1(cfg: DictConfig, stage_dir: Path, choices: dict[str, str]) -> dict[str, Any]:
    """Train (or reuse) the PSNR-oriented generator; returns its summary."""
    stage_cfg = stage1_config(cfg, stage_dir)
    summary = _completed_summary(stage_cfg, stage_dir)
    if summary is not None:
        log.info("stage 1 already completed in %s: reusing it", stage_dir)
    else:
        log.info("stage 1 (PSNR pre-training, %d batches) -> %s", stage_cfg.trainer.max_steps, stage_dir)
        summary = train(stage_cfg, choices={**choices, "model": choices.get(STAGE1_CHOICE, "pretrain")})
    if not summary.get("last_checkpoint") or not Path(summary["last_checkpoint"]).is_file():
        raise SISRError(
            f"stage 1 in {stage_dir} left no last.ckpt to start stage 2 from; "
            "keep the RunCheckpoint callback (callbacks.model_checkpoint) configured."
        )
    return summary


def stage1_config(cfg: DictConfig, stage_dir: Path) -> DictConfig:
    """The train config of stage 1: `cfg` with model := pretrain.model, max_steps := pretrain.max_steps, no test."""
    pretrain = cfg.get("pretrain")
    if not isinstance(pretrain, DictConfig) or "model" not in pretrain or "max_steps" not in pretrain:
        raise SISRError(
            "the `pretrain` block needs `model` (e.g. `- /model@pretrain.model: srresnet` in the experiment's "
            "defaults) and `max_steps` (batches)."
        )
    # Resolved against the full config first: its `${model.generator}` means the GAN's generator.
    model = OmegaConf.to_container(pretrain.model, resolve=True)
    stage_cfg = stage_config(cfg, stage_dir)
    with open_dict(stage_cfg):
        stage_cfg.model = model
        stage_cfg.trainer.max_steps = int(pretrain.max_steps)
        stage_cfg.test_after_fit = False
        stage_cfg.ckpt_path = AUTO
    return stage_cfg


def stage_config(cfg: DictConfig, stage_dir: Path) -> DictConfig:
    """`cfg` writing into `stage_dir`, as a one-stage run."""
    stage_cfg = copy.deepcopy(cfg)
    with open_dict(stage_cfg):
        stage_cfg.paths.output_dir = str(stage_dir)
        stage_cfg.pretrain = None
    OmegaConf.resolve(stage_cfg)  # output locations are now fixed strings, every stage sees the same values
    return stage_cfg


def _completed_summary(stage_cfg: DictConfig, stage_dir: Path) -> dict[str, Any] | None:
    """The summary of a completed stage 1 of this same recipe in `stage_dir`, else None."""
    metrics = stage_dir / "metrics.json"
    if not metrics.is_file():
        return None
    summary = json.loads(metrics.read_text())
    if summary.get("status") != "completed":
        return None
    if summary.get("config_hash") != config_hash(to_container(stage_cfg)):
        raise SISRError(
            f"{stage_dir} holds a completed stage 1 trained with a different config; "
            "delete that folder or choose another output folder (hydra.run.dir=...)."
        )
    return summary
