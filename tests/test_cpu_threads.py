"""A SLURM job keeps torch's CPU threads to its allocation (sisr.plumbing.cpu_threads); each case runs in a fresh
interpreter, so this process's thread count is left alone. On the real cluster: tests/test_slurm.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import HANG_GUARD, REPO_ROOT

PROBE = (
    "import os, torch; from sisr.plumbing.cpu_threads import match_threads_to_allocation; "
    "before = torch.get_num_threads(); changed = match_threads_to_allocation(); "
    "print(before, changed, torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS'))"
)


def probe(**variables: str) -> tuple[int, str, int, str]:
    """Threads before, the function's answer, threads after and OMP_NUM_THREADS after, in a child process."""
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS")} | variables
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=HANG_GUARD, check=True)  # fmt: skip
    before, changed, after, omp = result.stdout.split()
    return int(before), changed, int(after), omp


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a machine where torch starts more than one thread")
def test_a_one_cpu_job_uses_one_thread_and_tells_its_children() -> None:
    before, changed, after, omp = probe(SLURM_CPUS_PER_TASK="1")
    assert before >= 2 and (changed, after, omp) == ("1", 1, "1")


def test_outside_a_job_or_with_omp_num_threads_set_nothing_changes() -> None:
    before, changed, after, omp = probe()
    assert (changed, after, omp) == ("None", before, "None")
    before, changed, after, omp = probe(SLURM_CPUS_PER_TASK="1", OMP_NUM_THREADS="2")
    assert (changed, after, omp) == ("None", 2, "2")  # the user's setting stands
    before, changed, after, omp = probe(SLURM_CPUS_PER_TASK="64")
    assert (changed, after) == ("None", before)  # never more threads than torch chose
