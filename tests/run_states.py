"""Helpers for tests that stop runs and resume them: a shared quick configuration, final weights of a run, and
callbacks that interfere with a run at a chosen batch (in-process stand-ins only where a real signal or kill is
also tested in a subprocess)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from sisr.lit.checkpointing import RunCheckpoint
from sisr.weights.checkpoints import read_checkpoint

# Embedded images, 2-patch batches, no smoke cap: the budgets are the runs' own. With data.repeat=2 an epoch of the
# five sample images is 5 batches.
QUICK_DATA = [
    "data=sample",
    "data.patch_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "data.val_max_images=1",
    "trainer.accelerator=cpu",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=1",
]
EPOCH_BATCHES = 5
QUICK_EPOCH = ["data.repeat=2"]  # 5 batches per epoch


def batches_done(trainer: pl.Trainer) -> int:
    return trainer.global_step // trainer.lightning_module.optimizer_steps_per_batch


def final_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Every trained tensor of a checkpoint (generator, discriminator, EMA), without the metric states."""
    state = read_checkpoint(str(path))["state_dict"]
    return {key: value for key, value in state.items() if not key.startswith(("val_metrics", "test_metrics"))}


def differing(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor]) -> list[str]:
    """Names of the tensors that are not bitwise equal (or missing on one side)."""
    keys = expected.keys() | actual.keys()
    return sorted(k for k in keys if k not in expected or k not in actual or not torch.equal(expected[k], actual[k]))


class CrashAt(Callback):
    """Kills the run (like kill -9: nothing saved from here on) when `batch` batches are done."""

    def __init__(self, batch: int) -> None:
        self.batch = batch

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if batches_done(trainer) == self.batch:
            raise SystemError(f"simulated crash after batch {self.batch}")


class SnapshotLast(Callback):
    """After every batch, copies `last.ckpt` (as RunCheckpoint left it) to `<folder>/batch-<n>.ckpt`. Listed after
    RunCheckpoint, so with `every_n_train_steps=1` each copy is the periodic checkpoint of that batch."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        (last,) = [c.last_path for c in trainer.callbacks if isinstance(c, RunCheckpoint)]
        self.folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(last, self.folder / f"batch-{batches_done(trainer)}.ckpt")
