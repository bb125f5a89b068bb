"""Torch's CPU threads matched to the CPUs a SLURM job was given.

Torch starts one compute thread per core it can see. A SLURM job on a node without CPU binding (`TaskPlugin=
task/none`, or a cgroup quota rather than a cpuset) sees every core of the node, so each job runs as many threads
as the node has cores and jobs sharing the node slow each other down: two one-CPU jobs on the 2-core test cluster
trained 4.5x slower than with one thread each (300 SRCNN batches: 14.4 s against 3.2 s, `tests/test_slurm.py`).
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def allocated_cpus() -> int | None:
    """The CPUs SLURM gave each task of this job (`SLURM_CPUS_PER_TASK`), None outside a job or when unset."""
    value = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def match_threads_to_allocation() -> int | None:
    """In a SLURM job, use at most `SLURM_CPUS_PER_TASK` torch threads; returns the number set, or None when
    nothing changed (no allocation, already few enough threads, or `OMP_NUM_THREADS` set: the user's choice).

    `OMP_NUM_THREADS` is set too, so Lightning's DDP (which divides all the node's cores between its processes
    when that variable is unset) and loader workers keep to the allocation."""
    cpus = allocated_cpus()
    if cpus is None or "OMP_NUM_THREADS" in os.environ or torch.get_num_threads() <= cpus:
        return None
    log.info("torch uses %d CPU thread(s), the job's SLURM_CPUS_PER_TASK, not one per core of the node (%d)", cpus, torch.get_num_threads())
    torch.set_num_threads(cpus)
    os.environ["OMP_NUM_THREADS"] = str(cpus)
    return cpus
