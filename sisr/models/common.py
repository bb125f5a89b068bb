"""Helpers shared by the SR networks: scale checks, upsampling plans, weight initialisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from sisr.plumbing.errors import SISRError

# Upsampling stages per scale: x4 and x8 are built from repeated x2 stages, x3 is one x3 stage
# (SRGAN and ESRGAN both upsample this way).
UPSAMPLE_STAGES: dict[int, tuple[int, ...]] = {2: (2,), 3: (3,), 4: (2, 2), 8: (2, 2, 2)}


def check_scale(model: str, scale: int, supported: Sequence[int]) -> int:
    """Return ``scale`` if ``model`` supports it, else raise one sentence naming the valid scales.

    Args:
        model: model name used in the message, e.g. "SRResNet".
        scale: requested upscaling factor.
        supported: the scales the model can build.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale not in supported:
        options = ", ".join(str(s) for s in supported[:-1]) + f" or {supported[-1]}"
        raise SISRError(f"{model} supports scale {options}, got {scale!r}; set data.scale to one of them.")
    return scale


def check_integer_scale(model: str, scale: int) -> int:
    """Return ``scale`` if it is an integer >= 2 (for models that upscale with bicubic), else raise.

    Args:
        model: model name used in the message, e.g. "SRCNN".
        scale: requested upscaling factor.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise SISRError(f"{model} supports any integer scale >= 2, got {scale!r}; set data.scale to one of them.")
    return scale


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (learnable or not) of ``module``."""
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def default_init_weights(module: nn.Module, scale: float = 0.1, bias_fill: float = 0.0) -> None:
    """Kaiming-normal init scaled by ``scale`` for every conv/linear layer inside ``module``.

    ESRGAN (Wang et al. 2018, Sec. 3.3) trains its very deep RRDB trunk more easily when the MSRA init
    is multiplied by a small factor (0.1), which keeps the residual branches near identity at the start.

    Args:
        module: the module whose Conv2d/Linear layers are re-initialised in place.
        scale: multiplier applied to the Kaiming-normal weights.
        bias_fill: value written into every bias.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight)
            layer.weight.mul_(scale)
            if layer.bias is not None:
                layer.bias.fill_(bias_fill)
