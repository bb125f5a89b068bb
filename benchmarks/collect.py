"""Find the finished training runs of a sweep folder (`python -m sisr.train -m ...` or `benchmarks.run`).

A run is a folder holding `metrics.json` (written by `sisr.train.train`), `.hydra/` and `checkpoints/`; the
resolved config is read from the checkpoint, which also rebuilds the generator. Runs are read, never retrained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sisr.errors import SISRError
from sisr.checkpoints import read_checkpoint
from sisr.stages import STAGE1_DIR


@dataclass(frozen=True)
class TrainedRun:
    """One finished training run.

    Args:
        run_dir: the run folder.
        model: the `model=` config choice (the leaderboard name).
        scale: the upscaling factor.
        checkpoint: the checkpoint scored (best by validation PSNR, else last).
        metrics: the contents of metrics.json.
        config: the run's resolved config, as saved inside its checkpoint.
    """

    run_dir: Path
    model: str
    scale: int
    checkpoint: Path
    metrics: dict[str, Any]
    config: dict[str, Any]


def _checkpoint(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """The last checkpoint (the final weights, as the papers report; picking the best validation score would select
    on the test sets when they double as validation sets), else the best; re-rooted if the sweep moved."""
    for key in ("last_checkpoint", "best_checkpoint"):
        recorded = metrics.get(key)
        if not recorded:
            continue
        for candidate in (Path(recorded), run_dir / "checkpoints" / Path(recorded).name):
            if candidate.is_file():
                return candidate
    found = sorted((run_dir / "checkpoints").glob("last*.ckpt")) + sorted((run_dir / "checkpoints").glob("*.ckpt"))
    if not found:
        raise SISRError(f"run {run_dir} has no checkpoint under checkpoints/; it did not finish, retrain or remove it.")
    return found[0]


def _model_name(metrics: dict[str, Any], config: dict[str, Any], run_dir: Path) -> str:
    """The `model=` choice; runs made outside Hydra fall back to the generator class name."""
    choice = (metrics.get("choices") or {}).get("model")
    if choice:
        return str(choice)
    target = (config.get("model") or {}).get("generator", {}).get("_target_")
    if target:
        return target.rsplit(".", 1)[-1].lower()
    raise SISRError(f"{run_dir}/metrics.json names no model choice and its config no generator; it is not a sisr run.")


def read_run(run_dir: Path) -> TrainedRun:
    """Read one run folder.

    Args:
        run_dir: a folder with metrics.json, .hydra/config.yaml and checkpoints/.
    """
    metrics_path = run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        reason = type(exc).__name__
        raise SISRError(f"{metrics_path} cannot be read ({reason}); the run may still be writing it.") from exc
    checkpoint = _checkpoint(run_dir, metrics)
    config = read_checkpoint(checkpoint)["sisr_config"]  # resolved: .hydra/config.yaml keeps interpolations
    return TrainedRun(
        run_dir=run_dir,
        model=_model_name(metrics, config, run_dir),
        scale=int(metrics["scale"]),
        checkpoint=checkpoint,
        metrics=metrics,
        config=config,
    )


def find_runs(sweep_dir: str | Path) -> list[TrainedRun]:
    """Every run under `sweep_dir` (the folder itself when it is a run), in folder order.

    Args:
        sweep_dir: a Hydra multirun folder (logs/train/multiruns/<time>/) or a single run folder.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SISRError(f"--collect folder {sweep_dir} does not exist; pass a sisr.train multirun folder.")
    # Stage 1 of a two-stage experiment is the PSNR pre-training of the GAN row beside it, not a row of its own.
    metrics_files = sorted(p for p in sweep_dir.rglob("metrics.json") if p.parent.name != STAGE1_DIR)
    if not metrics_files:
        raise SISRError(
            f"no metrics.json under {sweep_dir}; pass the folder of a finished sweep "
            "(python -m sisr.train -m ... writes logs/train/multiruns/<time>/<job>/metrics.json)."
        )
    return [read_run(path.parent) for path in metrics_files]
