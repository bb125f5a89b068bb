"""Train a profile's jobs, one `python -m sisr.train -m ...` subprocess per (job, scale).

A job is a `sisr.train` recipe given by reference: a model (`model=srcnn`) or a two-stage experiment
(`experiment=srgan_x4`), which trains its PSNR model in `stage1_psnr/` and its GAN in `stage2_gan/` from stage 1's
final weights (sisr.stages, the one stage mechanism). Each job lands where a hand-made sweep would,
`<sweep_dir>/<job>_x<scale>/`, so `--collect` reads both the same way. The subprocesses run in the project root
(sisr.paths: `$SISR_HOME`, else the working directory), never inside the package.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.leaderboard.profile import JobSpec, Profile, job_name
from sisr.errors import SISRError
from sisr.paths import project_root

_HYDRA_TRAILER = "Set the environment variable HYDRA_FULL_ERROR=1 for a complete stack trace."


def quote_override_value(value: str) -> str:
    """A Hydra override value quoted so that any path (with '=', spaces, commas) is taken literally."""
    return "'" + value.replace("'", "\\'") + "'"


def train_command(profile: Profile, job: JobSpec, scale: int, sweep_dir: Path) -> list[str]:
    """The `python -m sisr.train -m ...` command of one job (a one-job Hydra multirun into `sweep_dir`).

    Args:
        profile: the suite (its shared overrides come first).
        job: the job (its overrides come next, then the scale).
        scale: the upscaling factor.
        sweep_dir: the suite's sweep folder.
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
    ]


def failure_reason(log_path: Path) -> str:
    """The last paragraph of a failed run's log (Hydra's generic trailer skipped); of a traceback, its last line."""
    text = log_path.read_text().replace(_HYDRA_TRAILER, "")
    paragraphs = [p.strip().splitlines() for p in text.strip().split("\n\n") if p.strip()]
    if not paragraphs:
        return "no output"
    last = [line.strip() for line in paragraphs[-1]]
    return last[-1] if len(last) > 6 else " ".join(last)


def train_one(profile: Profile, job: JobSpec, scale: int, sweep_dir: Path) -> Path:
    """Run one training subprocess; its output goes to `<sweep_dir>/<job>_x<scale>.log`. Returns the run folder."""
    name = job_name(job.name, scale)
    log_path = sweep_dir / f"{name}.log"
    command = train_command(profile, job, scale, sweep_dir)
    print(f"[benchmarks] training {name} (log: {log_path})", flush=True)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n\n")
        log.flush()
        process = subprocess.run(command, cwd=project_root(), stdout=log, stderr=subprocess.STDOUT)
    run_dir = sweep_dir / name
    if process.returncode != 0 or not any(run_dir.rglob("metrics.json")):
        reason = failure_reason(log_path)
        raise SISRError(f"training {name} failed (exit {process.returncode}): {reason} (full log: {log_path})")
    print(f"[benchmarks] {name} trained in {time.perf_counter() - started:.0f} s", flush=True)
    return run_dir


def train_suite(profile: Profile, sweep_dir: Path) -> list[Path]:
    """Train every (job, scale) of `profile` into `sweep_dir`, in profile order; returns the job folders."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return [train_one(profile, job, scale, sweep_dir) for job in profile.jobs for scale in profile.scales_of(job)]
