"""A CSV logger that keeps the history of a resumed run.

Lightning's CSV writer deletes `metrics.csv` when its folder already holds one, so resuming into the same run
folder lost every row logged before the interruption. `ResumableCSVLogger` keeps the rows logged up to the step
the run resumes from, drops the ones after it (they are logged again by the resumed run), and appends.
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

    @rank_zero_only
    def truncate_from(self, step: int) -> None:
        """Drop the rows logged at or after `step` (Lightning logs against the count of batches trained), before a
        run resumes from a checkpoint taken after that many batches."""
        path = os.path.join(self.log_dir, ExperimentWriter.NAME_METRICS_FILE)
        if not os.path.isfile(path):
            return
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [row for row in rows if not row.get("step") or int(float(row["step"])) < step]
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
