"""Pictures where people look: at every validation, a few fixed crops per validation set go to TensorBoard.

Each picture is one crop of the first `num_images` images of every validation set, side by side: the LR crop
upscaled by nearest neighbour (the pixels the model saw), the model's SR, and the HR reference, tagged
`val_images/<set>/<image>` at Lightning's global step (the x-axis of the scalar curves beside them), so the slider
in TensorBoard's Images tab walks through training. The crop is the centre `crop_size` HR pixels (rounded down to
a multiple of the scale); SR is computed on that crop plus `context` LR pixels around it, not on the whole image,
so the cost is one small forward pass per picture. Without a TensorBoard logger the callback does nothing.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import Tensor
from torch.nn import functional as F

from sisr.plumbing.errors import SISRError


class ValidationImages(pl.Callback):
    """Log LR (nearest) | SR | HR crops of the first validation images of each set to TensorBoard.

    Args:
        num_images: images per validation set.
        crop_size: side of the HR crop, from the image centre.
        context: LR pixels of context around the crop that the model sees.
    """

    def __init__(self, num_images: int = 2, crop_size: int = 96, context: int = 16) -> None:
        if num_images < 0 or crop_size < 1 or context < 0:
            raise SISRError(
                f"ValidationImages needs num_images >= 0, crop_size >= 1 and context >= 0; got {num_images}, "
                f"{crop_size} and {context}."
            )
        self.num_images = num_images
        self.crop_size = crop_size
        self.context = context

    @staticmethod
    def _writers(trainer: pl.Trainer) -> list[Any]:
        return [logger.experiment for logger in trainer.loggers if isinstance(logger, TensorBoardLogger)]

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx >= self.num_images or trainer.sanity_checking or not trainer.is_global_zero:
            return
        writers = self._writers(trainer)
        if not writers:
            return
        names = getattr(trainer.datamodule, "val_set_names", None) or [str(dataloader_idx)]
        set_name = names[dataloader_idx] if dataloader_idx < len(names) else str(dataloader_idx)
        image_name = batch["name"][0] if "name" in batch else str(batch_idx)
        picture = self.side_by_side(pl_module, batch["lr"][:1], batch["hr"][:1], int(pl_module.scale))
        for writer in writers:
            tag = f"val_images/{set_name}/{image_name}"
            writer.add_image(tag, picture, global_step=trainer.global_step, dataformats="CHW")

    def side_by_side(self, model: Any, lr: Tensor, hr: Tensor, scale: int) -> Tensor:
        """(3, crop, 3 * crop) in [0, 1]: nearest-upscaled LR, SR and HR of the centre crop."""
        side = min(self.crop_size, hr.shape[-2], hr.shape[-1]) // scale  # LR pixels
        top = (lr.shape[-2] - side) // 2
        left = (lr.shape[-1] - side) // 2
        y0, x0 = max(top - self.context, 0), max(left - self.context, 0)
        y1, x1 = min(top + side + self.context, lr.shape[-2]), min(left + side + self.context, lr.shape[-1])
        with torch.no_grad():
            sr = model(lr[..., y0:y1, x0:x1])
        sr = sr[..., (top - y0) * scale : (top - y0 + side) * scale, (left - x0) * scale : (left - x0 + side) * scale]
        lr_crop = lr[..., top : top + side, left : left + side]
        nearest = F.interpolate(lr_crop, scale_factor=scale, mode="nearest")
        hr_crop = hr[..., top * scale : (top + side) * scale, left * scale : (left + side) * scale]
        return torch.cat([nearest, sr.to(hr.dtype), hr_crop], dim=-1)[0].clamp(0, 1).cpu()
