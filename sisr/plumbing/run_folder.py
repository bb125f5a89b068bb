"""A run folder held by one run at a time: created and probed for writing, then locked for the run's lifetime.

The lock is checked twice: by the Hydra callback before Hydra writes `.hydra/` into the folder (so a refused run
touches nothing of the running one), and by `sisr.core.training.train`, which holds it while the run lasts.
"""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock, Timeout

from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import atomic_write

RUN_LOCK = ".sisr_run.lock"


def launched_rank() -> int:
    """This process's global rank as its launcher set it (Lightning's DDP launcher, torchrun, SLURM), before any
    Trainer exists; 0 for a single process."""
    for variable in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    return 0


def check_writable(folder: Path) -> None:
    """Create the run folder, or stop with one sentence when it cannot be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / ".sisr_write_probe", "w") as handle:
            handle.write("ok\n")
        (folder / ".sisr_write_probe").unlink()
    except (SISRError, OSError) as exc:
        raise SISRError(f"the run folder {folder} is not writable; choose another with hydra.run.dir=<folder>.") from exc


def _held_message(folder: Path) -> str:
    return (
        f"another run is already writing {folder} (it holds {folder / RUN_LOCK}); wait for it to finish or "
        "choose another folder with hydra.run.dir=<folder>."
    )


def lock_run_folder(folder: Path) -> FileLock:
    """Hold the run folder for this process; a second run writing the same folder gets one sentence."""
    lock = FileLock(folder / RUN_LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout as exc:
        raise SISRError(_held_message(folder)) from exc
    return lock


def check_not_held(folder: Path) -> None:
    """Raise the one sentence when a live run holds `folder` (touching nothing in it when none does)."""
    if launched_rank() != 0 or not (folder / RUN_LOCK).exists():
        return  # the other processes of a multi-process run share rank 0's folder
    lock_run_folder(folder).release()
