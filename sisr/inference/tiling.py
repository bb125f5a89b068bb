"""Inference helpers shared by validation and evaluation: tiled forward passes and x8 self-ensemble.

Self-ensemble (the "+" models of EDSR, Lim et al. 2017) averages the model's outputs over the eight flips and
90-degree rotations of the input, each mapped back to the original orientation.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import torch
from torch import Tensor

SRFunction = Callable[[Tensor], Tensor]
log = logging.getLogger(__name__)

# What tiling costs a deep network, measured on Real-ESRGAN's published x4plus weights (RRDBNet x4, 23 blocks) by
# `python -m benchmarks.speed.tile_overlap`, whose result is the committed benchmarks/results/tile_overlap.json:
# central 240x240 crops of four Set14 x2 LR images upscaled in 2 x 2 tiles of 120 LR pixels (the CPU memory
# budget's split with the old overlap of 64) against whole; the largest difference, in 1/255 levels after rounding, for each overlap.
TILED_ERROR_LEVELS: dict[int, int] = {16: 93, 48: 23, 64: 8, 72: 3, 80: 1, 96: 1}
# The default LR context around every tile: the smallest measured overlap at most 1 level off (half the 2-level
# bound, a margin for images not measured). An earlier one-sided measurement on 40-row bands had chosen 64, which
# real 2-D tiles put 8 levels off.
TILE_OVERLAP = 80
_warned_overlaps: set[int] = set()


def expected_deviation(overlap: int) -> int:
    """The largest measured difference (levels, x4plus, 2 x 2 tiles) for a tile overlap, from TILED_ERROR_LEVELS;
    below the smallest measured overlap, that overlap's (a lower bound)."""
    known = [o for o in TILED_ERROR_LEVELS if o <= overlap]
    return TILED_ERROR_LEVELS[max(known)] if known else max(TILED_ERROR_LEVELS.values())


def warn_small_overlap(overlap: int) -> None:
    """Say once per overlap what a context smaller than TILE_OVERLAP costs on a deep network."""
    if overlap >= TILE_OVERLAP or overlap in _warned_overlaps:
        return
    _warned_overlaps.add(overlap)
    log.warning(
        "tile_overlap=%d is below the measured default %d: on Real-ESRGAN x4plus (23 RRDBs), tiles with that overlap "
        "moved output pixels by up to %d levels of 255 from the untiled output; deep networks need the default",
        overlap, TILE_OVERLAP, expected_deviation(overlap),
    )


def _dihedral(x: Tensor, index: int) -> Tensor:
    """Apply the index-th of the eight flips/rotations (0 is the identity) to the last two dimensions."""
    if index >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k=index % 4, dims=(-2, -1))


def _inverse_dihedral(x: Tensor, index: int) -> Tensor:
    """Undo `_dihedral(x, index)`."""
    x = torch.rot90(x, k=-(index % 4), dims=(-2, -1))
    if index >= 4:
        x = x.flip(-1)
    return x


def self_ensemble(model: SRFunction, lr: Tensor) -> Tensor:
    """Average `model` over the eight dihedral transforms of `lr` (x8 geometric self-ensemble).

    Args:
        model: maps an LR batch (N, C, h, w) to an SR batch (N, C, h*s, w*s).
        lr: the LR batch.
    """
    total = torch.zeros((), dtype=lr.dtype, device=lr.device)
    for index in range(8):
        total = total + _inverse_dihedral(model(_dihedral(lr, index)), index)
    return total / 8


def tiled_forward(
    model: SRFunction, lr: Tensor, scale: int, tile_size: int, tile_overlap: int = TILE_OVERLAP
) -> Tensor:
    """Run `model` over LR tiles padded with context and stitch the central part of each SR tile.

    Peak activation memory is that of one `tile_size + 2 * tile_overlap` tile instead of the whole image. Every
    output pixel sees at least `tile_overlap` LR pixels of context (or the true image border). The default,
    TILE_OVERLAP, kept Real-ESRGAN x4plus within 1 level of its untiled output in 2-D tiles (measured); a smaller
    overlap is logged once with the deviation measured for it.

    Args:
        model: maps an LR batch (N, C, h, w) to an SR batch (N, C, h*s, w*s).
        lr: the LR batch.
        scale: the model's upscaling factor.
        tile_size: side of the LR tiles (the core, before context is added).
        tile_overlap: LR pixels of context added on each side of a tile.
    """
    if tile_size <= 0:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    n, c, h, w = lr.shape
    if h <= tile_size and w <= tile_size:
        return model(lr)
    warn_small_overlap(tile_overlap)
    out: Tensor | None = None
    for top in range(0, h, tile_size):
        for left in range(0, w, tile_size):
            bottom, right = min(top + tile_size, h), min(left + tile_size, w)
            y0, x0 = max(top - tile_overlap, 0), max(left - tile_overlap, 0)
            y1, x1 = min(bottom + tile_overlap, h), min(right + tile_overlap, w)
            sr_tile = model(lr[..., y0:y1, x0:x1])
            if out is None:
                out = sr_tile.new_zeros((n, sr_tile.shape[1], h * scale, w * scale))
            core = sr_tile[..., (top - y0) * scale : (bottom - y0) * scale, (left - x0) * scale : (right - x0) * scale]
            out[..., top * scale : bottom * scale, left * scale : right * scale] = core
    assert out is not None
    return out


def super_resolve(
    model: SRFunction,
    lr: Tensor,
    scale: int,
    *,
    ensemble: bool = False,
    tile_size: int | None = None,
    tile_overlap: int = TILE_OVERLAP,
    max_pixels: int | None = None,
) -> Tensor:
    """Super-resolve `lr` with optional self-ensemble and tiling; the one entry point validation and eval use.

    Args:
        model: maps an LR batch to an SR batch.
        lr: the LR batch (N, C, h, w) in [0, 1].
        scale: the upscaling factor.
        ensemble: average over the x8 flips and rotations.
        tile_size: LR tile side for tiled inference; None runs the whole image at once.
        tile_overlap: LR context pixels around each tile.
        max_pixels: when `tile_size` is None and the LR image has more pixels than this, tile it automatically
            with square tiles of this area.
    """
    forward: SRFunction = model
    if not tile_size and max_pixels and lr.shape[-2] * lr.shape[-1] > max_pixels:
        tile_size = math.isqrt(max_pixels)
    if tile_size:
        forward = lambda x: tiled_forward(model, x, scale, tile_size, tile_overlap)  # noqa: E731
    return self_ensemble(forward, lr) if ensemble else forward(lr)
