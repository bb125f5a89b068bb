"""Hydra callbacks of the entry points: an unusable output folder, or one a live run holds, is one sentence; a
SLURM job uses the CPU threads it was given; an Optuna sweep names its best trial's run folder.

Hydra creates the run folder (`hydra.run.dir`, or `hydra.sweep.dir` for a multirun) and writes `.hydra/` into it
before any sisr code runs, so these checks happen in a Hydra callback, before that: a refused run touches nothing
of the running one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sisr.plumbing.cpu_threads import match_threads_to_allocation
from sisr.plumbing.errors import SISRError
from sisr.plumbing.run_folder import check_not_held


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".sisr_write_probe"
        probe.write_text("ok\n")
        probe.unlink()
    except OSError:
        return False
    return True


class OutputFolderCheck(Callback):
    """Stop with `error: <sentence>` and status 2 when the run or sweep folder cannot be created or written."""

    def _check(self, folder: str, key: str) -> None:
        if not _usable(Path(folder)):
            print(f"error: the output folder {folder} cannot be created or written; choose another with {key}=<folder>.", file=sys.stderr)
            sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_not_held(Path(config.hydra.run.dir))
        except SISRError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        self._check(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")


class JobThreads(Callback):
    """At the start of every job (in the job's own process, under any launcher), keep torch's CPU threads to the
    job's SLURM allocation (sisr.plumbing.cpu_threads)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        match_threads_to_allocation()


class BestTrial(Callback):
    """After an Optuna sweep (conf/hparams_search/), write `<sweep folder>/best_trial.json`: the best trial's run
    folder, value and params, so `python -m benchmarks.run --collect <run folder>` can score it.

    The sweeper's `optimization_results.yaml` gives the best value; the trial is the first job folder whose
    `metrics.json` holds exactly that value for `optimized_metric` (floats survive JSON unchanged)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        import yaml

        sweep_dir = Path(config.hydra.sweep.dir)
        results_file = sweep_dir / "optimization_results.yaml"
        if not results_file.is_file():
            return
        results = yaml.safe_load(results_file.read_text())
        metric = str(config.get("optimized_metric") or "val/psnr")
        for metrics_file in sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 1 << 30):
            metrics = json.loads(metrics_file.read_text())
            value = {**metrics.get("val", {}), **metrics.get("test", {})}.get(metric)
            if value == results.get("best_value"):
                best = {"run_dir": str(metrics_file.parent), "job": metrics_file.parent.name, "metric": metric,
                        "value": value, "params": results.get("best_params")}
                (sweep_dir / "best_trial.json").write_text(json.dumps(best, indent=2) + "\n")
                print(f"Best trial: {metrics_file.parent} ({metric} = {value:.4f}); its leaderboard: "
                      f"python -m benchmarks.run --collect {metrics_file.parent}")
                return
