"""Score checkpoints and the bicubic baseline on the suite's test sets with `sisr.eval.evaluate` (the papers' protocol).

Evaluation runs in this process on a config composed from the package's eval.yaml (`sisr/conf`, shipped in the
wheel, so this works from an installed package as from a checkout), so every row of the leaderboard is scored by
the same code as `python -m sisr.eval`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

import sisr

CONF_DIR = Path(sisr.__file__).resolve().parent / "conf"  # the configs `python -m sisr.train/eval` compose


def compose_eval_config(
    output_dir: Path,
    data_root: Path,
    test_sets: list[str],
    *,
    checkpoint: str | Path | None = None,
    scale: int | None = None,
    sr_dir: str | Path | None = None,
    weights: str | Path | None = None,
    overrides: list[str] | None = None,
) -> DictConfig:
    """The eval.yaml config for one evaluation, with paths set directly (no Hydra run needed).

    Args:
        output_dir: where results.json and the CSV files go.
        data_root: folder holding the test sets (benchmark/Set5, ...).
        test_sets: set names, e.g. ["Set5", "Set14"].
        checkpoint: a sisr.train checkpoint; None evaluates the bicubic baseline at `scale`.
        scale: the baseline's (or the precomputed outputs') scale (ignored for checkpoints, which carry their own).
        sr_dir: a folder of SR images computed elsewhere, one subfolder per test set (see sisr.core.precomputed).
        weights: any weight file sisr reads (published weights); its scale comes from the file.
        overrides: further Hydra overrides (e.g. "trainer.accelerator=cpu").
    """
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=["model=bicubic", *(overrides or [])])
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.data.root = str(data_root)
        cfg.data.test_sets = list(test_sets)
        cfg.trainer.enable_progress_bar = False
        if checkpoint is not None:
            cfg.ckpt_path = str(checkpoint)
        elif weights is not None:
            cfg.weights = str(weights)
        else:
            cfg.data.scale = scale
        if sr_dir is not None:
            cfg.sr_dir = str(sr_dir)
    return cfg


def score(
    output_dir: Path,
    data_root: Path,
    test_sets: list[str],
    *,
    checkpoint: str | Path | None = None,
    scale: int | None = None,
    sr_dir: str | Path | None = None,
    weights: str | Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate a checkpoint, bicubic at `scale`, or the SR images of `sr_dir` at `scale`, on `test_sets`.

    Args:
        output_dir: where sisr.eval writes its files.
        data_root: folder holding the test sets.
        test_sets: set names.
        checkpoint: a sisr.train checkpoint, or None for the bicubic baseline.
        scale: the baseline's or the precomputed outputs' scale.
        sr_dir: precomputed SR images, one subfolder per test set.
        weights: a weight file (published weights) instead of a checkpoint.

    Returns:
        sisr.eval's results dict (per set: psnr, ssim, psnr_rgb, lpips, count) and the resolved evaluation config.
    """
    from sisr.plumbing.cli import to_container
    from sisr.core.evaluation import evaluate  # Lightning is imported only when something is scored

    cfg = compose_eval_config(
        output_dir, data_root, test_sets, checkpoint=checkpoint, scale=scale, sr_dir=sr_dir, weights=weights
    )
    resolved = to_container(cfg)
    return evaluate(cfg), resolved
