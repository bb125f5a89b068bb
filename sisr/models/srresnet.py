"""SRResNet: Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network" (CVPR 2017), Fig. 4 generator; trained with MSE it is SRResNet, with the GAN losses it is SRGAN.

PReLU layers use one shared slope each (torch's default); the paper does not say per-channel, and the
x4 network then has 1,549,462 parameters, the "about 1.55 M" usually quoted.
"""

from __future__ import annotations

from torch import Tensor, nn

from sisr.models.blocks import ResidualBlock, conv3x3, make_layer, subpixel_upsampler
from sisr.models.common import UPSAMPLE_STAGES, check_scale


class SRResNet(nn.Module):
    """The SRGAN generator.

    Args:
        in_channels: input image channels.
        out_channels: output image channels.
        num_features: trunk width (64 in the paper).
        num_blocks: residual blocks (16 in the paper).
        scale: upscaling factor, 2, 3, 4 or 8 (x4 in the paper; x2 stages repeated, x3 as one x3 stage).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_features: int = 64,
        num_blocks: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.scale = check_scale("SRResNet", scale, sorted(UPSAMPLE_STAGES))
        # 9x9 kernels on the first and last layer as in the paper (padding 4 keeps the size).
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_features, 9, padding=4), nn.PReLU())
        self.blocks = make_layer(lambda: ResidualBlock(num_features, batch_norm=True, activation=nn.PReLU), num_blocks)
        self.trunk_end = nn.Sequential(conv3x3(num_features, num_features), nn.BatchNorm2d(num_features))
        self.upsample = subpixel_upsampler(num_features, self.scale, activation=nn.PReLU)
        self.tail = nn.Conv2d(num_features, out_channels, 9, padding=4)

    def forward(self, lr: Tensor) -> Tensor:
        """Map (N, C, h, w) to (N, out_channels, h * scale, w * scale)."""
        feat = self.head(lr)
        feat = feat + self.trunk_end(self.blocks(feat))  # global skip over the residual trunk
        return self.tail(self.upsample(feat))
