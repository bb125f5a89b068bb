"""The training core shared by `python -m sisr.train`, two-stage experiments and the benchmarks.

`train(cfg)` builds the datamodule, the LightningModule and the Trainer from a composed config, checks everything a
run needs before its first batch, fits, tests the final weights and writes `<run>/metrics.json`. Every way a fit
can end is recorded there as `status`:

* `completed`: the budget was reached (or an early stop); `last.ckpt` holds the final state;
* `interrupted`: SIGTERM, SIGINT or SIGUSR1 arrived; `last.ckpt` holds the state after the current batch and
  `train` raises `TrainingInterrupted` (the command exits non-zero);
* `failed`: an error stopped the run; nothing is saved from the failing step.

`ckpt_path=<file>` resumes a run, `ckpt_path=auto` resumes from the newest checkpoint in the run folder (or starts
fresh when it has none), so a requeued job needs no edited command line.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint, ProgressBar
from pytorch_lightning.utilities.exceptions import SIGTERMException

from sisr.core.distributed import ddp_strategy, sync_batchnorm
from sisr.lit.base import SRModule
from sisr.lit.checkpointing import AtomicCheckpointIO, RunCheckpoint
from sisr.models.common import count_parameters
from sisr.core.preflight_checks import check_resume_shapes, check_run_settings
from sisr.plumbing.cli import to_container, user_error
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import write_json
from sisr.lit.loggers import finish_loggers
from sisr.plumbing.provenance import config_hash, git_commit, machine_name
from sisr.plumbing.run_folder import check_writable, launched_rank, lock_run_folder
from sisr.plumbing.stop_signals import StopRequested, StopSignals, TrainingInterrupted
from sisr.weights.checkpoints import read_checkpoint

log = logging.getLogger(__name__)

AUTO = "auto"


def hydra_choices() -> dict[str, str]:
    """The config-group choices of this run (model=..., data=...), when run under Hydra."""
    if not HydraConfig.initialized():
        return {}
    return {k: v for k, v in HydraConfig.get().runtime.choices.items() if v is not None and "hydra" not in k}


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a config group that maps names to objects (callbacks, loggers)."""
    return [instantiate(entry) for entry in (group or {}).values() if entry is not None and "_target_" in entry]


def capped_budget(cfg: DictConfig, max_steps: int) -> int:
    """`max_steps` (batches), capped by `budget_cap` when a smoke run sets it."""
    cap = cfg.get("budget_cap")
    return min(int(max_steps), int(cap)) if cap else int(max_steps)


def build_trainer(cfg: DictConfig, model: SRModule, callbacks: list[Any], loggers: list[Any]) -> pl.Trainer:
    """The Trainer of `cfg.trainer`, with its batch budget converted to optimizer steps for this model."""
    if "spawn" in str(cfg.trainer.get("strategy", "")):
        raise SISRError(
            f"trainer.strategy={cfg.trainer.strategy} is not supported: spawned processes cannot hand the trained "
            "state back for testing and metrics.json; use trainer=ddp (strategy ddp)."
        )
    steps_per_batch = model.optimizer_steps_per_batch
    overrides: dict[str, Any] = {
        "plugins": [AtomicCheckpointIO()],
        "sync_batchnorm": sync_batchnorm(cfg.trainer, model),
        "strategy": ddp_strategy(cfg.trainer, steps_per_batch),
    }
    max_steps = cfg.trainer.get("max_steps", -1)
    if max_steps and max_steps > 0:
        batches = capped_budget(cfg, max_steps)
        overrides["max_steps"] = batches * steps_per_batch
        if cfg.get("budget_cap") and isinstance(cfg.trainer.get("val_check_interval"), int):
            overrides["val_check_interval"] = min(int(cfg.trainer.val_check_interval), batches)
        if steps_per_batch != 1:
            log.info("%d batches = %d optimizer steps (%d per batch)", batches, batches * steps_per_batch, steps_per_batch)
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)


def newest_checkpoint(run_dir: Path) -> Path | None:
    """The most recently written checkpoint of a run folder: `checkpoints/*.ckpt` or Lightning's SLURM
    `hpc_ckpt_<n>.ckpt`; None when there is none."""
    found = [*(run_dir / "checkpoints").glob("*.ckpt"), *run_dir.glob("hpc_ckpt_*.ckpt")]
    return max(found, key=lambda path: path.stat().st_mtime_ns) if found else None


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint to resume from: `ckpt_path`, or with `ckpt_path=auto` the run folder's newest one."""
    requested = cfg.get("ckpt_path")
    if requested != AUTO:
        return str(requested) if requested else None
    newest = newest_checkpoint(Path(cfg.paths.output_dir))
    log.info("ckpt_path=auto: %s", f"resuming from {newest}" if newest else "no checkpoint in the run folder, starting fresh")
    return str(newest) if newest else None


