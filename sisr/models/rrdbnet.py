"""RRDBNet: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks" (ECCV-W 2018).

The generator of ESRGAN and of its PSNR-oriented "RRDB" model: Residual-in-Residual Dense Blocks without
batch norm, residual scaling 0.2, nearest-neighbour upsampling followed by convolutions.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sisr.models.blocks import conv3x3, make_layer
from sisr.models.common import UPSAMPLE_STAGES, check_scale, default_init_weights

# ESRGAN Sec. 3.3: residuals are multiplied by 0.2 before being added back, in every dense block and
# around every RRDB, which keeps the very deep trunk stable to train.
RESIDUAL_SCALE = 0.2
LEAKY_SLOPE = 0.2  # negative slope of every LeakyReLU in ESRGAN


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3x3 convs (each sees the input and all earlier outputs), scaled residual.

    Args:
        num_features: channels in and out.
        growth_channels: channels added by each of the first four convs.
    """

    def __init__(self, num_features: int = 64, growth_channels: int = 32) -> None:
        super().__init__()
        self.convs = nn.ModuleList(conv3x3(num_features + i * growth_channels, growth_channels) for i in range(4))
        self.fuse = conv3x3(num_features + 4 * growth_channels, num_features)
        self.lrelu = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
        default_init_weights(self, scale=0.1)  # ESRGAN's smaller (x0.1) MSRA initialisation

    def forward(self, x: Tensor) -> Tensor:
        features = [x]
        for conv in self.convs:
            features.append(self.lrelu(conv(torch.cat(features, dim=1))))
        return x + RESIDUAL_SCALE * self.fuse(torch.cat(features, dim=1))


class RRDB(nn.Module):
    """Residual-in-Residual Dense Block: three dense blocks in sequence, wrapped in a scaled residual.

    Args:
        num_features: channels in and out.
        growth_channels: growth of each dense block.
    """

    def __init__(self, num_features: int = 64, growth_channels: int = 32) -> None:
        super().__init__()
        self.body = make_layer(lambda: ResidualDenseBlock(num_features, growth_channels), 3)

    def forward(self, x: Tensor) -> Tensor:
        return x + RESIDUAL_SCALE * self.body(x)


class RRDBNet(nn.Module):
    """The ESRGAN generator (16,697,987 parameters at x4 with the defaults).

    Args:
        in_channels: input image channels.
        out_channels: output image channels.
        num_features: trunk width (64 in the paper).
        num_blocks: number of RRDBs (23 in the paper).
        growth_channels: dense-block growth (32 in the paper).
        scale: upscaling factor, 2, 3, 4 or 8; each x2 (or the single x3) stage is nearest
            interpolation + conv3x3 + LeakyReLU.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 23,
        growth_channels: int = 32,
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.scale = check_scale("RRDBNet", scale, sorted(UPSAMPLE_STAGES))
        self.factors = UPSAMPLE_STAGES[scale]
        self.conv_first = conv3x3(in_channels, num_features)
        self.body = make_layer(lambda: RRDB(num_features, growth_channels), num_blocks)
        self.conv_body = conv3x3(num_features, num_features)
        self.conv_up = nn.ModuleList(conv3x3(num_features, num_features) for _ in self.factors)
        self.conv_hr = conv3x3(num_features, num_features)
        self.conv_last = conv3x3(num_features, out_channels)
        self.lrelu = nn.LeakyReLU(LEAKY_SLOPE, inplace=True)

    def forward(self, lr: Tensor) -> Tensor:
        """Map (N, C, h, w) to (N, out_channels, h * scale, w * scale)."""
        feat = self.conv_first(lr)
        feat = feat + self.conv_body(self.body(feat))  # trunk skip
        for factor, conv in zip(self.factors, self.conv_up):
            feat = self.lrelu(conv(F.interpolate(feat, scale_factor=factor, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))
