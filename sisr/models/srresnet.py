"""SRResNet: Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
Network" (CVPR 2017), Fig. 4 generator; trained with MSE it is SRResNet, with the GAN losses it is SRGAN.

PReLU layers use one shared slope each (torch's default); the paper does not say per-channel, and the
x4 network then has 1,549,462 parameters, the "about 1.55 M" usually quoted.
"""

from __future__ import annotations

from torch import Tensor, nn

from sisr.models.common import UPSAMPLE_STAGES, check_scale


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN plus identity skip.

    Args:
        num_features: channels in and out.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(num_features, num_features, 3, padding=1),
            nn.BatchNorm2d(num_features),
            nn.PReLU(),
            nn.Conv2d(num_features, num_features, 3, padding=1),
            nn.BatchNorm2d(num_features),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def subpixel_stage(num_features: int, factor: int) -> nn.Sequential:
    """conv3x3 (C -> C * factor^2), PixelShuffle(factor), PReLU: the paper's sub-pixel upsampling block."""
    return nn.Sequential(
        nn.Conv2d(num_features, num_features * factor**2, 3, padding=1),
        nn.PixelShuffle(factor),
        nn.PReLU(),
    )


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
        self.blocks = nn.Sequential(*(ResidualBlock(num_features) for _ in range(num_blocks)))
        self.trunk_end = nn.Sequential(
            nn.Conv2d(num_features, num_features, 3, padding=1), nn.BatchNorm2d(num_features)
        )
        self.upsample = nn.Sequential(*(subpixel_stage(num_features, f) for f in UPSAMPLE_STAGES[scale]))
        self.tail = nn.Conv2d(num_features, out_channels, 9, padding=4)

    def forward(self, lr: Tensor) -> Tensor:
        """Map (N, C, h, w) to (N, out_channels, h * scale, w * scale)."""
        feat = self.head(lr)
        feat = feat + self.trunk_end(self.blocks(feat))  # global skip over the residual trunk
        return self.tail(self.upsample(feat))
