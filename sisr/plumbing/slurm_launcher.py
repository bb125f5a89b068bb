"""What `hydra/launcher=slurm` adds to hydra-submitit-launcher's SLURM launcher (the launcher class itself is
`hydra_plugins.sisr_launcher.slurm.SlurmLauncher`: Hydra loads launchers only from the hydra_plugins package).

* GPUs are requested only when the trainer trains on GPUs (`trainer.accelerator` gpu or cuda, or auto on a
  machine that sees one); a CPU job asks for none, so it runs on a GPU-less partition.
* One task per process (`trainer.devices`, a number) and `data.num_workers + 1` CPUs per task unless set.
* A job that sbatch rejects stops the sweep with one sentence quoting sbatch's message (status 2).
* On a cluster without accounting, job states come from squeue after sacct's first failure, said once per sweep
  (submitit repeated its "Bypassing sacct error" warning at every poll).
"""

from __future__ import annotations

import io
import logging
import sys
from typing import Any

from sisr.plumbing.errors import SISRError

GPU_ACCELERATORS = ("gpu", "cuda")
SACCT_WARNING = "Bypassing sacct error"

log = logging.getLogger(__name__)


def gpus_per_node(accelerator: str, devices: Any, cuda_visible: bool) -> int:
    """GPUs to request per node: the processes per node when they train on GPUs, otherwise none."""
    on_gpus = accelerator in GPU_ACCELERATORS or (accelerator == "auto" and cuda_visible)
    return tasks_per_node(devices) if on_gpus else 0


def tasks_per_node(devices: Any) -> int:
    """One SLURM task per training process: `trainer.devices` when it is a positive number."""
    if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
        return devices
    if isinstance(devices, str) and devices.isdigit() and int(devices) > 0:
        return int(devices)
    raise SISRError(
        f"hydra/launcher=slurm starts one task per process, so trainer.devices must be a number of processes, not "
        f"{devices!r}; set e.g. trainer.devices=4."
    )


def resolve_resources(params: dict[str, Any], cuda_visible: bool) -> dict[str, Any]:
    """The submitit parameters of `params` (slurm.yaml, resolved) with `auto` values decided and own keys removed."""
    params = dict(params)
    accelerator, devices = str(params.pop("accelerator", "auto")), params.pop("devices", 1)
    num_workers = int(params.pop("num_workers", 0) or 0)
    if params.get("tasks_per_node") == "auto":
        params["tasks_per_node"] = tasks_per_node(devices)
    if params.get("gpus_per_node") == "auto":
        params["gpus_per_node"] = gpus_per_node(accelerator, devices, cuda_visible) or None  # None: no GPU line
    if params.get("cpus_per_task") == "auto":
        params["cpus_per_task"] = num_workers + 1  # the training process and its loader workers
    for key in ("mem_gb", "timeout_min", "cpus_per_task"):
        value = params.get(key)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise SISRError(f"hydra.launcher.{key} must be a positive whole number, got {value!r}.")
    return params


def sbatch_message(exc: BaseException) -> str | None:
    """sbatch's own words when `exc` is submitit's wrapper of a failed sbatch call, else None."""
    cause = exc.__cause__
    command = getattr(cause, "cmd", None) or []
    if not command or "sbatch" not in str(command[0]):
        return None
    lines = [line.removeprefix("sbatch: error: ").strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or "no message"


class SacctFailure(logging.Filter):
    """On submitit's logger: turns its sacct warning into a switch of `watcher` to squeue (said once)."""

    def __init__(self, watcher: Any) -> None:
        super().__init__()
        self.watcher = watcher

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if SACCT_WARNING not in message:
            return True
        self.watcher.use_squeue()
        return False


class DropSbatchLines(io.TextIOBase):
    """A stderr that forwards everything except sbatch's error lines (quoted in the launcher's one sentence)."""

    def __init__(self, target: Any) -> None:
        self.target, self.pending = target, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if not line.startswith("sbatch: "):
                self.target.write(line + "\n")
        self.target.flush()
        return len(text)

    def flush(self) -> None:
        self.target.flush()


def stop(message: str) -> None:
    """Print `error: <message>` and exit with status 2 (a launcher runs outside the entry point's error handling)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
