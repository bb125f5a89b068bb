"""LPIPS (Zhang et al., CVPR 2018) when its backbone weights are available offline, and a clear note when not.

torchmetrics ships LPIPS's linear heads; the AlexNet backbone comes from torchvision's weights API, which
downloads into the torch hub cache. Evaluation never triggers that download: it scores LPIPS only when the file
is already cached and otherwise reports why it was skipped.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
from torchvision.models import AlexNet_Weights

from sisr.plumbing.paths import display_path


def alexnet_weights_path() -> Path:
    """Where torchvision's weights API keeps the AlexNet ImageNet weights LPIPS needs."""
    filename = Path(AlexNet_Weights.IMAGENET1K_V1.url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def lpips_unavailable_reason() -> str | None:
    """None when LPIPS can be computed offline; otherwise one sentence saying why not and how to enable it."""
    path = alexnet_weights_path()
    if path.is_file():
        return None
    return (
        f"LPIPS skipped: the AlexNet ImageNet weights are not at {display_path(path)}; download {AlexNet_Weights.IMAGENET1K_V1.url} "
        "there (or run once online) to report LPIPS."
    )


def build_lpips() -> LearnedPerceptualImagePatchSimilarity:
    """An LPIPS-Alex metric on [0, 1] images, averaged per image over the set."""
    return LearnedPerceptualImagePatchSimilarity(net_type="alex", reduction="mean", normalize=True)
