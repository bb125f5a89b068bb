"""What a run shows while it trains: one bar over the whole batch budget, and when the log intervals fall.

Lightning's bar restarts every epoch ("Epoch 71: 15/15") and never says how many batches the run will train.
`BudgetProgressBar` counts training batches done out of the run's budget (`trainer.max_steps` converted back to
batches; for two-stage experiments each stage's own budget), with batches/s and an ETA for the whole run, and
gives validation a short bar of its own per set. Metrics in the bar's postfix are read only at log intervals
(`trainer.log_every_n_steps`): reading a logged tensor blocks the host until the GPU catches up.

When standard output is not a terminal (a log file, a SLURM job's output) no bar frames are written: a plain line
every 5% of the budget (and at the last batch) says the same, one line each.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import TQDMProgressBar
from pytorch_lightning.callbacks.progress.tqdm_progress import Tqdm, convert_inf


def batches_done(trainer: pl.Trainer) -> int:
    """Training batches done (Lightning's global_step counts optimizer steps, two per batch for the GAN models)."""
    return trainer.global_step // getattr(trainer.lightning_module, "optimizer_steps_per_batch", 1)


def at_log_interval(trainer: pl.Trainer, batches: int | None = None) -> bool:
    """Whether `batches` (default: the batches done) ends a log interval, as Lightning decides when to write logs."""
    if trainer.log_every_n_steps <= 0:
        return False
    done = batches_done(trainer) if batches is None else batches
    return done % trainer.log_every_n_steps == 0 or trainer.should_stop


def batch_budget(trainer: pl.Trainer) -> int | None:
    """The run's training budget in batches; None when it is unbounded."""
    steps_per_batch = getattr(trainer.lightning_module, "optimizer_steps_per_batch", 1)
    if trainer.max_steps is not None and trainer.max_steps > 0:
        return trainer.max_steps // steps_per_batch
    per_epoch, epochs = trainer.num_training_batches, trainer.max_epochs
    if epochs is not None and epochs > 0 and not math.isinf(per_epoch):
        return int(per_epoch) * epochs
    return None


class BudgetProgressBar(TQDMProgressBar):
    """A TQDM bar over the run's batch budget (not the epoch), with batches/s and the run's ETA.

    A resumed run starts the bar at the batches already done; the rate and ETA count this attempt's batches only.

    Args:
        refresh_rate: redraw the bar every this many batches.
        metrics: logged metrics shown after the bar (with any logged with `prog_bar=True`), read at log intervals.
        plain: plain progress lines instead of bars; None: when standard output is not a terminal.
    """

    BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
    PLAIN_LINES = 20  # plain mode: a line every 1/20 of the budget

    def __init__(
        self, refresh_rate: int = 1, metrics: tuple[str, ...] | list[str] = ("train/loss",), plain: bool | None = None
    ) -> None:
        super().__init__(refresh_rate=refresh_rate, leave=False)
        self.metrics = tuple(metrics)
        self.plain = not sys.stdout.isatty() if plain is None else bool(plain)
        self._plain_start = (0.0, 0)  # (time, batches) when this attempt's training started

    @property
    def is_disabled(self) -> bool:
        """No bars in plain mode (Lightning creates every bar with `disable=self.is_disabled`)."""
        return self.plain or super().is_disabled

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train_progress_bar = Tqdm(
            desc="Training",
            total=batch_budget(trainer),
            initial=batches_done(trainer),  # a resumed run: rate and ETA from this attempt's own batches
            unit=" batches",
            position=2 * self.process_position,
            disable=self.is_disabled,
            leave=True,
            dynamic_ncols=True,
            file=sys.stdout,
            smoothing=0,
            bar_format=self.BAR_FORMAT,
        )

        self._plain_start = (time.perf_counter(), batches_done(trainer))

    def _plain_line(self, trainer: pl.Trainer, pl_module: pl.LightningModule, done: int) -> None:
        total = batch_budget(trainer)
        every = max(1, (total or 20 * self.PLAIN_LINES) // self.PLAIN_LINES)
        if done % every and done != total:
            return
        started, first = self._plain_start
        rate = (done - first) / max(time.perf_counter() - started, 1e-9)
        parts = [f"Training: {done}/{total} batches ({100 * done // total}%)" if total else f"Training: {done} batches"]
        parts.append(f"{rate:.2f} batches/s")
        if total and rate > 0:
            parts.append(f"ETA {_duration((total - done) / rate)}")
        if at_log_interval(trainer, done):
            parts += [f"{name}={value:.4g}" for name, value in self.get_metrics(trainer, pl_module).items() if isinstance(value, float)]
        print(", ".join(parts), file=sys.stdout, flush=True)

    def on_train_epoch_start(self, trainer: pl.Trainer, *_: Any) -> None:
        """The bar spans the whole run: nothing restarts at an epoch boundary."""

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.plain and trainer.is_global_zero:
            self._plain_line(trainer, pl_module, batches_done(trainer))
        bar = self._train_progress_bar
        if bar is None or bar.disable:
            return
        done = batches_done(trainer)
        if at_log_interval(trainer, done):
            bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)  # reads the logged tensors
            bar.n = done
            bar.refresh()
        elif self._should_update(done, bar.total):
            bar.update(done - bar.n)  # redraws at most every `mininterval` seconds (tqdm's default 0.1)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Metrics are shown at log intervals only (reading them waits for the device)."""

    def on_validation_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if trainer.sanity_checking:
            super().on_validation_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
            return
        if not self.has_dataloader_changed(dataloader_idx):
            return
        self.val_progress_bar.reset(total=convert_inf(self.total_val_batches_current_dataloader))
        self.val_progress_bar.set_description(f"Validation {_set_name(trainer, 'val', dataloader_idx)}")

    def on_test_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        super().on_test_batch_start(trainer, pl_module, batch, batch_idx, dataloader_idx)
        if self._test_progress_bar is not None and batch_idx == 0:
            self.test_progress_bar.set_description(f"Testing {_set_name(trainer, 'test', dataloader_idx)}")

    def on_test_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        super().on_test_batch_end(trainer, pl_module, outputs, batch, batch_idx, dataloader_idx)
        if not self.plain or not trainer.is_global_zero:
            return
        total = int(convert_inf(self.total_test_batches_current_dataloader) or 0)
        done = batch_idx + 1
        if done == total or done % max(1, total // 4) == 0:  # a line every quarter of a set, and at its end
            print(f"Testing {_set_name(trainer, 'test', dataloader_idx)}: {done}/{total} images", flush=True)

    def init_validation_tqdm(self) -> Tqdm:
        bar = super().init_validation_tqdm()
        bar.unit = " images"
        return bar

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        shown = {name: trainer.callback_metrics[name] for name in self.metrics if name in trainer.callback_metrics}
        shown = {name: float(value) for name, value in shown.items()}
        shown |= super().get_metrics(trainer, pl_module)
        shown.pop("v_num", None)  # the logger's version: always "" in sisr's run folders
        return shown


def _set_name(trainer: pl.Trainer, split: str, index: int) -> str:
    """The name of validation or test set `index` (`split` "val" or "test"), as the datamodule lists them."""
    names = getattr(getattr(trainer, "datamodule", None), f"{split}_set_names", None) or []
    return names[index] if index < len(names) else f"set {index}"


def _duration(seconds: float) -> str:
    """`1h02m`, `4m35s` or `12s`."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