def check_resume_fits(cfg: DictConfig, ckpt_path: str) -> int:
    """Stop with one sentence when a resumed checkpoint was trained with another model or scale; returns the
    number of batches it had trained."""
    checkpoint = read_checkpoint(ckpt_path)
    saved = checkpoint.get("sisr_config") or {}
    saved_target = str(saved.get("model", {}).get("generator", {}).get("_target_", "?")).rsplit(".", 1)[-1]
    saved_scale = saved.get("data", {}).get("scale")
    target = str(cfg.model.generator._target_).rsplit(".", 1)[-1]
    if saved and (saved_target != target or int(saved_scale) != int(cfg.data.scale)):
        raise SISRError(
            f"ckpt_path {ckpt_path} holds a {saved_target} x{saved_scale} run but this config builds {target} "
            f"x{cfg.data.scale}; resume with the run's own settings or start a new run folder."
        )
    check_resume_shapes(cfg.model, checkpoint, ckpt_path)
    return int(checkpoint.get("sisr_batches", checkpoint.get("global_step", 0)))


def instantiate_reporting(node: DictConfig, **kwargs: Any) -> Any:
    """`instantiate`, with a user error inside a constructor raised as itself, not wrapped by Hydra."""
    try:
        return instantiate(node, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised as is unless a SISRError is inside
        cause = user_error(exc)
        if isinstance(cause, SISRError) and cause is not exc:
            raise cause from None
        raise


def build_model(cfg: DictConfig) -> SRModule:
    """The LightningModule of `cfg.model` (loading VGG19 and a pretrained generator happens here, so a missing
    file stops the run before any batch)."""
    model = instantiate_reporting(cfg.model)
    if not isinstance(model, SRModule):
        raise SISRError(f"model._target_ must build an sisr.lit SRModule, got {type(model).__name__}.")
    model.run_config = to_container(cfg)
    pretrained = getattr(model, "pretrained_generator", None)
    if pretrained:
        model.load_pretrained_generator(pretrained)  # a file that does not fit stops the run here
    return model


def preflight(cfg: DictConfig) -> tuple[Any, SRModule]:
    """Build the datamodule and model and check what the run needs (data present, weights readable)."""
    datamodule = instantiate_reporting(cfg.data, _convert_="all")
    if os.environ.get("LOCAL_RANK", "0") == "0":  # one process per node downloads, as Lightning does
        datamodule.prepare_data()  # downloads (data.download=true) or stops naming the missing files
    return datamodule, build_model(cfg)


def build_callbacks_and_loggers(cfg: DictConfig) -> tuple[list[Any], list[Any]]:
    """The configured callbacks and loggers (the learning-rate monitor only with a logger to write to, the progress
    bar only with `trainer.enable_progress_bar`)."""
    loggers = instantiate_all(cfg.get("logger"))
    callbacks = instantiate_all(cfg.get("callbacks"))
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if not cfg.get("trainer", {}).get("enable_progress_bar", True):  # Lightning refuses a bar it was told to disable
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return callbacks, loggers


def _find(callbacks: list[Any], kind: type) -> Any | None:
    return next((c for c in callbacks if isinstance(c, kind)), None)


def summarise(cfg: DictConfig, trainer: pl.Trainer, model: SRModule, **fields: Any) -> dict[str, Any]:
    """The run summary written to metrics.json (call before `trainer.test`, which replaces the logged metrics)."""
    best = _find(trainer.callbacks, ModelCheckpoint)
    last = _find(trainer.callbacks, RunCheckpoint)
    return {
        "config_hash": config_hash(to_container(cfg)),
        "git_commit": git_commit(cfg.paths.root_dir),
        "seed": int(cfg.seed),
        "scale": cfg.data.scale,
        "train_set": cfg.data.train,
        "batches": trainer.global_step // model.optimizer_steps_per_batch,
        "global_step": trainer.global_step,
        "machine": machine_name(model.device),
        "world_size": trainer.world_size,
        "written_by_rank": trainer.global_rank,  # rank 0 alone writes metrics.json
        "parameters": count_parameters(model.generator),
        "val": {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")},
        "test": {},
        "best_checkpoint": (best.best_model_path or None) if best else None,
        "last_checkpoint": (last.last_model_path or None) if last else None,
        **fields,
    }


def fit(trainer: pl.Trainer, model: SRModule, datamodule: Any, ckpt_path: str | None) -> TrainingInterrupted | None:
    """Run `trainer.fit`; returns the stop signal's exception if one ended it, re-raises anything else."""
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)  # as sisr reads them
    except TrainingInterrupted as stop:
        log.warning("%s", stop)
        return stop
    except SIGTERMException:  # Lightning's own stop on SIGTERM; RunCheckpoint saved the state on the way out
        saved = _find(trainer.callbacks, RunCheckpoint)
        if saved is None or saved.stop is None:
            raise
        log.warning("%s", saved.stop)
        return saved.stop
    except StopRequested as stop:  # outside the batch loop (data setup, sanity check): nothing new to save
        saved = _find(trainer.callbacks, RunCheckpoint)
        checkpoint = Path(saved.last_model_path) if saved and saved.last_model_path else None
        batches = trainer.global_step // model.optimizer_steps_per_batch
        interrupted = TrainingInterrupted(stop.signum, batches, checkpoint, stop.phase or "fit")
        log.warning("%s", interrupted)
        return interrupted
    return None


def record_failure(path: Path, summary: dict[str, Any]) -> None:
    """Write a failed run's summary; when that fails too (the disk that stopped the run is full), say so in a
    warning and let the error that stopped the run be the one reported."""
    try:
        write_json(path, summary)
    except SISRError as exc:
        log.warning("the failed run's summary was not recorded: %s", exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def train(cfg: DictConfig, choices: dict[str, str] | None = None) -> dict[str, Any]:
    """Train, validate and test the final weights of the model described by `cfg`; return the run summary.

    The summary is also written to `<output_dir>/metrics.json`; checkpoints go to `<output_dir>/checkpoints/`.

    Args:
        cfg: a composed `conf/train.yaml`.
        choices: the config-group choices to record (default: Hydra's, when run under Hydra).

    Raises:
        TrainingInterrupted: a stop signal ended the fit after `last.ckpt` was saved (status `interrupted`).
    """
    output_dir = Path(cfg.paths.output_dir)
    choices = hydra_choices() if choices is None else choices
    if launched_rank() != 0:  # the other processes of a multi-process run: rank 0 holds the folder and writes files
        return _train_locked(cfg, output_dir, choices)
    check_writable(output_dir)
    lock = lock_run_folder(output_dir)
    try:
        return _train_locked(cfg, output_dir, choices)
    finally:
        lock.release()


def _train_locked(cfg: DictConfig, output_dir: Path, choices: dict[str, str]) -> dict[str, Any]:
    with StopSignals("data preparation"):
        try:
            return _train_guarded(cfg, output_dir, choices)
        except StopRequested as stop:  # before the Trainer existed: nothing trained, nothing saved by this run
            summary = {"status": "interrupted", "phase": stop.phase, "error": str(stop), "batches": 0,
                       "choices": choices, "resumed_from": resume_checkpoint(cfg), "last_checkpoint": None}
            if launched_rank() == 0:
                write_json(output_dir / "metrics.json", summary)
            raise TrainingInterrupted(stop.signum, 0, None, stop.phase) from None


def _train_guarded(cfg: DictConfig, output_dir: Path, choices: dict[str, str]) -> dict[str, Any]:
    check_run_settings(cfg)
    ckpt_path = resume_checkpoint(cfg)
    if ckpt_path:
        check_resume_fits(cfg, ckpt_path)
    if launched_rank() == 0:
        OmegaConf.save(to_container(cfg), output_dir / "config.yaml")  # .hydra/config.yaml keeps the interpolations
    pl.seed_everything(int(cfg.seed), workers=True)
    datamodule, model = preflight(cfg)
    callbacks, loggers = build_callbacks_and_loggers(cfg)
    trainer = build_trainer(cfg, model, callbacks, loggers)
    try:
        return _fit_and_test(cfg, output_dir, trainer, model, datamodule, ckpt_path, choices)
    finally:
        finish_loggers(loggers)


def _fit_and_test(
    cfg: DictConfig, output_dir: Path, trainer: pl.Trainer, model: SRModule, datamodule: Any, ckpt_path: str | None,
    choices: dict[str, str],
) -> dict[str, Any]:
    common = {"choices": choices, "resumed_from": ckpt_path}
    started = time.perf_counter()
    StopSignals.enter_phase("fit")
    try:
        stop = fit(trainer, model, datamodule, ckpt_path)
    except BaseException as exc:
        seconds = time.perf_counter() - started
        summary = summarise(cfg, trainer, model, status="failed", error=_first_line(exc), train_seconds=seconds, **common)
        if trainer.is_global_zero:
            record_failure(output_dir / "metrics.json", summary)
        raise
    status = "interrupted" if stop else "completed"
    summary = summarise(cfg, trainer, model, status=status, train_seconds=time.perf_counter() - started, **common)
    if stop:
        summary.update(phase="fit", error=str(stop))
    if status == "completed" and cfg.get("test_after_fit") and datamodule.test_set_names and not trainer.fast_dev_run:
        # The final weights, as the papers report: the best-validation checkpoint would be selected on the test
        # sets whenever they double as validation sets (data=div2k, data=shared).
        try:
            trainer.test(model, datamodule=datamodule, verbose=False)
        except StopRequested as signal_stop:  # the final state is saved; a resume runs the test again
            summary.update(status="interrupted", phase="test", error=str(signal_stop))
            last = Path(summary["last_checkpoint"]) if summary["last_checkpoint"] else None
            stop = TrainingInterrupted(signal_stop.signum, summary["batches"], last, "the test")
        else:
            summary["test"] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
    StopSignals.enter_phase("writing metrics.json")
    if trainer.is_global_zero:
        write_json(output_dir / "metrics.json", summary)
    _print_locations(output_dir, summary)
    if stop is not None:
        raise stop
    return summary


def _print_locations(output_dir: Path, summary: dict[str, Any]) -> None:
    print(f"\nRun folder: {output_dir} (status: {summary['status']}, {summary['batches']} batches)")
    if summary["last_checkpoint"]:
        print(f"Checkpoints: {Path(summary['last_checkpoint']).parent}")
    print(f"Metrics: {output_dir / 'metrics.json'} (CSV and TensorBoard logs beside it)")
