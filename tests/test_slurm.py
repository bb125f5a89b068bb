"""The cluster path on a real scheduler: a one-node SLURM cluster (slurm-wlm, munge) started by the `slurm_cluster`
fixture, no mock or local executor. hydra/launcher=slurm as shipped (a GPU-less partition, accounting disabled),
a two-task DDP job, sbatch's refusal, a preempted job and a job at its time limit (both requeued and resumed
bit for bit), the benchmark runner's --launcher slurm, and scripts/slurm/train.sbatch."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data
from tests.ddp_checks import assert_two_process_run, ddp_train_overrides
from tests.slurm_cluster import SlurmCluster

TRAIN = [sys.executable, "-m", "sisr.train", "-m", "hydra/launcher=slurm"]
SACCT_NOTE = "sacct does not answer on this cluster"


def job_env(cluster: SlurmCluster, tmp_path: Path) -> dict[str, str]:
    """The clients' environment (sbatch exports it to the jobs): this cluster, the shared data, a private cache,
    and this interpreter first on PATH (for scripts that call `python`)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return cluster.env | {"SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache"), "PATH": path}


def only_job_id(sweep: Path) -> str:
    """The SLURM job id of a one-job sweep (submitit's folder `<sweep>/.submitit/<id>`)."""
    ids = [p.name for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]
    assert len(ids) == 1, ids
    return ids[0]


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    """Poll `condition` every 0.2 s; fail after `timeout` seconds or when `process` ended first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the sweep ended before {what}: {process.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.2)


def generator_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    return {key: value for key, value in state.items() if key.startswith("generator.")}


def assert_bitwise_equal(run_dir: Path, reference_dir: Path) -> None:
    ours, reference = generator_weights(run_dir), generator_weights(reference_dir)
    assert ours.keys() == reference.keys() and ours
    differing = [key for key in ours if not torch.equal(ours[key], reference[key])]
    assert not differing, f"generator tensors differ from the uninterrupted job: {differing}"


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out, err


@pytest.mark.slow
def test_two_task_ddp_job_through_the_shipped_launcher(slurm_cluster: SlurmCluster, tmp_path: Path, compose_train) -> None:
    sweep = tmp_path / "sweep"
    command = [*TRAIN, *ddp_train_overrides("srresnet"), f"hydra.sweep.dir={sweep}"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=job_env(slurm_cluster, tmp_path), capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    job = only_job_id(sweep)
    submission = (sweep / ".submitit" / job / f"{job}_submission.sh").read_text()
    assert "#SBATCH --ntasks-per-node=2" in submission and "gpu" not in submission.lower()  # GPU-less partition
    # One task per process, each a Lightning rank from SLURM's variables.
    logs = sorted(p.name for p in (sweep / ".submitit" / job).glob("*_log.err"))
    assert logs == [f"{job}_0_log.err", f"{job}_1_log.err"]
    rank_zero = (sweep / ".submitit" / job / f"{job}_0_log.err").read_text()
    assert "Initializing distributed: GLOBAL_RANK: 0, MEMBER: 1/2" in rank_zero
    assert_two_process_run(sweep / "0", compose_train)
    output = result.stdout + result.stderr
    assert output.count(SACCT_NOTE) == 1 and "Bypassing sacct error" not in output  # once per sweep, not per poll


def test_a_job_sbatch_refuses_is_one_sentence(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    command = [*TRAIN, "model=srcnn", "data=sample", "debug=smoke", "hydra.launcher.mem_gb=100000", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=job_env(slurm_cluster, tmp_path), capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith('error: sbatch refused the job: "Memory specification can not be satisfied')
    assert "Traceback" not in result.stderr and result.stderr.count("Memory specification") == 1


def requeue_overrides(batches: int) -> list[str]:
    """A deterministic one-CPU training that saves last.ckpt every 10 batches and resumes with ckpt_path=auto."""
    return [
        "model=srcnn", "model.generator.num_features=8", "model.generator.mid_features=4", "data=sample",
        "data.patch_size=32", "data.batch_size=2", "data.num_workers=0", "trainer.accelerator=cpu",
        "trainer.devices=1", "trainer.deterministic=true", f"trainer.max_steps={batches}",
        f"trainer.val_check_interval={batches}", "callbacks.model_checkpoint.every_n_train_steps=10",
        "trainer.enable_progress_bar=false", "logger=csv", "test_after_fit=false", "data.val_max_images=1",
    ]  # fmt: skip


def requeue_command(sweep: Path, batches: int, timeout_min: int, signal_delay_s: int = 90) -> list[str]:
    """`requeue_overrides` as a one-job sweep through the shipped launcher, with a time limit."""
    return [
        *TRAIN, *requeue_overrides(batches), "ckpt_path=auto", f"hydra.launcher.timeout_min={timeout_min}",
        f"hydra.launcher.signal_delay_s={signal_delay_s}", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def batch_seconds(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Seconds per batch of `requeue_overrides`'s training on this machine now, to size the requeue tests'
    trainings in time rather than in batches: the training time a local 300-batch run reports in metrics.json
    (its fit, validation and periodic checkpoints included), with one torch thread as in the one-CPU jobs."""
    run_dir = tmp_path_factory.mktemp("calibration")
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(run_dir / "cache"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "sisr.train", *requeue_overrides(300), f"hydra.run.dir={run_dir}"]
    subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD, check=True)
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "completed" and summary["batches"] == 300
    return summary["train_seconds"] / summary["batches"]


