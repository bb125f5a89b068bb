"""Building blocks shared by the SR networks: 3x3 convolutions, stacks of blocks, residual blocks with or without
BatchNorm, and the sub-pixel upsampler. A new architecture is assembled from these; their module layout (and so
the state_dict keys) is part of their contract, because published weights are stored under those keys."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from sisr.models.common import UPSAMPLE_STAGES

Activation = Callable[[], nn.Module]


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 3x3 convolution that keeps the spatial size."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


def make_layer(block: Callable[[], nn.Module], count: int) -> nn.Sequential:
    """`count` blocks built by `block()`, in sequence (keys `0.`, `1.`, ...)."""
    return nn.Sequential(*(block() for _ in range(count)))


class ResidualBlock(nn.Module):
    """conv3x3 [-BN] - activation - conv3x3 [-BN], scaled by `res_scale`, plus the identity.

    With `batch_norm=True` and PReLU this is SRResNet's block (SRGAN Fig. 4; keys `body.0` conv, `body.1` BN,
    `body.2` PReLU, `body.3` conv, `body.4` BN); with `batch_norm=False` and ReLU it is EDSR's (keys `body.0`,
    `body.2`), whose `res_scale` is 0.1 for its wide model.

    Args:
        num_features: channels in and out.
        batch_norm: put a BatchNorm after each convolution.
        activation: builds the activation between the two convolutions.
        res_scale: multiplier of the residual branch.
    """

    def __init__(
        self, num_features: int, batch_norm: bool = True, activation: Activation = nn.PReLU, res_scale: float = 1.0
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv3x3(num_features, num_features)]
        layers += [nn.BatchNorm2d(num_features)] if batch_norm else []
        layers += [activation(), conv3x3(num_features, num_features)]
        layers += [nn.BatchNorm2d(num_features)] if batch_norm else []
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        residual = self.body(x)
        return x + (residual if self.res_scale == 1.0 else self.res_scale * residual)


def subpixel_upsampler(num_features: int, scale: int, activation: Activation | None = nn.PReLU) -> nn.Sequential:
    """Sub-pixel upsampling (Shi et al., CVPR 2016) by `scale` (2, 3, 4 or 8): one stage per factor of
    `UPSAMPLE_STAGES[scale]`, each conv3x3 (C -> C * f^2), PixelShuffle(f), then `activation` if given
    (PReLU in SRGAN; none in EDSR). Keys: `<stage>.0` conv, `<stage>.2` activation."""
    stages = []
    for factor in UPSAMPLE_STAGES[scale]:
        layers = [conv3x3(num_features, num_features * factor**2), nn.PixelShuffle(factor)]
        stages.append(nn.Sequential(*layers, *([activation()] if activation else [])))
    return nn.Sequential(*stages)
