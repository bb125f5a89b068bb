"""Hydra callbacks of the entry points: an unusable output folder, or one a live run holds, is one sentence.

Hydra creates the run folder (`hydra.run.dir`, or `hydra.sweep.dir` for a multirun) and writes `.hydra/` into it
before any sisr code runs, so these checks happen in a Hydra callback, before that: a refused run touches nothing
of the running one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sisr.plumbing.errors import SISRError
from sisr.plumbing.run_folder import check_not_held


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".sisr_write_probe"
        probe.write_text("ok\n")
        probe.unlink()
    except OSError:
        return False
    return True


class OutputFolderCheck(Callback):
    """Stop with `error: <sentence>` and status 2 when the run or sweep folder cannot be created or written."""

    def _check(self, folder: str, key: str) -> None:
        if not _usable(Path(folder)):
            print(f"error: the output folder {folder} cannot be created or written; choose another with {key}=<folder>.", file=sys.stderr)
            sys.exit(2)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_not_held(Path(config.hydra.run.dir))
        except SISRError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        self._check(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config.hydra.sweep.dir, "hydra.sweep.dir")
