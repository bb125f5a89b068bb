"""`train/data_wait`: the share of training wall time spent waiting for the next batch, so a starving loader shows.

Between the end of one training batch and the start of the next the host fetches the next batch from the loader
(and runs the other callbacks' batch-end work); time spent in validation is left out of both sides. On a GPU the
host runs ahead of the device, so a share near 0 means the loader keeps up, a large share means the GPU waits for
data: add loader workers (`data.num_workers`) or cache sub-images (`data.subimage_size`).
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from sisr.lit.progress import at_log_interval


class DataWait(Callback):
    """Log `train/data_wait` (waiting time / wall time over the last log interval) at every log interval.

    The value is a Python float measured on the host: logging it waits for nothing on the device.
    """

    def __init__(self) -> None:
        self.wait = 0.0  # seconds waiting between batches in the current log interval
        self.busy = 0.0  # seconds inside batches in the current log interval
        self._batch_start: float | None = None
        self._batch_end: float | None = None
        self._paused = 0.0  # validation time since the last batch ended
        self._validation_start = 0.0
        self.shares: list[float] = []  # every value logged, for benchmarks and tests

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.wait = self.busy = self._paused = 0.0
        self._batch_start = self._batch_end = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        now = time.perf_counter()
        if self._batch_end is not None:
            self.wait += max(0.0, now - self._batch_end - self._paused)
        self._batch_start, self._paused = now, 0.0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        if self._batch_start is not None:
            self.busy += now - self._batch_start
        self._batch_end = now
        if at_log_interval(trainer) and self.wait + self.busy > 0:
            share = self.wait / (self.wait + self.busy)
            pl_module.log("train/data_wait", share, on_step=True, on_epoch=False, batch_size=1)
            self.shares.append(share)
            self.wait = self.busy = 0.0

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._validation_start = time.perf_counter()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._paused += time.perf_counter() - self._validation_start
