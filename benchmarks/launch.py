"""Train a profile's models, one `python -m sisr.train -m ...` subprocess per (model, scale).

Each run is isolated in its own process and lands where a hand-made sweep would:
`<sweep_dir>/<model>_x<scale>/{metrics.json, .hydra/, checkpoints/}`, so `--collect` reads both the same way.
An override may name the checkpoint of a model trained earlier in the suite at the same scale,
`model.pretrained_generator={checkpoint:srresnet}` (SRGAN starts from the MSE SRResNet, ESRGAN from the
PSNR-oriented RRDB, as in the papers).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.collect import read_run
from benchmarks.profile import REPO_ROOT, ModelSpec, Profile
from sisr.errors import SISRError

_CHECKPOINT_REF = re.compile(r"\{checkpoint:([A-Za-z0-9_\-]+)\}")
_HYDRA_TRAILER = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


def job_name(model: str, scale: int) -> str:
    """The run folder name of `model` at `scale` inside the sweep."""
    return f"{model}_x{scale}"


def quote_override_value(value: str) -> str:
    """A Hydra override value quoted so that any path (with '=', spaces, commas) is taken literally."""
    return "'" + value.replace("'", "\\'") + "'"


def resolve_checkpoint_refs(overrides: list[str], scale: int, sweep_dir: Path, model: str) -> list[str]:
    """Replace `{checkpoint:<model>}` by the scored checkpoint of that model's run at `scale` in this sweep."""

    def replace(match: re.Match[str]) -> str:
        run_dir = sweep_dir / job_name(match.group(1), scale)
        if not (run_dir / "metrics.json").is_file():
            raise SISRError(
                f"{model} starts from {match.group(1)} at x{scale}, which this suite has not trained; "
                f"list {match.group(1)} before {model} in the profile (and keep it when restricting --models)."
            )
        return quote_override_value(str(read_run(run_dir).checkpoint))

    return [_CHECKPOINT_REF.sub(replace, override) for override in overrides]


def train_command(profile: Profile, model: ModelSpec, scale: int, sweep_dir: Path) -> list[str]:
    """The `python -m sisr.train -m ...` command of one run (a one-job Hydra multirun into `sweep_dir`)."""
    overrides = resolve_checkpoint_refs(
        [*profile.train_overrides, *model.overrides, f"data.scale={scale}"], scale, sweep_dir, model.name
    )
    return [
        sys.executable,
        "-m",
        "sisr.train",
        "--multirun",
        *overrides,
        f"hydra.sweep.dir={quote_override_value(str(sweep_dir))}",
        f"hydra.sweep.subdir={job_name(model.name, scale)}",
    ]


def failure_reason(log_path: Path) -> str:
    """The last paragraph of a failed run's log (Hydra's generic trailer skipped); of a traceback, its last line."""
    text = log_path.read_text().replace(_HYDRA_TRAILER, "")
    paragraphs = [p.strip().splitlines() for p in text.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return "no output"
    last = [line.strip() for line in paragraphs[-1]]
    return last[-1] if len(last) > 6 else " ".join(last)


def train_one(profile: Profile, model: ModelSpec, scale: int, sweep_dir: Path) -> Path:
    """Run one training subprocess; its output goes to `<sweep_dir>/<job>.log`. Returns the run folder."""
    job = job_name(model.name, scale)
    log_path = sweep_dir / f"{job}.log"
    command = train_command(profile, model, scale, sweep_dir)
    print(f"[benchmarks] training {job} (log: {log_path})", flush=True)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n\n")
        log.flush()
        process = subprocess.run(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    run_dir = sweep_dir / job
    if process.returncode != 0 or not (run_dir / "metrics.json").is_file():
        reason = failure_reason(log_path)
        raise SISRError(f"training {job} failed (exit {process.returncode}): {reason} (full log: {log_path})")
    print(f"[benchmarks] {job} trained in {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def train_suite(profile: Profile, sweep_dir: Path) -> list[Path]:
    """Train every (model, scale) of `profile` into `sweep_dir`, in profile order; returns the run folders."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return [
        train_one(profile, model, scale, sweep_dir) for model in profile.models for scale in profile.scales_of(model)
    ]
