"""Torch datasets over cached (LR, HR) pairs: random aligned training patches and whole evaluation images.

Samples are dicts of float tensors in [0, 1], (C, H, W), RGB: ``{"lr", "hr", "name"}`` for training and
``{"lr", "hr", "name", "is_gray"}`` for evaluation (one image per batch, as image sizes differ).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sisr.data.cache import CachedImage
from sisr.data.transforms import random_aligned_crop, random_dihedral, to_tensor
from sisr.plumbing.errors import SISRError
from sisr.protocol.metrics import SSIM_WINDOW, min_image_side


def check_patch_size(patch_size: int, scale: int) -> None:
    """The HR training patch must be a whole number of LR pixels."""
    if patch_size % scale:
        raise SISRError(
            f"data.patch_size={patch_size} is not divisible by data.scale={scale}; use a multiple of the scale."
        )


def check_scorable(entry: CachedImage, crop_border: int) -> None:
    """Refuse an evaluation image too small for the border crop plus the SSIM window, naming its file."""
    height, width = entry.hr_size
    side = min_image_side(crop_border)
    if height < side or width < side:
        raise SISRError(
            f"Evaluation image {entry.hr_source} is {width}x{height}, too small to score: PSNR and SSIM crop "
            f"{crop_border} pixels (data.scale) from every side and SSIM needs an {SSIM_WINDOW}x{SSIM_WINDOW} window, "
            f"so each side must be at least {side} pixels; remove the image from the evaluation set."
        )


class _MappedImages:
    """Opens each entry's memory maps on first use, separately in every worker process."""

    def __init__(self, entries: list[CachedImage]) -> None:
        self.entries = entries
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        return {"entries": self.entries, "_arrays": {}}  # memory maps are reopened, not pickled, in workers

    def get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(LR, HR) memory maps of entry ``index``."""
        if index not in self._arrays:
            self._arrays[index] = self.entries[index].load()
        return self._arrays[index]


class SRTrainDataset(Dataset):
    """Random aligned (LR, HR) patches with random flips and 90-degree rotations.

    Each item picks a random position in one image: the LR patch is ``patch_size // scale`` pixels square and
    the HR patch is exactly ``scale`` times larger at ``scale`` times the position. Items are indexed by sample
    number (epoch * len + index, see :mod:`sisr.data.sampling`), and each draws its crop and flip from a generator
    seeded with (seed, sample number): a pure function of the seed, the epoch and the index.

    Args:
        entries: cached images (whole images or sub-image stacks) from :func:`sisr.data.cache.build_cache`.
        scale: SR factor.
        patch_size: HR patch side; must be divisible by ``scale``.
        repeat: how many times each image is visited per epoch (length = images x repeat).
        augment: apply random horizontal/vertical flips and transposes (the 8 dihedral transforms).
        seed: the run's seed; with the sample number it fixes each patch.
    """

    def __init__(
        self,
        entries: list[CachedImage],
        scale: int,
        patch_size: int,
        repeat: int = 1,
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        check_patch_size(patch_size, scale)
        if repeat < 1:
            raise SISRError(f"data.repeat={repeat} must be at least 1.")
        for entry in entries:
            height, width = entry.hr_size
            if height < patch_size or width < patch_size:
                what = "sub-images of" if entry.subimages else "HR image"
                raise SISRError(
                    f"{what} {entry.hr_source} is {width}x{height}, smaller than the {patch_size}x{patch_size} "
                    "training patch; lower data.patch_size or remove the image."
                )
        # one index per stored image (or per sub-image of a stack)
        self.items = [
            (i, k) for i, entry in enumerate(entries) for k in (range(entry.subimages) if entry.subimages else [None])
        ]
        if not self.items:
            raise SISRError("The training set is empty; check data.train.")
        self.images = _MappedImages(entries)
        self.scale = scale
        self.lr_patch = patch_size // scale
        self.repeat = repeat
        self.augment = augment
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.items) * self.repeat

    def sample_generator(self, index: int) -> torch.Generator:
        """The random source of sample number ``index``: seeded from (seed, index) only."""
        return torch.Generator().manual_seed((self.seed * 0x9E3779B1 + index * 0x85EBCA77) % (2**63))

    def __getitem__(self, index: int) -> dict:
        image_index, sub = self.items[index % len(self.items)]
        lr, hr = self.images.get(image_index)
        if sub is not None:
            lr, hr = lr[sub], hr[sub]
        generator = self.sample_generator(index)
        lr, hr = random_aligned_crop(lr, hr, self.scale, self.lr_patch, generator)
        if self.augment:
            lr, hr = random_dihedral(lr, hr, generator=generator)
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "name": self.images.entries[image_index].name}


class SREvalDataset(Dataset):
    """Whole (LR, HR) images for validation and testing, one per item.

    Args:
        entries: cached whole images (not sub-images).
        max_images: keep only the first this many images (None: all).
        crop_border: the border the metrics crop from every side (the scale); every image must be large enough
            to be scored after it (see :func:`sisr.protocol.metrics.min_image_side`).
    """

    def __init__(self, entries: list[CachedImage], max_images: int | None = None, crop_border: int = 0) -> None:
        if any(entry.subimages for entry in entries):
            raise SISRError("Evaluation sets must be cached as whole images; sub-images apply to training only.")
        kept = list(entries) if max_images is None else list(entries)[:max_images]
        for entry in kept:
            check_scorable(entry, crop_border)
        self.images = _MappedImages(kept)

    def __len__(self) -> int:
        return len(self.images.entries)

    def __getitem__(self, index: int) -> dict:
        lr, hr = self.images.get(index)
        entry = self.images.entries[index]
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "name": entry.name, "is_gray": entry.is_gray}
