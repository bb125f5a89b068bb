"""submitit's SLURM job-state watcher for clusters without accounting: after sacct's first failure it reads the
states from squeue, so a sweep neither repeats the failure at every poll nor waits forever for a job that left
the queue without writing its result (killed, out of memory)."""

from __future__ import annotations

import logging

from submitit.slurm.slurm import SlurmInfoWatcher

log = logging.getLogger(__name__)
LEFT_QUEUE = "LEFT_QUEUE"  # not an incomplete state for submitit: the job is over


class SqueueFallbackWatcher(SlurmInfoWatcher):
    """`SlurmInfoWatcher` that switches from sacct to squeue once sacct has failed (`use_squeue()`)."""

    squeue = False

    def use_squeue(self) -> None:
        """Read job states from squeue from now on; say so once."""
        if not self.squeue:
            self.squeue = True
            log.warning("sacct does not answer on this cluster (accounting disabled?): job states are read from squeue instead.")

    def _make_command(self) -> list[str] | None:
        command = super()._make_command()
        if command is None or not self.squeue:
            return command
        return ["squeue", "--me", "--states=all", "--format=%i|%T|%N"]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        if not self.squeue:
            return super().read_info(string)
        text = string.decode() if isinstance(string, bytes) else string
        header, *rows = text.splitlines() or [""]
        info = super().read_info("\n".join(["JobID|State|NodeList", *rows]))
        for job_id in self._registered - self._finished:  # gone from the queue: over, whatever its end
            info.setdefault(job_id, {"JobID": job_id, "State": LEFT_QUEUE, "NodeList": ""})
        return info