def batches_lasting(seconds: float, per_batch: float) -> int:
    """A batch budget of about `seconds` (a multiple of the checkpoint interval, at least 100 batches)."""
    return max(100, math.ceil(seconds / per_batch / 10) * 10)


def job_field(cluster: SlurmCluster, job: str, name: str) -> str:
    """One field of `scontrol show job` ('' when the controller no longer knows the job)."""
    found = re.search(rf"\b{name}=(\S+)", cluster.run("scontrol", "show", "job", job, check=False))
    return found.group(1) if found else ""


def restarts(cluster: SlurmCluster, job: str) -> int:
    return int(job_field(cluster, job, "Restarts") or 0)


def release_when_requeued(cluster: SlurmCluster, job: str, process: subprocess.Popen, *updates: str) -> None:
    """Wait until the scheduler requeued `job`, then let it start now: SLURM holds a requeued batch job for two
    minutes (its BeginTime), which would only make the test wait. `updates` are further `scontrol update` fields."""
    requeued = lambda: restarts(cluster, job) >= 1 and job_field(cluster, job, "JobState") == "PENDING"  # noqa: E731
    wait_for(requeued, 600, f"requeue of job {job}", process)
    cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now", *updates)


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_requeued_and_resumed(cluster: SlurmCluster, sweep: Path, job: str, batches: int, case: str) -> None:
    summary = json.loads((sweep / "0" / "metrics.json").read_text())
    assert summary["status"] == "completed" and summary["batches"] == batches
    assert summary["resumed_from"] and Path(summary["resumed_from"]).name == "last.ckpt"
    assert restarts(cluster, job) >= 1  # requeued by the scheduler, same job id
    log = (sweep / ".submitit" / job / f"{job}_0_log.out").read_text()
    assert f"this job is {case}" in log and f"Requeued job {job}" in log  # submitit's reading of the signal
    assert "(status: interrupted," in log  # the signalled run ended as interrupted (state saved), not failed
    # A one-CPU job on the 2-core node trains with one torch thread, not two (sisr.plumbing.cpu_threads).
    assert "torch uses 1 CPU thread(s), the job's SLURM_CPUS_PER_TASK" in (sweep / "0" / "train.log").read_text()


