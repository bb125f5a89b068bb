"""`val/train_minutes`: training wall time up to each validation, so a learning curve can be drawn against time.

The clock runs from the start of fit to its end and stops while validation runs; it is saved in checkpoints, so a
resumed run goes on counting from where the interrupted one stopped (time between the two is not counted).
"""

from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class TrainingClock(Callback):
    """Count training wall time (validation excluded) and log it in minutes with every validation."""

    def __init__(self) -> None:
        self.seconds = 0.0  # counted before the current running stretch
        self._since: float | None = None  # start of the current running stretch, None while stopped

    @property
    def minutes(self) -> float:
        """Training minutes so far, the running stretch included."""
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return (self.seconds + running) / 60.0

    def _start(self) -> None:
        self._since = time.perf_counter()

    def _stop(self) -> None:
        if self._since is not None:
            self.seconds += time.perf_counter() - self._since
            self._since = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start()

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            pl_module.log("val/train_minutes", self.minutes, on_step=False, on_epoch=True, batch_size=1)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.training:
            self._start()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop()

    def state_dict(self) -> dict[str, Any]:
        return {"seconds": self.minutes * 60.0}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seconds = float(state_dict["seconds"])
