"""The best-validation checkpoint, named by training batches (`best-batch0000030.ckpt`), as budgets are counted.

Lightning's `{step}` in a checkpoint name is its global step, which counts optimizer steps: two per batch for the
GAN models, so a GAN's best checkpoint after 30 batches was named `best-step0000060`. `BestCheckpoint` adds
`{batches}` to the values a `filename` pattern may use.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from torch import Tensor


class BestCheckpoint(ModelCheckpoint):
    """Lightning's `ModelCheckpoint`, with `{batches}` (training batches done) available in `filename`."""

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, Tensor]:
        candidates = super()._monitor_candidates(trainer)
        steps_per_batch = getattr(trainer.lightning_module, "optimizer_steps_per_batch", 1)
        candidates["batches"] = torch.tensor(trainer.global_step // steps_per_batch)
        return candidates
