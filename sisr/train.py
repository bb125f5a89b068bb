"""Train an SR model: `python -m sisr.train model=<srcnn|srresnet|rrdb|srgan|esrgan> data=<div2k|shared|sample>`.

A thin Hydra entry point over `sisr.core.training.train` (one stage) and `sisr.core.stages.run_stages` (experiments with a
`pretrain` block). A user error prints `error: <sentence>` and exits with status 2; a run stopped by SIGTERM,
SIGINT or SIGUSR1 saves `last.ckpt`, records status `interrupted` and exits with 128 + the signal number.
"""

from __future__ import annotations

import hydra
import torch
from omegaconf import DictConfig

from sisr.core.stages import objective, train_or_stages
from sisr.plumbing.cli import run_reporting_user_errors, run_until_stopped
from sisr.plumbing.paths import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the run's `optimized_metric` (mean validation PSNR by default), for sweepers."""
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    summary = run_until_stopped(train_or_stages, cfg)
    return run_reporting_user_errors(objective, cfg, summary)


if __name__ == "__main__":
    main()
