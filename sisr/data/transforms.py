"""Aligned random crops and dihedral augmentation of (LR, HR) uint8 arrays, and conversion to tensors.

Random numbers come from the ``generator`` passed in: the training dataset seeds one per sample from
(seed, epoch, index) (see :mod:`sisr.data.sampling`), so a patch does not depend on which worker made it and a
resumed run draws the same patches as an uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def random_aligned_crop(
    lr: np.ndarray, hr: np.ndarray, scale: int, lr_patch: int, generator: torch.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Crop an ``lr_patch`` square from LR and the matching ``lr_patch * scale`` square from HR.

    Args:
        lr: LR image (h, w, C) (may be a memory map; only the patch is read).
        hr: HR image (h * scale, w * scale, C).
        scale: SR factor.
        lr_patch: LR patch side; the HR patch is ``scale`` times larger, at ``scale`` times the position.
        generator: the random source (None: torch's global generator).
    """
    height, width = lr.shape[:2]
    top = int(torch.randint(0, height - lr_patch + 1, (), generator=generator).item())
    left = int(torch.randint(0, width - lr_patch + 1, (), generator=generator).item())
    lr_crop = lr[top : top + lr_patch, left : left + lr_patch]
    hr_crop = hr[top * scale : (top + lr_patch) * scale, left * scale : (left + lr_patch) * scale]
    return lr_crop, hr_crop


def random_dihedral(*images: np.ndarray, generator: torch.Generator | None = None) -> list[np.ndarray]:
    """Apply one random flip/rotation of the 8 dihedral ones (hflip, vflip, transpose) to all ``images``.

    Args:
        images: HWC arrays, transformed identically.
        generator: the random source (None: torch's global generator).
    """
    hflip, vflip, transpose = (bool(b) for b in torch.randint(0, 2, (3,), generator=generator).tolist())
    out = []
    for image in images:
        if hflip:
            image = image[:, ::-1]
        if vflip:
            image = image[::-1]
        if transpose:  # with the flips this gives the 90/180/270 degree rotations
            image = image.transpose(1, 0, 2)
        out.append(image)
    return out


def to_tensor(image: np.ndarray) -> Tensor:
    """uint8 (H, W, C) array -> float (C, H, W) tensor in [0, 1]."""
    array = np.array(image, dtype=np.uint8, order="C", copy=True)  # own, writable copy (inputs may be memory maps)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous().float().div_(255.0)
