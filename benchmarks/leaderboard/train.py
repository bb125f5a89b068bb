"""Train a profile's jobs, one `python -m sisr.train -m ...` subprocess per (job, scale).

A job is a `sisr.train` recipe given by reference: a model (`model=srcnn`) or a two-stage experiment
(`experiment=srgan_x4`), which trains its PSNR model in `stage1_psnr/` and its GAN in `stage2_gan/` from stage 1's
final weights (sisr.core.stages, the one stage mechanism). Each job lands where a hand-made sweep would,
`<sweep_dir>/<job>_x<scale>/`, so `--collect` reads both the same way. The subprocesses run in the project root
(sisr.plumbing.paths: `$SISR_HOME`, else the working directory), never inside the package.

Jobs are independent (a GAN row's PSNR stage runs inside its own job, before it), so with a Hydra launcher
(`--launcher slurm` or `local`, conf/hydra/launcher/) they are all submitted at once and run in parallel; without
one they run one after another on this machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.leaderboard.profile import JobSpec, Profile, job_name
from sisr.plumbing.errors import SISRError
from sisr.plumbing.stop_signals import StopRequested
from sisr.plumbing.paths import project_root

_HYDRA_TRAILER = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


def quote_override_value(value: str) -> str:
    """A Hydra override value quoted so that any path (with '=', spaces, commas) is taken literally."""
    return "'" + value.replace("'", "\\'") + "'"


def train_command(
    profile: Profile, job: JobSpec, scale: int, sweep_dir: Path, launcher: str | None = None
) -> list[str]:
    """The `python -m sisr.train -m ...` command of one job (a one-job Hydra multirun into `sweep_dir`).

    Args:
        profile: the suite (its shared overrides come first).
        job: the job (its overrides come next, then the scale).
        scale: the upscaling factor.
        sweep_dir: the suite's sweep folder.
        launcher: a Hydra launcher config (conf/hydra/launcher/<name>.yaml) to submit the job through.
    """
    return [
        sys.executable,
        "-m",
        "sisr.train",
        "--multirun",
        *profile.train_overrides,
        *job.overrides,
        f"data.scale={scale}",
        f"hydra.sweep.dir={quote_override_value(str(sweep_dir))}",
        f"hydra.sweep.subdir={job_name(job.name, scale)}",
        *([f"hydra/launcher={launcher}"] if launcher else []),
    ]


def failure_reason(log_path: Path) -> str:
    """The last paragraph of a failed run's log (Hydra's generic trailer skipped); of a traceback, its last line."""
    text = log_path.read_text().replace(_HYDRA_TRAILER, "")
    paragraphs = [p.strip().splitlines() for p in text.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return "no output"
    last = [line.strip() for line in paragraphs[-1]]
    return last[-1] if len(last) > 6 else " ".join(last)


def _start(profile: Profile, job: JobSpec, scale: int, sweep_dir: Path, launcher: str | None):
    """Start one job's subprocess, its output going to `<sweep_dir>/<job>_x<scale>.log`."""
    name = job_name(job.name, scale)
    log_path = sweep_dir / f"{name}.log"
    command = train_command(profile, job, scale, sweep_dir, launcher)
    print(f"[benchmarks] training {name}{f' through {launcher}' if launcher else ''} (log: {log_path})", flush=True)
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n\n")
        log.flush()
        process = subprocess.Popen(command, cwd=project_root(), stdout=log, stderr=subprocess.STDOUT)
    return name, log_path, process


def _finish(name: str, log_path: Path, process: subprocess.Popen, sweep_dir: Path, started: float) -> Path:
    """Wait for a job; returns its run folder, or raises one sentence with the log's last words. A stop signal to
    the suite is passed on to the job, which saves its state and records it before the suite stops."""
    try:
        returncode = process.wait()
    except StopRequested as stop:
        process.send_signal(stop.signum)
        process.wait()
        raise
    run_dir = sweep_dir / name
    if returncode != 0 or not any(run_dir.rglob("metrics.json")):
        reason = failure_reason(log_path)
        raise SISRError(f"training {name} failed (exit {returncode}): {reason} (full log: {log_path})")
    print(f"[benchmarks] {name} trained after {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def train_one(profile: Profile, job: JobSpec, scale: int, sweep_dir: Path) -> Path:
    """Run one training subprocess and wait for it. Returns the run folder."""
    started = time.perf_counter()
    return _finish(*_start(profile, job, scale, sweep_dir, None), sweep_dir, started)


def train_suite(profile: Profile, sweep_dir: Path, launcher: str | None = None) -> list[Path]:
    """Train every (job, scale) of `profile` into `sweep_dir`; returns the job folders in profile order.

    Args:
        profile: the suite.
        sweep_dir: where the jobs' folders go.
        launcher: a Hydra launcher (`local`, `slurm`): submit every job at once; None: one after another here.
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    pairs = [(job, scale) for job in profile.jobs for scale in profile.scales_of(job)]
    if launcher is None:
        return [train_one(profile, job, scale, sweep_dir) for job, scale in pairs]
    started = time.perf_counter()
    running = [_start(profile, job, scale, sweep_dir, launcher) for job, scale in pairs]
    return [_finish(*started_job, sweep_dir, started) for started_job in running]
