"""Score a model with the papers' protocol: `python -m sisr.eval ckpt_path=...`, `weights=...`, `model=bicubic` or
`sr_dir=...`.

A thin Hydra entry point over `sisr.core.evaluation.evaluate`, which writes `results.json`, `per_set.csv` and
`per_image.csv` to the run folder and prints a table. A user error prints `error: <sentence>` and exits with 2.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from sisr.core.evaluation import evaluate
from sisr.plumbing.cli import run_reporting_user_errors
from sisr.plumbing.paths import CONF_DIR


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="eval")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run_reporting_user_errors(evaluate, cfg)


if __name__ == "__main__":
    main()
