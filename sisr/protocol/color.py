"""RGB <-> YCbCr (ITU-R BT.601, studio range 16-235 / 16-240) for [0, 1] tensors, as MATLAB's rgb2ycbcr."""

from __future__ import annotations

import functools

import torch
from torch import Tensor

BT601_Y_WEIGHTS = (65.481, 128.553, 24.966)
"""ITU-R BT.601 luma weights: Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in 0..255 (the one copy;
the protocol metrics use it too)."""
BT601_Y_OFFSET = 16.0
"""Black level of studio-range Y, in 0..255 units."""

# BT.601 studio-range matrix for RGB in [0, 255]; rows give Y, Cb, Cr, divided by 255 because the
# output lies in [0, 1] too.
_RGB_TO_YCBCR = torch.tensor(
    [
        list(BT601_Y_WEIGHTS),
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=torch.float64,
) / 255.0
_YCBCR_OFFSET = torch.tensor([BT601_Y_OFFSET, 128.0, 128.0], dtype=torch.float64) / 255.0  # black level, zero chroma
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_CONSTANTS = {"rgb_to_ycbcr": _RGB_TO_YCBCR, "ycbcr_to_rgb": _YCBCR_TO_RGB, "offset": _YCBCR_OFFSET}


@functools.lru_cache(maxsize=32)
def _constant(name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    """A colour constant on `device` in `dtype`, copied there once (a copy per call would sync with a GPU).

    The copy is made outside inference mode: a cached inference tensor would break every later autograd use (a
    training run after an evaluation in the same process)."""
    with torch.inference_mode(False):
        return _CONSTANTS[name].to(device=device, dtype=dtype)


def _apply(matrix: str, img: Tensor) -> Tensor:
    """Multiply the channel dimension (-3) of ``img`` by the named matrix."""
    return torch.einsum("ij,...jhw->...ihw", _constant(matrix, img.device, img.dtype), img)


def _offset(img: Tensor) -> Tensor:
    return _constant("offset", img.device, img.dtype)[:, None, None]


def rgb_to_ycbcr(img: Tensor) -> Tensor:
    """RGB in [0, 1], shape (..., 3, H, W) -> BT.601 YCbCr in [0, 1] (Y in 16/255..235/255).

    Args:
        img: RGB image(s) with channels at dimension -3.
    """
    return _apply("rgb_to_ycbcr", img) + _offset(img)


def ycbcr_to_rgb(img: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr`; the result is not clamped.

    Args:
        img: BT.601 YCbCr image(s) in [0, 1] with channels at dimension -3.
    """
    return _apply("ycbcr_to_rgb", img - _offset(img))
