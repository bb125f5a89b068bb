"""MATLAB-compatible bicubic resizing (``imresize(img, scale, 'bicubic')``) in torch.

The SR literature (SRCNN, Dong et al., TPAMI 2016, and every table since) makes LR images with MATLAB's
``imresize(HR, 1/s, 'bicubic')`` and uses the same call for the bicubic baseline. PIL, OpenCV and
``torch.nn.functional.interpolate`` differ from it (kernel parameter, antialiasing, borders), so it is
reproduced here: cubic convolution kernel with a = -0.5 (Keys, 1981), the kernel widened by 1/scale when
shrinking (antialiasing), pixel centres aligned by ``x_in = x_out / scale + 0.5 * (1 - 1 / scale)``, one
dimension at a time (the one with the smaller scale first), output size ``ceil(in * scale)``.

Borders: MATLAB clamps out-of-range taps to the edge pixel (its comment: "has the effect of replicating
end-points"), it does not mirror. For uint8 images MATLAB also rounds and saturates to uint8 after each
of the two passes. With both, :func:`bicubic_degrade` reproduces every LR file of Set5, Set14 and BSD100
(x2, x3, x4) bit for bit; mirroring the border instead changes the outermost rows and columns by up to
11 levels, and skipping the intermediate rounding changes 10-15% of the pixels (by 1, by up to 12 where the
first pass overshoots 0..255).

Each dimension is resized by a small table of taps (for every output pixel, the input indices it reads and
their weights), applied as a banded matrix product. Tables are cached per ``(in_len, out_len, scale)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from sisr.plumbing.errors import SISRError

_KERNEL_WIDTH = 4.0  # the cubic kernel is non-zero on (-2, 2): 4 taps at scale 1
_SIZE_TOLERANCE = 1e-9  # in * scale within this of an integer counts as that integer (1/3 is inexact in floats)


def cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5, the one MATLAB's ``imresize`` uses.

    Args:
        x: distances (in input pixels) from the sample point.
    """
    absx = x.abs()
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return inner + outer


@lru_cache(maxsize=256)
def contributions(in_len: int, out_len: int, scale: float) -> tuple[Tensor, Tensor]:
    """Taps of a 1-D MATLAB bicubic resize, as MATLAB's ``contributions`` computes them.

    Args:
        in_len: input length along the dimension.
        out_len: output length along the dimension.
        scale: output / input scale factor (below 1 shrinks, with antialiasing).

    Returns:
        ``(indices, weights)``: int64 and float64 CPU tensors of shape (out_len, taps); output pixel ``i`` is
        ``sum_k weights[i, k] * input[indices[i, k]]``. Indices are clamped into the input (edges replicated).
    """
    antialias = scale < 1
    width = _KERNEL_WIDTH / scale if antialias else _KERNEL_WIDTH
    x = torch.arange(1, out_len + 1, dtype=torch.float64)  # MATLAB's 1-based output coordinates
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # matching input coordinate (1-based) of each output centre
    left = torch.floor(u - width / 2.0)
    taps = math.ceil(width) + 2  # enough taps to cover the kernel wherever u falls
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if antialias else cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    indices = (indices.long() - 1).clamp(0, in_len - 1)  # 0-based; out-of-range taps read the edge pixel
    # Drop taps that are zero for every output pixel, as MATLAB does.
    keep = (weights != 0).any(dim=0)
    return indices[:, keep].contiguous(), weights[:, keep].contiguous()


@lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The taps of :func:`contributions` as a dense (out_len, in_len) matrix: ``out = matrix @ input``.

    The matrix is banded (4 or ``4 * in / out`` taps per row); a BLAS matmul with it beats gathering the
    taps one by one at SR image sizes. Cached per size, scale, dtype and device.

    Args:
        in_len: input length along the dimension.
        out_len: output length along the dimension.
        scale: output / input scale factor.
        dtype: floating dtype of the matrix.
        device: device of the matrix.
    """
    indices, weights = contributions(in_len, out_len, scale)
    matrix = torch.zeros(out_len, in_len, dtype=torch.float64)
    matrix.scatter_add_(1, indices, weights)  # clamped edge taps add up on the edge pixel
    return matrix.to(device=device, dtype=dtype)


def _resize_dim(img: Tensor, dim: int, out_len: int, scale: float) -> Tensor:
    """Resize dimension ``dim`` (-1 for width, -2 for height) of ``img`` to ``out_len``."""
    matrix = resize_matrix(img.shape[dim], out_len, scale, img.dtype, img.device)
    return img @ matrix.T if dim == -1 else matrix @ img


def _output_length(in_len: int, scale: float) -> int:
    """MATLAB's ``ceil(in * scale)``, forgiving the rounding error of scales such as 1/3."""
    exact = in_len * scale
    nearest = round(exact)
    return nearest if abs(exact - nearest) < _SIZE_TOLERANCE * max(1.0, exact) else math.ceil(exact)


