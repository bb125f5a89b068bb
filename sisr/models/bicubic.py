"""Bicubic upscaling baseline (MATLAB ``imresize(LR, s, 'bicubic')``), the reference row of every SR table."""

from __future__ import annotations

from torch import Tensor, nn

from sisr.models.common import check_integer_scale
from sisr.protocol.imresize import imresize, imresize_uint8_levels


class Bicubic(nn.Module):
    """MATLAB-compatible bicubic upscaling as a model with no learned parameters.

    Args:
        scale: integer upscaling factor (>= 2).
        uint8: round to uint8 levels between the two passes and at the end, as MATLAB does for the uint8 images
            the published tables were made from (True); or resize in floating point (False).
    """

    def __init__(self, scale: int = 4, uint8: bool = True) -> None:
        super().__init__()
        self.scale = check_integer_scale("Bicubic", scale)
        self.uint8 = uint8

    def forward(self, lr: Tensor) -> Tensor:
        """Map an RGB LR batch (N, 3, h, w) in [0, 1] to (N, 3, h * scale, w * scale)."""
        if self.uint8:
            return imresize_uint8_levels(lr, scale=self.scale)
        return imresize(lr, scale=self.scale)
