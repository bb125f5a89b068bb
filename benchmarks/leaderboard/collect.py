"""Find the finished training runs of a sweep folder (`python -m sisr.train -m ...` or `benchmarks.run`).

A run is a folder holding `metrics.json` (written by `sisr.core.training.train`) and `checkpoints/`: a one-stage job's
folder, or each stage folder of a two-stage experiment (`stage1_psnr/`, the PSNR model, and `stage2_gan/`, the
GAN), so both stages become rows, named by the model config they trained (`choices.model` of metrics.json).
Every row scores the run's final weights, `last.ckpt`, the one hand-over rule of sisr (the papers report final
weights; the best-validation checkpoint would select on the test sets when they double as validation sets).
A run that did not complete is an error naming its folder, never silently replaced by an older checkpoint.
The resolved config is read from the checkpoint, which also rebuilds the generator. Runs are read, never retrained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.leaderboard.profile import Profile, job_name
from sisr.weights.checkpoints import read_checkpoint
from sisr.plumbing.errors import SISRError

COMPLETED = "completed"


@dataclass(frozen=True)
class TrainedRun:
    """One finished training run (one stage of a two-stage job is a run of its own).

    Args:
        run_dir: the run folder.
        model: the model config it trained (the leaderboard name), e.g. srresnet for a srgan_x4 stage 1.
        scale: the upscaling factor.
        checkpoint: the checkpoint scored: the run's final weights (last.ckpt).
        metrics: the contents of metrics.json.
        config: the run's resolved config, as saved inside its checkpoint.
        curve: (step, wall minutes, mean validation PSNR) at every validation, from its TensorBoard log.
    """

    run_dir: Path
    model: str
    scale: int
    checkpoint: Path
    metrics: dict[str, Any]
    config: dict[str, Any]
    curve: list[tuple[int, float, float]] = field(default_factory=list)


def learning_curve(run_dir: Path) -> list[tuple[int, float, float]]:
    """(step, wall minutes, mean validation PSNR) of every validation the run logged to TensorBoard
    (`<run_dir>/tensorboard/`), minutes counted from the run's first logged event (so they include validation time,
    and for a resumed run the time between its interruption and its resume); empty without TensorBoard logs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # only when collecting

    wall_times: list[float] = []
    points: dict[int, tuple[float, float]] = {}  # step -> (wall time, PSNR); a resume's re-validation wins
    for events in sorted((run_dir / "tensorboard").rglob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})  # 0: keep every event
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars = accumulator.Scalars(tag)
            wall_times += [event.wall_time for event in scalars]
            if tag == "val/psnr":
                points |= {event.step: (event.wall_time, event.value) for event in scalars}
    if not wall_times:
        return []
    start = min(wall_times)
    return [(step, (wall - start) / 60.0, psnr) for step, (wall, psnr) in sorted(points.items())]


def final_checkpoint(run_dir: Path, metrics: dict[str, Any]) -> Path:
    """The final weights of a completed run: its recorded `last_checkpoint`, re-rooted if the sweep moved.

    Args:
        run_dir: the run folder.
        metrics: its metrics.json.
    """
    status = metrics.get("status")
    if status != COMPLETED:
        raise SISRError(
            f"run {run_dir} did not complete (metrics.json status: {status or 'none recorded'}); resume it "
            "(python -m sisr.train ... ckpt_path=auto with its run folder) or move it out of the sweep folder."
        )
    recorded = Path(metrics.get("last_checkpoint") or run_dir / "checkpoints" / "last.ckpt")
    for candidate in (recorded, run_dir / "checkpoints" / recorded.name):
        if candidate.is_file():
            return candidate
    raise SISRError(
        f"run {run_dir} has no last.ckpt under checkpoints/ (the final weights every row scores); "
        "retrain it with the RunCheckpoint callback (callbacks=default) or move it out of the sweep folder."
    )


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
        run_dir: a folder with metrics.json and checkpoints/last.ckpt.
    """
    metrics_path = run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        reason = type(exc).__name__
        raise SISRError(f"{metrics_path} cannot be read ({reason}); the run may still be writing it.") from exc
    checkpoint = final_checkpoint(run_dir, metrics)
    config = read_checkpoint(checkpoint)["sisr_config"]  # resolved: .hydra/config.yaml keeps interpolations
    return TrainedRun(
        run_dir=run_dir,
        model=_model_name(metrics, config, run_dir),
        scale=int(metrics["scale"]),
        checkpoint=checkpoint,
        metrics=metrics,
        config=config,
        curve=learning_curve(run_dir),
    )


def find_runs(sweep_dir: str | Path) -> list[TrainedRun]:
    """Every run under `sweep_dir` (the folder itself when it is a run), in folder order: a two-stage job's
    PSNR stage (stage1_psnr) before its GAN stage (stage2_gan).

    Args:
        sweep_dir: a Hydra multirun folder (logs/train/multiruns/<time>/), a job or a single run folder.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SISRError(f"--collect folder {sweep_dir} does not exist; pass a sisr.train multirun folder.")
    metrics_files = sorted(sweep_dir.rglob("metrics.json"))
    if not metrics_files:
        raise SISRError(
            f"no metrics.json under {sweep_dir}; pass the folder of a finished sweep "
            "(python -m sisr.train -m ... writes logs/train/multiruns/<time>/<job>/metrics.json)."
        )
    return [read_run(path.parent) for path in metrics_files]


def select_runs(runs: list[TrainedRun], models: list[str], scales: list[int]) -> list[TrainedRun]:
    """The runs of the chosen models (row names) and scales (all when none are chosen)."""
    chosen = [r for r in runs if (not models or r.model in models) and (not scales or r.scale in scales)]
    if not chosen:
        found = ", ".join(sorted({f"{r.model} x{r.scale}" for r in runs}))
        raise SISRError(
            f"no run matches --models {','.join(models) or 'all'} and --scales {scales or 'all'}; "
            f"the sweep holds {found}."
        )
    return chosen


def in_profile_order(runs: list[TrainedRun], profile: Profile, sweep_dir: Path) -> list[TrainedRun]:
    """`runs` ordered by the profile job whose folder (`<job>_x<scale>`) holds them, others after, in folder order."""
    folders = [job_name(job.name, scale) for job in profile.jobs for scale in profile.scales_of(job)]

    def rank(run: TrainedRun) -> int:
        parts = run.run_dir.relative_to(sweep_dir).parts if run.run_dir.is_relative_to(sweep_dir) else ()
        return folders.index(parts[0]) if parts and parts[0] in folders else len(folders)

    return sorted(runs, key=rank)