def _plan(img: Tensor, scale: float | None, size: tuple[int, int] | None) -> tuple[int, int, float, float]:
    """Validate the arguments of :func:`imresize`; return ``(out_h, out_w, scale_h, scale_w)``."""
    if not isinstance(img, Tensor) or img.ndim not in (3, 4) or not img.is_floating_point():
        raise SISRError(
            "imresize expects a float tensor of shape (C, H, W) or (N, C, H, W); convert the image with .float() "
            "and give it a channel dimension."
        )
    if (scale is None) == (size is None):
        raise SISRError("imresize needs exactly one of `scale` or `size`; pass scale=4 or size=(height, width).")
    in_h, in_w = img.shape[-2:]
    if scale is not None:
        if not scale > 0:
            raise SISRError(f"imresize got scale={scale}; the scale factor must be positive.")
        return _output_length(in_h, float(scale)), _output_length(in_w, float(scale)), float(scale), float(scale)
    out_h, out_w = (int(v) for v in size)  # type: ignore[union-attr]
    if out_h < 1 or out_w < 1:
        raise SISRError(f"imresize got size={size}; both output dimensions must be at least 1.")
    return out_h, out_w, out_h / in_h, out_w / in_w


def _resize(
    img: Tensor, scale: float | None, size: tuple[int, int] | None, between: Callable[[Tensor], Tensor] | None
) -> Tensor:
    """Both passes of :func:`imresize`; ``between`` (if given) is applied to the result of the first pass."""
    out_h, out_w, scale_h, scale_w = _plan(img, scale, size)

    def resize_w(x: Tensor) -> Tensor:
        return _resize_dim(x, -1, out_w, scale_w)

    def resize_h(x: Tensor) -> Tensor:
        return _resize_dim(x, -2, out_h, scale_h)

    # MATLAB resizes the dimension with the smaller scale first (rows on a tie).
    first, second = (resize_h, resize_w) if scale_h <= scale_w else (resize_w, resize_h)
    out = first(img)
    if between is not None:
        out = between(out)
    return second(out)


def imresize(img: Tensor, scale: float | None = None, size: tuple[int, int] | None = None) -> Tensor:
    """Resize like MATLAB's ``imresize(img, scale, 'bicubic')`` (or ``imresize(img, [H W], 'bicubic')``) on a
    floating-point image.

    Computes in the dtype of ``img``; the result is neither rounded nor clamped. (For uint8 images, which
    MATLAB rounds between the two passes, use :func:`bicubic_degrade` / :func:`bicubic_upscale`.)

    Args:
        img: float tensor (C, H, W) or (N, C, H, W), any value range, any device.
        scale: one factor for both dimensions (e.g. 4 to upscale, 1/4 to downscale); output size is
            ``ceil(H * scale) x ceil(W * scale)``.
        size: output ``(height, width)`` instead of ``scale``; each dimension then uses ``out / in``.

    Returns:
        The resized image, same dtype, device and number of dimensions as ``img``.
    """
    return _resize(img, scale, size, between=None)


def _round_half_up_uint8(x: Tensor) -> Tensor:
    """Round to uint8 levels like MATLAB's conversion to uint8 (half up, saturated), keeping the float dtype."""
    return torch.floor(x.clamp(0.0, 255.0) + 0.5)


def imresize_uint8_levels(img01: Tensor, scale: float) -> Tensor:
    """MATLAB ``imresize`` of a uint8 image, for a [0, 1] tensor holding uint8 levels: rounded to uint8 between
    the two passes and at the end, as MATLAB does for uint8 input (the published bicubic rows).

    Args:
        img01: float tensor (C, H, W) or (N, C, H, W) in [0, 1].
        scale: resize factor.

    Returns:
        The resized image in [0, 1], on uint8 levels, same dtype and device.
    """
    out = _resize(img01 * 255.0, scale, None, between=_round_half_up_uint8)
    return _round_half_up_uint8(out) / 255.0


def _resize_uint8(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale, 'bicubic')`` of an HW or HWC uint8 image (float64, uint8 between passes)."""
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise SISRError(
            "bicubic resizing expects a uint8 numpy image of shape (H, W) or (H, W, C); load it with "
            "numpy.asarray(PIL.Image.open(path))."
        )
    hwc = img if img.ndim == 3 else img[:, :, None]
    chw = torch.tensor(hwc, dtype=torch.float64).permute(2, 0, 1)
    out = _resize(chw, scale, None, between=_round_half_up_uint8)
    out = _round_half_up_uint8(out).permute(1, 2, 0).numpy().astype(np.uint8)
    return out if img.ndim == 3 else out[:, :, 0]


def bicubic_degrade(hr: np.ndarray, scale: int) -> np.ndarray:
    """Make the LR image of the SR protocol: MATLAB ``imresize(hr, 1/scale, 'bicubic')`` rounded to uint8.

    Args:
        hr: uint8 image (H, W, C) or (H, W); H and W should be multiples of ``scale`` (mod-cropped).
        scale: integer downscaling factor.

    Returns:
        uint8 LR image of shape (ceil(H / scale), ceil(W / scale)[, C]).
    """
    if int(scale) != scale or scale < 1:
        raise SISRError(f"bicubic_degrade got scale={scale}; use a positive integer such as 2, 3 or 4.")
    return _resize_uint8(hr, 1.0 / int(scale))


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """The bicubic baseline: MATLAB ``imresize(lr, scale, 'bicubic')`` rounded to uint8.

    Args:
        lr: uint8 image (h, w, C) or (h, w).
        scale: integer upscaling factor.

    Returns:
        uint8 image of shape (h * scale, w * scale[, C]).
    """
    if int(scale) != scale or scale < 1:
        raise SISRError(f"bicubic_upscale got scale={scale}; use a positive integer such as 2, 3 or 4.")
    return _resize_uint8(lr, float(int(scale)))
