"""Command-line plumbing shared by every entry point (`sisr.train`, `sisr.eval`, `benchmarks.run`, the benchmark
workers): user errors become one line, not a traceback."""

from __future__ import annotations

import sys
from typing import Any, Callable, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sisr.plumbing.errors import SISRError, find_cause
from sisr.plumbing.stop_signals import StopRequested, StopSignals, TrainingInterrupted

USER_ERRORS = (SISRError, OmegaConfBaseException)
T = TypeVar("T")


def user_error(exc: BaseException) -> BaseException | None:
    """The user-facing cause of `exc` (a SISRError or a config error), following Hydra's instantiate wrapping."""
    return find_cause(exc, USER_ERRORS)


def run_reporting_user_errors(task: Callable[..., T], *args: Any) -> T:
    """Run `task(*args)` (e.g. `train(cfg)`); a user error prints `error: <sentence>` on stderr and exits with
    status 2, anything else propagates with its traceback.

    Args:
        task: the entry point's core function.
        args: its arguments.
    """
    try:
        return task(*args)
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is the user's to fix
        cause = user_error(exc)
        if cause is None:
            raise
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if isinstance(cause, OmegaConfBaseException):
            key = getattr(cause, "full_key", None)
            message = f"config key '{key}': {message}" if key else message
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


RESUME_HINT = "resume with ckpt_path=auto and the same hydra.run.dir"


def run_until_stopped(task: Callable[..., T], *args: Any, hint: str = RESUME_HINT) -> T:
    """Run an entry point's `task(*args)` under a `StopSignals` guard, with user errors as one line (status 2) and
    a stop signal at any phase as one line ending with `hint` and status 128 + the signal number (the run's own
    record, e.g. `metrics.json`, says `interrupted`)."""
    try:
        with StopSignals("startup"):
            return run_reporting_user_errors(task, *args)
    except (TrainingInterrupted, StopRequested) as stop:
        print(f"interrupted: {stop}; {hint}", file=sys.stderr)
        sys.exit(128 + stop.signum)


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain containers, for checkpoints and results files."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]
