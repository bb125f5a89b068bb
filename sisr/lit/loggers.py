"""A CSV logger that keeps the history of a resumed run.

Lightning's CSV writer deletes `metrics.csv` when its folder already holds one, so resuming into the same run
folder lost every row logged before the interruption. `ResumableCSVLogger` keeps every row already written and
appends (as TensorBoard does with its event files); after a crash, the batches between the last checkpoint and the
crash appear twice, once from each attempt.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities.rank_zero import rank_zero_only


class _AppendingWriter(ExperimentWriter):
    """Lightning's writer, minus the deletion of an existing metrics file."""

    def _check_log_dir_exists(self) -> None:
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = list(csv.DictReader(handle).fieldnames or [])


class ResumableCSVLogger(CSVLogger):
    """`CSVLogger` that appends to the run folder's `metrics.csv` (same arguments)."""

    @property
    def experiment(self) -> Any:
        if self._experiment is None and rank_zero_only.rank == 0:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return super().experiment
