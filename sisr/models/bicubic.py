"""Bicubic upscaling baseline (MATLAB ``imresize(LR, s, 'bicubic')``), the reference row of every SR table."""

from __future__ import annotations

from torch import Tensor, nn

from sisr.data.degradation import imresize
from sisr.models.common import check_integer_scale


class Bicubic(nn.Module):
    """MATLAB-compatible bicubic upscaling as a model with no learned parameters.

    Args:
        scale: integer upscaling factor (>= 2).
    """

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        self.scale = check_integer_scale("Bicubic", scale)

    def forward(self, lr: Tensor) -> Tensor:
        """Map an RGB LR batch (N, 3, h, w) in [0, 1] to (N, 3, h * scale, w * scale), not clamped."""
        return imresize(lr, scale=self.scale)
