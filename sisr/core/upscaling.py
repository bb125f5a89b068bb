"""Upscaling images with a loaded generator: the one implementation behind `python -m sisr.upscale` and `sisr.load`.

An `Upscaler` holds the generator on its device and precision and the tiling settings; it upscales a `Picture`
(gray stays gray, alpha is upscaled with MATLAB bicubic and reattached; see `sisr.data.pictures`), a batch of
colour tensors, or, called directly, a PIL image, a numpy array or a tensor, returning the same kind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from typing import Any, Union

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from sisr.data.pictures import Picture, from_pil, quantise, split_channels
from sisr.inference.runtime import (
    balanced_tile,
    bytes_per_lr_pixel,
    image_channels,
    make_runner,
    memory_budget_bytes,
    pick_device,
    pick_precision,
    tile_for_budget,
)
from sisr.inference.tiling import TILE_OVERLAP, super_resolve
from sisr.plumbing.errors import SISRError
from sisr.protocol.imresize import imresize
from sisr.weights.loading import LoadedGenerator

log = logging.getLogger(__name__)
ImageLike = Union[Image.Image, np.ndarray, Tensor]
_LEVELS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}


@dataclass(frozen=True)
class UpscaleSettings:
    """How an `Upscaler` runs: the options of `python -m sisr.upscale` (conf/upscale.yaml) and `sisr.load`.

    Args:
        device: auto (CUDA when available) | cpu | cuda.
        precision: fp32 | bf16 | fp16 (half precision on CUDA only).
        channels_last: NHWC tensors: "auto" (on CUDA), True or False.
        tile_size: LR tile side; None: the largest tile whose activations fit `memory_budget_mb`.
        tile_overlap: LR pixels of context around each tile (the measured TILE_OVERLAP).
        memory_budget_mb: activation memory for one tile; None: half the free GPU memory, or 1024 MB on the CPU.
        self_ensemble: x8 flip/rotation self-ensemble (8x the time).
    """

    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool | str = "auto"
    tile_size: int | None = None
    tile_overlap: int = TILE_OVERLAP
    memory_budget_mb: float | None = None
    self_ensemble: bool = False

    @classmethod
    def from_config(cls, cfg: Any) -> UpscaleSettings:
        """The settings an upscale config (conf/upscale.yaml) names."""
        return cls(**{f.name: cfg.get(f.name) for f in fields(cls) if cfg.get(f.name) is not None})


class Upscaler:
    """A generator ready to upscale images (see `sisr.load`).

    Args:
        loaded: the generator and what is known about it (`sisr.weights.loading.open_generator`).
        settings: device, precision and tiling.
    """

    def __init__(self, loaded: LoadedGenerator, settings: UpscaleSettings | None = None) -> None:
        self.loaded, self.settings = loaded, settings or UpscaleSettings()
        options = self.settings
        torch_device = pick_device(str(options.device))
        precision = pick_precision(str(options.precision), torch_device)
        self.runner = make_runner(loaded.generator, torch_device, precision, options.channels_last)
        self.channels = image_channels(self.runner)
        self.max_tile, self.max_untiled_pixels = 0, 0
        if not options.tile_size:
            budget = memory_budget_bytes(torch_device, options.memory_budget_mb)
            per_pixel = bytes_per_lr_pixel(self.runner, self.channels[0])
            self.max_tile = tile_for_budget(per_pixel, budget, int(options.tile_overlap))
            self.max_untiled_pixels = int(budget / per_pixel)
            log.info("images of up to %d LR pixels run whole; larger ones in tiles of at most %d LR pixels a side "
                     "(plus context) fit the memory budget", self.max_untiled_pixels, self.max_tile)  # fmt: skip

    @property
    def scale(self) -> int:
        """The upscaling factor."""
        return self.loaded.scale

    @property
    def architecture(self) -> str:
        """The generator's class name (SRCNN, SRResNet, RRDBNet, ...)."""
        return type(self.loaded.generator).__name__

    @property
    def device(self) -> torch.device:
        """Where the generator runs."""
        return self.runner.device

    def tile_for(self, height: int, width: int) -> int | None:
        """The LR tile side for an image of this size (None: the whole image at once): `tile_size` when set, else
        none when the whole image's activations fit the memory budget (tiling would only cost time and exactness),
        else equal tiles of at most `max_tile` pixels a side."""
        if self.settings.tile_size:
            return int(self.settings.tile_size)
        if height * width <= self.max_untiled_pixels:
            return None
        return balanced_tile(height, width, self.max_tile)

    def upscale_tensor(self, color: Tensor) -> Tensor:
        """Super-resolve an (N, C, H, W) float batch in [0, 1], C = 1 or 3; returns (N, C, sH, sW) float32 in
        [0, 1] on the CPU. Gray input to an RGB model is fed as R = G = B and the first output channel kept."""
        model_in, model_out = self.channels
        channels = color.shape[1]
        if channels not in (1, 3):
            raise SISRError(f"the image has {channels} channels; pass gray (1) or RGB (3) samples, alpha apart.")
        if channels != model_in:
            if model_in == 1:
                raise SISRError("the model upscales gray images only, and this image is in colour.")
            color = color.expand(-1, model_in, -1, -1)
        options = self.settings
        tile = self.tile_for(color.shape[-2], color.shape[-1])
        with self.runner.autocast():
            sr = super_resolve(self.runner, color.float(), self.scale, ensemble=bool(options.self_ensemble),
                               tile_size=tile, tile_overlap=int(options.tile_overlap))
        sr = sr.float().clamp_(0, 1).cpu()
        if channels == 1 and model_out == 3:
            sr = sr[:, :1]  # the channel the protocol scores for gray sources, so outputs score as sisr.eval does
        return sr

    def upscale_picture(self, picture: Picture) -> Picture:
        """Super-resolve one picture's colour with the model and its alpha with MATLAB bicubic."""
        color = torch.from_numpy(np.ascontiguousarray(picture.color)).permute(2, 0, 1)[None]
        out = self.upscale_tensor(color)[0].permute(1, 2, 0).numpy()
        alpha = None
        if picture.alpha is not None:
            alpha = imresize(torch.from_numpy(picture.alpha)[None], scale=self.scale)[0].clamp_(0, 1).numpy()
        return Picture(out, alpha, picture.bit_depth)

    def __call__(self, image: ImageLike) -> ImageLike:
        """Upscale a PIL image, a numpy array or a tensor; returns the same kind (see `sisr.load`)."""
        if isinstance(image, Image.Image):
            return picture_to_pil(self.upscale_picture(from_pil(image)))
        if isinstance(image, np.ndarray):
            return self._upscale_array(image)
        if isinstance(image, Tensor):
            return self._upscale_tensor_like(image)
        raise SISRError(f"cannot upscale a {type(image).__name__}; pass a PIL image, a numpy array or a torch tensor.")

    def _upscale_array(self, array: np.ndarray) -> np.ndarray:
        """(H, W) or (H, W, C) with C in 1..4; uint8 and uint16 levels come back as such, floats in [0, 1] as float32."""
        if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 2, 3, 4)):
            raise SISRError(f"a numpy image is (H, W) or (H, W, C) with 1 to 4 channels, not {array.shape}.")
        bits = _LEVELS.get(array.dtype)
        if bits is None and not np.issubdtype(array.dtype, np.floating):
            raise SISRError(f"numpy images are uint8, uint16 or floats in [0, 1], not {array.dtype}.")
        samples = array.astype(np.float32) / np.float32(2**bits - 1) if bits else array.astype(np.float32)
        picture = split_channels(samples if samples.ndim == 3 else samples[:, :, None])
        out = self.upscale_picture(picture)
        merged = out.color if out.alpha is None else np.concatenate([out.color, out.alpha[:, :, None]], axis=2)
        result = quantise(merged, bits) if bits else merged.astype(np.float32)
        return result[:, :, 0] if array.ndim == 2 else result

    def _upscale_tensor_like(self, image: Tensor) -> Tensor:
        """(C, H, W) or (N, C, H, W) floats in [0, 1], C = 1 or 3; returned in the input's shape form, dtype and device."""
        if image.ndim not in (3, 4) or not image.is_floating_point():
            raise SISRError(f"a tensor image is float (C, H, W) or (N, C, H, W) in [0, 1], not {image.dtype} {tuple(image.shape)}.")
        batch = image if image.ndim == 4 else image[None]
        sr = self.upscale_tensor(batch.detach())
        sr = sr if image.ndim == 4 else sr[0]
        return sr.to(device=image.device, dtype=image.dtype)


def picture_to_pil(picture: Picture) -> Image.Image:
    """A PIL image of a picture: L, LA, RGB or RGBA at 8 bits; 16-bit gray as mode I;16 (alpha dropped there)."""
    if picture.bit_depth == 16 and picture.is_gray:
        return Image.fromarray(quantise(picture.color[:, :, 0], 16))
    samples = picture.color if picture.alpha is None else np.concatenate([picture.color, picture.alpha[:, :, None]], 2)
    levels = quantise(samples, 8)
    return Image.fromarray(levels[:, :, 0] if levels.shape[2] == 1 else levels)