@pytest.mark.slow
def test_preempted_job_is_requeued_and_resumes_bit_for_bit(
    slurm_cluster: SlurmCluster, tmp_path: Path, batch_seconds: float
) -> None:
    batches, env = batches_lasting(20, batch_seconds), job_env(slurm_cluster, tmp_path)
    reference = start(requeue_command(tmp_path / "reference", batches, timeout_min=60), env)
    sweep = tmp_path / "preempted"
    preempted = start(requeue_command(sweep, batches, timeout_min=60), env)
    wait_for(lambda: (sweep / "0" / "checkpoints" / "last.ckpt").exists(), HANG_GUARD, "first periodic checkpoint", preempted)
    job = only_job_id(sweep)
    slurm_cluster.run("scancel", "--signal=USR2", job)  # submitit's preemption signal
    release_when_requeued(slurm_cluster, job, preempted)
    finish(preempted, HANG_GUARD)
    finish(reference, HANG_GUARD)
    assert_requeued_and_resumed(slurm_cluster, sweep, job, batches, "preempted")
    assert_bitwise_equal(sweep / "0", tmp_path / "reference" / "0")


@pytest.mark.slow
def test_job_at_its_time_limit_is_requeued_and_resumes_bit_for_bit(
    slurm_cluster: SlurmCluster, tmp_path: Path, batch_seconds: float
) -> None:
    """A 2-minute limit with submitit's signal 60 s before it: slurmctld checks limits every 30 s and signals up to
    one check early, so the signal comes 30 to 60 s into the job, after start-up and while it trains (about 140 s
    of batches). After the requeue the test raises the limit, so the resumed run is not signalled again."""
    env = job_env(slurm_cluster, tmp_path)
    batches = batches_lasting(140, batch_seconds)
    reference = start(requeue_command(tmp_path / "reference", batches, timeout_min=60), env)
    sweep = tmp_path / "timed"
    timed = start(requeue_command(sweep, batches, timeout_min=2, signal_delay_s=60), env)
    wait_for(lambda: (sweep / ".submitit").is_dir() and any(p.name.isdigit() for p in (sweep / ".submitit").iterdir()), 600, "job", timed)
    job = only_job_id(sweep)
    release_when_requeued(slurm_cluster, job, timed, "TimeLimit=60")
    finish(timed, HANG_GUARD)
    finish(reference, HANG_GUARD)
    assert_requeued_and_resumed(slurm_cluster, sweep, job, batches, "timed-out")
    assert_bitwise_equal(sweep / "0", tmp_path / "reference" / "0")


@pytest.mark.slow
def test_benchmark_runner_submits_to_the_cluster(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    env = {key: value for key, value in job_env(slurm_cluster, tmp_path).items() if key != "SISR_HOME"}
    command = [sys.executable, "-m", "benchmarks.run", "--profile", "tiny", "--models", "srcnn", "--launcher", "slurm",
               "--work-dir", str(tmp_path / "work")]  # fmt: skip
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    job_folder = tmp_path / "work" / "train" / "srcnn_x4"
    submitted = [p.name for p in (tmp_path / "work" / "train" / ".submitit").iterdir() if p.name.isdigit()]
    assert len(submitted) == 1 and (job_folder / "metrics.json").is_file()  # trained by a SLURM job
    board = json.loads((tmp_path / "work" / "leaderboard.json").read_text())
    assert [row["model"] for row in board["rows"]] == ["bicubic", "srcnn"]


@pytest.mark.slow
def test_shipped_sbatch_script_trains_with_two_tasks(slurm_cluster: SlurmCluster, tmp_path: Path, compose_train) -> None:
    run_dir, env = tmp_path / "run", job_env(slurm_cluster, tmp_path)
    overrides = [o for o in ddp_train_overrides("srcnn") if not o.startswith(("trainer=", "trainer.devices="))]
    submitted = slurm_cluster.run(
        "sbatch", "--parsable", f"--chdir={REPO_ROOT}", f"--output={tmp_path / 'job.out'}", f"--export=ALL,SISR_RUN_DIR={run_dir}",
        str(REPO_ROOT / "scripts" / "slurm" / "train.sbatch"), *overrides, env=env,
    )  # fmt: skip
    job = submitted.strip().split(";")[0]
    wait_for(lambda: not slurm_cluster.run("squeue", "-h", "-j", job, check=False).strip(), 600, f"end of job {job}")
    assert (run_dir / "metrics.json").is_file(), (tmp_path / "job.out").read_text()[-3000:]
    assert_two_process_run(run_dir, compose_train)
