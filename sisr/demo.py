"""`python -m sisr.demo` (what `make demo` runs): train `experiment=demo`, then score MATLAB bicubic on the same
held-out images and print the trained model's margin over it, e.g.

    demo: SRCNN 34.55 dB vs bicubic 33.78 dB (+0.77 dB) on Sample x2 (Y-PSNR, 2 held-out images)

Any `sisr.train` override works (`python -m sisr.demo debug=smoke`, `hydra.run.dir=...`, another
`experiment=...`). Both numbers score the run's final weights and the baseline on `data.test_sets` with the same
protocol (`sisr.protocol.metrics`); the bicubic evaluation writes its tables to `<run folder>/bicubic/` and the comparison
goes to `<run folder>/demo.json`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import hydra
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from sisr.core.evaluation import evaluate
from sisr.core.stages import train_or_stages
from sisr.plumbing.cli import run_until_stopped
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import write_json
from sisr.plumbing.paths import CONF_DIR

DEFAULT_EXPERIMENT = "demo"


def _compose_eval() -> DictConfig:
    """conf/eval.yaml with the bicubic baseline, composed inside the running Hydra app or on its own."""
    overrides = ["model=bicubic"]
    if GlobalHydra.instance().is_initialized():
        return compose(config_name="eval", overrides=overrides)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="eval", overrides=overrides)


def bicubic_config(cfg: DictConfig) -> DictConfig:
    """The `sisr.eval` config scoring MATLAB bicubic on the trained run's test sets, scale, data root and cache,
    writing to `<run folder>/bicubic`."""
    eval_cfg = _compose_eval()
    with open_dict(eval_cfg):
        eval_cfg.data.scale = int(cfg.data.scale)
        eval_cfg.data.test_sets = list(cfg.data.test_sets)
        eval_cfg.data.root = cfg.data.root
        eval_cfg.data.cache_dir = cfg.data.cache_dir
        eval_cfg.trainer.accelerator = cfg.trainer.get("accelerator", "auto")
        eval_cfg.trainer.devices = 1
        eval_cfg.trainer.enable_progress_bar = False
        eval_cfg.lpips = False
        eval_cfg.paths.output_dir = str(Path(cfg.paths.output_dir) / "bicubic")
    return eval_cfg


def model_name(cfg: DictConfig) -> str:
    """The generator's class name (SRCNN, SRResNet, ...)."""
    return str(cfg.model.generator._target_).rsplit(".", 1)[-1]


def comparisons(summary: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per test set: the trained model's and bicubic's Y-PSNR and the margin.

    Args:
        summary: `sisr.core.training.train`'s run summary (its `test` metrics score the final weights).
        baseline: `sisr.eval.evaluate`'s results for the bicubic baseline on the same sets.
    """
    rows = []
    for set_name, scores in baseline["sets"].items():
        key = f"test/{set_name}/psnr"
        if key not in summary.get("test", {}):
            raise SISRError(
                f"the run has no test score on {set_name} to compare with bicubic; the demo needs test_after_fit=true "
                "and a completed run."
            )
        model_psnr, bicubic_psnr = float(summary["test"][key]), float(scores["psnr"])
        rows.append(
            {
                "set": set_name,
                "images": int(scores["count"]),
                "model_psnr": model_psnr,
                "bicubic_psnr": bicubic_psnr,
                "margin_db": model_psnr - bicubic_psnr,
            }
        )
    return rows


def format_comparison(model: str, scale: int, row: dict[str, Any]) -> str:
    """`demo: <model> <psnr> dB vs bicubic <psnr> dB (+x.xx dB) on <set> x<scale> (...)`."""
    return (
        f"demo: {model} {row['model_psnr']:.2f} dB vs bicubic {row['bicubic_psnr']:.2f} dB "
        f"({row['margin_db']:+.2f} dB) on {row['set']} x{scale} (Y-PSNR, {row['images']} held-out images)"
    )


def run_demo(cfg: DictConfig) -> dict[str, Any]:
    """Train `cfg` (the final weights are scored on `data.test_sets`), score bicubic on the same sets, print one
    comparison line per set and write `<run folder>/demo.json`; returns that record."""
    summary = train_or_stages(cfg)
    baseline = evaluate(bicubic_config(cfg))
    model, scale = model_name(cfg), int(cfg.data.scale)
    rows = comparisons(summary, baseline)
    record = {
        "model": model,
        "scale": scale,
        "batches": summary.get("batches"),
        "train_seconds": summary.get("train_seconds"),
        "sets": rows,
    }
    write_json(Path(cfg.paths.output_dir) / "demo.json", record)
    print()
    for row in rows:
        print(format_comparison(model, scale, row))
    return record


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> None:
    run_until_stopped(run_demo, cfg)  # as `sisr.train`: a stop signal exits 128 + its number


def main() -> None:
    """`python -m sisr.demo [overrides]`: `experiment=demo` unless another experiment is named."""
    if not any(arg.lstrip("+~").startswith("experiment=") for arg in sys.argv[1:]):
        sys.argv.insert(1, f"experiment={DEFAULT_EXPERIMENT}")
    _hydra_main()


if __name__ == "__main__":
    main()
