"""Training losses: pixel (L1/MSE), perceptual (VGG19 features) and adversarial (vanilla or relativistic average GAN).

References: SRGAN (Ledig et al., CVPR 2017) uses the MSE of VGG19 conv5_4 features after the ReLU, rescaled by
1/12.75, plus a vanilla GAN; ESRGAN (Wang et al., ECCV-W 2018) uses the L1 of conv5_4 features before the
ReLU plus a relativistic average GAN (Jolicoeur-Martineau, 2018) applied to both players.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sisr.losses.vgg import IMAGENET, VGG19Features
from sisr.plumbing.errors import SISRError
from sisr.protocol.color import rgb_to_ycbcr

Criterion = Callable[[Tensor, Tensor], Tensor]
CRITERIA: dict[str, Criterion] = {"l1": F.l1_loss, "mse": F.mse_loss}
ADVERSARIAL_KINDS = ("vanilla", "relativistic_average")


def get_criterion(criterion: str) -> Criterion:
    """The mean-reduced distance named `criterion` ('l1' or 'mse')."""
    if criterion not in CRITERIA:
        raise SISRError(f"unknown loss criterion {criterion!r}; set `criterion` to one of {', '.join(CRITERIA)}.")
    return CRITERIA[criterion]


class PixelLoss(nn.Module):
    """Mean L1 or squared error between the SR output and the HR image, on RGB or on the BT.601 Y channel.

    Args:
        criterion: 'l1' or 'mse'.
        channel: 'rgb' (all channels) or 'y' (luma only: SRCNN's objective for its Y-channel network, where the
            output's chroma is bicubic and must not pull on the prediction).
    """

    def __init__(self, criterion: str = "l1", channel: str = "rgb") -> None:
        super().__init__()
        if channel not in ("rgb", "y"):
            raise SISRError(f"unknown loss channel {channel!r}; set `channel` to 'rgb' or 'y'.")
        self.criterion = criterion
        self.channel = channel
        self.distance = get_criterion(criterion)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        if self.channel == "y":
            sr, hr = rgb_to_ycbcr(sr)[:, :1], rgb_to_ycbcr(hr)[:, :1]
        return self.distance(sr, hr)

    def extra_repr(self) -> str:
        return f"criterion={self.criterion!r}, channel={self.channel!r}"


class PerceptualLoss(nn.Module):
    """Weighted distance between VGG19 features of the SR output and of the HR image (the "content loss").

    loss = sum over layers of weight * criterion(feature_scale * phi(sr), feature_scale * phi(hr)).

    Args:
        layer_weights: layer name -> weight, e.g. {"conv5_4": 1.0}; names as in the papers (conv1_1 ... conv5_4).
        before_activation: features before the ReLU (ESRGAN) rather than after it (SRGAN).
        criterion: 'l1' or 'mse'.
        feature_scale: factor applied to the features before the distance (SRGAN: 1/12.75).
        weights: VGG19 weights: 'imagenet', a state_dict file, or 'random-init-for-tests' (see `VGG19Features`).
    """

    def __init__(
        self,
        layer_weights: Mapping[str, float],
        before_activation: bool = False,
        criterion: str = "l1",
        feature_scale: float = 1.0,
        weights: str = IMAGENET,
    ) -> None:
        super().__init__()
        self.layer_weights = {str(name): float(weight) for name, weight in dict(layer_weights).items()}
        self.criterion = criterion
        self.distance = get_criterion(criterion)
        self.feature_scale = float(feature_scale)
        self.vgg = VGG19Features(self.layer_weights, before_activation=before_activation, weights=weights)

    def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
        sr_features = self.vgg(sr)
        with torch.no_grad():
            hr_features = self.vgg(hr.detach())
        scale = self.feature_scale
        total = sr.new_zeros(())
        for name, weight in self.layer_weights.items():
            total = total + weight * self.distance(scale * sr_features[name], scale * hr_features[name])
        return total

    def extra_repr(self) -> str:
        return f"layer_weights={self.layer_weights}, criterion={self.criterion!r}, feature_scale={self.feature_scale}"


class AdversarialLoss(nn.Module):
    """GAN losses on discriminator logits, computed with BCE-with-logits for numerical stability.

    vanilla (SRGAN): L_D = -E[log D(x_r)] - E[log(1 - D(x_f))], L_G = -E[log D(x_f)] (the non-saturating loss).
    relativistic_average (ESRGAN), with D_Ra(a, b) = sigmoid(C(a) - E[C(b)]) on logits C:
        L_D = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))],
        L_G = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]   (both real and fake terms).

    Args:
        kind: 'vanilla' or 'relativistic_average'.
    """

    def __init__(self, kind: str = "vanilla") -> None:
        super().__init__()
        if kind not in ADVERSARIAL_KINDS:
            choices = ", ".join(ADVERSARIAL_KINDS)
            raise SISRError(f"unknown adversarial loss kind {kind!r}; set `kind` to one of {choices}.")
        self.kind = kind

    @property
    def relativistic(self) -> bool:
        """Whether the generator's loss also needs the logits on real images."""
        return self.kind == "relativistic_average"

    @staticmethod
    def _bce(logits: Tensor, target_is_real: bool) -> Tensor:
        target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
        return F.binary_cross_entropy_with_logits(logits, target)

    def _relative(self, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
        """Logits of D_Ra(x_r, x_f) and D_Ra(x_f, x_r)."""
        return real_logits - fake_logits.mean(), fake_logits - real_logits.mean()

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """Loss of the discriminator, given its logits on real (HR) and fake (SR, detached) images."""
        if self.relativistic:
            real_logits, fake_logits = self._relative(real_logits, fake_logits)
        return self._bce(real_logits, True) + self._bce(fake_logits, False)

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        """Loss of the generator, given the logits on its output (and on real images, needed when relativistic)."""
        if self.kind == "vanilla":
            return self._bce(fake_logits, True)
        if real_logits is None:
            raise ValueError("the relativistic average generator loss needs the logits on real images too.")
        real_relative, fake_relative = self._relative(real_logits, fake_logits)
        return self._bce(real_relative, False) + self._bce(fake_relative, True)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
