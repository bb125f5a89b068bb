"""SRCNN: Dong, Loy, He, Tang, "Image Super-Resolution Using Deep Convolutional Networks" (ECCV 2014, TPAMI 2016).

Three convolutions (patch extraction 9x9, non-linear mapping 1x1 or 5x5, reconstruction 5x5) applied to the
MATLAB-bicubic-upscaled image, on the Y channel of BT.601 YCbCr (the paper's setting) or on RGB.

Deviation from the paper: the original used unpadded ("valid") convolutions, so its output was smaller than
its input by 12 (9-1-5) or 16 (9-5-5) pixels. Here every conv is zero-padded to keep the size, so the model
maps an (h, w) image to (h * scale, w * scale) like every other model in the suite; the affected border pixels
are mostly removed by the protocol's crop of ``scale`` pixels anyway.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sisr.models.common import check_integer_scale
from sisr.plumbing.errors import SISRError
from sisr.protocol.color import rgb_to_ycbcr, ycbcr_to_rgb
from sisr.protocol.imresize import imresize


class SRCNN(nn.Module):
    """SRCNN 9-1-5 / 9-5-5 with built-in MATLAB bicubic upscaling; RGB in, RGB out.

    Args:
        in_channels: 1 to run on the Y channel (Cb/Cr come from the bicubic image), or 3 for RGB.
        out_channels: must equal ``in_channels``; ``None`` means the same.
        num_features: filters of the 9x9 patch-extraction layer (n1 = 64 in the paper).
        mid_features: filters of the mapping layer (n2 = 32 in the paper).
        mid_kernel_size: 1 for SRCNN 9-1-5, 5 for SRCNN 9-5-5 (any odd size works).
        scale: integer upscaling factor (>= 2).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int | None = None,
        num_features: int = 64,
        mid_features: int = 32,
        mid_kernel_size: int = 1,
        scale: int = 3,
    ) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if in_channels not in (1, 3) or out_channels != in_channels:
            raise SISRError(
                f"SRCNN needs in_channels = out_channels = 1 (Y channel) or 3 (RGB), got {in_channels} and "
                f"{out_channels}; set model.in_channels and model.out_channels accordingly."
            )
        if mid_kernel_size % 2 != 1:
            raise SISRError(f"SRCNN needs an odd mid_kernel_size (1 or 5 in the paper), got {mid_kernel_size}.")
        self.scale = check_integer_scale("SRCNN", scale)
        self.in_channels = in_channels
        # Kernel sizes 9 and 5 are f1 and f3 of the paper; padding k // 2 keeps the image size.
        self.extract = nn.Conv2d(in_channels, num_features, 9, padding=4)
        self.mapping = nn.Conv2d(num_features, mid_features, mid_kernel_size, padding=mid_kernel_size // 2)
        self.reconstruct = nn.Conv2d(mid_features, out_channels, 5, padding=2)
        self.relu = nn.ReLU(inplace=True)

    def body(self, x: Tensor) -> Tensor:
        """The three convolutions, on an already upscaled Y or RGB tensor."""
        x = self.relu(self.extract(x))
        x = self.relu(self.mapping(x))
        return self.reconstruct(x)

    def forward(self, lr: Tensor) -> Tensor:
        """Map an RGB LR batch (N, 3, h, w) in [0, 1] to RGB (N, 3, h * scale, w * scale)."""
        upscaled = imresize(lr, scale=self.scale)
        if self.in_channels == 3:
            return self.body(upscaled)
        ycbcr = rgb_to_ycbcr(upscaled)
        y = self.body(ycbcr[:, :1])
        return ycbcr_to_rgb(torch.cat([y, ycbcr[:, 1:]], dim=1))
