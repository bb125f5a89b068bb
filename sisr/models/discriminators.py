"""Discriminators of SRGAN (Ledig et al., CVPR 2017, Fig. 4) and ESRGAN (Wang et al., ECCV-W 2018).

Both are VGG-like: strided convs halve the image until a dense head maps it to one real/fake logit, so
each is built for one square input size (the HR training crop).
"""

from __future__ import annotations

from torch import Tensor, nn

from sisr.plumbing.errors import SISRError

LEAKY_SLOPE = 0.2  # LeakyReLU negative slope used by both papers


def _check_size(model: str, input_size: int, downsampling: int) -> int:
    if input_size <= 0 or input_size % downsampling != 0:
        raise SISRError(
            f"{model} needs an input_size divisible by {downsampling}, got {input_size}; "
            "set it to the HR crop size (e.g. 96 or 128)."
        )
    return input_size


def _conv_bn_lrelu(in_channels: int, out_channels: int, kernel_size: int, stride: int) -> list[nn.Module]:
    """Conv (padding 1, no bias: batch norm follows), BatchNorm, LeakyReLU."""
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
    ]


def _dense_head(in_features: int, dense_features: int) -> nn.Sequential:
    """Flattened features -> dense -> LeakyReLU -> one logit (both papers' classifier head)."""
    return nn.Sequential(
        nn.Linear(in_features, dense_features), nn.LeakyReLU(LEAKY_SLOPE, inplace=True), nn.Linear(dense_features, 1)
    )


class _FixedSizeDiscriminator(nn.Module):
    """Shared forward: conv features, flatten, dense head; checks the input matches ``input_size``."""

    features: nn.Sequential
    head: nn.Sequential
    input_size: int

    def forward(self, img: Tensor) -> Tensor:
        """Map (N, C, S, S) images to (N, 1) logits, S = ``input_size``."""
        if tuple(img.shape[-2:]) != (self.input_size, self.input_size):
            raise SISRError(
                f"{type(self).__name__} was built for {self.input_size}x{self.input_size} inputs, got "
                f"{img.shape[-2]}x{img.shape[-1]}; set its input_size to the HR crop size."
            )
        return self.head(self.features(img).flatten(1))


class SRGANDiscriminator(_FixedSizeDiscriminator):
    """SRGAN discriminator: 8 conv3x3 blocks (strides 1, 2 alternating), dense 1024, dense 1.

    Args:
        in_channels: image channels.
        num_features: width of the first block; the blocks use 1, 1, 2, 2, 4, 4, 8, 8 times it.
        input_size: side of the square input; 4 stride-2 convs need it divisible by 16 (96 in the paper).
        dense_features: width of the hidden dense layer (1024 in the paper).
    """

    def __init__(
        self, in_channels: int = 3, num_features: int = 64, input_size: int = 96, dense_features: int = 1024
    ) -> None:
        super().__init__()
        self.input_size = _check_size("SRGANDiscriminator", input_size, 16)
        widths = [num_features * m for m in (1, 1, 2, 2, 4, 4, 8, 8)]
        # First block: conv with bias, no batch norm.
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1), nn.LeakyReLU(LEAKY_SLOPE, True)]
        for i in range(1, len(widths)):
            stride = 2 if i % 2 else 1  # strides 1, 2, 1, 2, ... from the first block on
            layers += _conv_bn_lrelu(widths[i - 1], widths[i], 3, stride)
        self.features = nn.Sequential(*layers)
        self.head = _dense_head(widths[-1] * (input_size // 16) ** 2, dense_features)


class VGGStyleDiscriminator(_FixedSizeDiscriminator):
    """ESRGAN discriminator: five (conv3x3 s1, conv4x4 s2) pairs, BN after all but the first conv, dense 100, 1.

    Args:
        in_channels: image channels.
        num_features: width of the first pair; the pairs use 1, 2, 4, 8, 8 times it.
        input_size: side of the square input; 5 stride-2 convs need it divisible by 32 (128 in the paper).
        dense_features: width of the hidden dense layer (100 in ESRGAN).
    """

    def __init__(
        self, in_channels: int = 3, num_features: int = 64, input_size: int = 128, dense_features: int = 100
    ) -> None:
        super().__init__()
        self.input_size = _check_size("VGGStyleDiscriminator", input_size, 32)
        widths = [num_features * m for m in (1, 2, 4, 8, 8)]
        layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1), nn.LeakyReLU(LEAKY_SLOPE, True)]
        layers += _conv_bn_lrelu(widths[0], widths[0], 4, 2)  # 4x4 stride 2, padding 1: halves the size
        for previous, width in zip(widths, widths[1:]):
            layers += _conv_bn_lrelu(previous, width, 3, 1) + _conv_bn_lrelu(width, width, 4, 2)
        self.features = nn.Sequential(*layers)
        self.head = _dense_head(widths[-1] * (input_size // 32) ** 2, dense_features)
