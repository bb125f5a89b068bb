"""The class behind `hydra/launcher=slurm` (Hydra loads launchers only from the hydra_plugins package); what it adds
to hydra-submitit-launcher's SLURM launcher is in `sisr.plumbing.slurm_launcher`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr
from typing import Any

from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher

from sisr.plumbing.errors import SISRError
from sisr.plumbing.slurm_launcher import DropSbatchLines, SacctFailure, resolve_resources, sbatch_message, stop


class SlurmLauncher(SubmititSlurmLauncher):
    """hydra-submitit-launcher's SLURM launcher with resources decided from the trainer, sbatch's refusal as one
    sentence and the accounting warning said once per sweep."""

    def __init__(self, **params: Any) -> None:
        import torch  # lazy: Hydra imports every plugin module at start-up

        super().__init__(**params)
        try:
            self.params = resolve_resources(self.params, torch.cuda.is_available())
        except SISRError as exc:
            stop(str(exc))

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from submitit.slurm.slurm import SlurmJob

        from sisr.plumbing.slurm_watcher import SqueueFallbackWatcher

        submitit_log, stock_watcher = logging.getLogger("submitit"), SlurmJob.watcher
        SlurmJob.watcher = SqueueFallbackWatcher(delay_s=stock_watcher._delay_s)  # noqa: SLF001 - same polling delay
        sacct_failure = SacctFailure(SlurmJob.watcher)
        submitit_log.addFilter(sacct_failure)
        try:
            with redirect_stderr(DropSbatchLines(sys.stderr)):
                return super().launch(job_overrides, initial_job_idx)
        except Exception as exc:  # noqa: BLE001 - re-raised unless sbatch refused the job
            message = sbatch_message(exc)
            if message is None:
                raise
            stop(
                f'sbatch refused the job: "{message}"; change the request on the command line or in '
                "conf/hydra/launcher/slurm.yaml (hydra.launcher.mem_gb, cpus_per_task, partition, ...)."
            )
        finally:
            submitit_log.removeFilter(sacct_failure)
            SlurmJob.watcher = stock_watcher
