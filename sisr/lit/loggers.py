"""Loggers: a CSV logger that keeps the history of a resumed run, and the optional trackers (MLflow, Weights &
Biases) built by Lightning's own loggers, with one sentence naming the `pip install` when their package is absent.

Lightning's CSV writer deletes `metrics.csv` when its folder already holds one, so resuming into the same run
folder lost every row logged before the interruption. `ResumableCSVLogger` keeps every row already written and
appends (as TensorBoard does with its event files); after a crash, the batches between the last checkpoint and the
crash appear twice, once from each attempt.
"""

from __future__ import annotations

import csv
import importlib.util
import os
from typing import Any

from pytorch_lightning.loggers import Logger, WandbLogger

from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from sisr.plumbing.errors import SISRError


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


def _require(module: str, choice: str) -> None:
    """Stop with one sentence when the optional package behind `logger=<choice>` is not installed."""
    if importlib.util.find_spec(module) is None:
        raise SISRError(f"logger={choice} needs the {module} package, which is not installed; run pip install 'sisr[{choice}]'.")


def mlflow_logger(**kwargs: Any) -> Logger:
    """Lightning's `MLFlowLogger` (same arguments; conf/logger/mlflow.yaml)."""
    _require("mlflow", "mlflow")
    from pytorch_lightning.loggers import MLFlowLogger

    return MLFlowLogger(**kwargs)


def wandb_logger(**kwargs: Any) -> Logger:
    """Lightning's `WandbLogger` (same arguments; conf/logger/wandb.yaml)."""
    _require("wandb", "wandb")
    from pytorch_lightning.loggers import WandbLogger

    return WandbLogger(**kwargs)


def finish_loggers(loggers: list[Logger]) -> None:
    """End the runs that trackers keep open after Lightning's fit and test (a W&B run stays open until the process
    exits), so everything is written when `train` returns and a second run in the same process gets its own."""
    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.finish()
