"""Protocol metrics of the SR literature: per-image PSNR and SSIM on the BT.601 Y channel, border cropped.

The protocol (SRCNN, Dong et al., TPAMI 2016, and the MATLAB scripts every later table reuses): outputs are
rounded to uint8 levels; RGB images are scored on Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255,
grayscale sources on their intensity as it is; ``crop_border`` pixels are removed from every side;
PSNR = 10 log10(255^2 / MSE) per image; SSIM (Wang et al., IEEE TIP 2004) with an 11x11 Gaussian window
(sigma 1.5), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, averaged over the valid region only (no padding).
Set scores are means over images, never a pooled MSE. All metric arithmetic is float64.

An output identical to its reference after rounding (a flat image upscales exactly) has infinite PSNR, which would
make its set's mean infinite; `SRMetrics` caps per-image PSNR at ``MAX_PSNR`` = 100 dB, so an exact image counts
100 dB (as do the near-exact: MSE under 6.5e-6, e.g. one level wrong in one pixel of more than 153,000), and
`sisr.eval` says how many images of a set were capped.
"""

from __future__ import annotations

import torch
import torchmetrics
from torch import Tensor
from torchmetrics.utilities import dim_zero_cat

from sisr.plumbing.errors import SISRError
from sisr.protocol.color import BT601_Y_OFFSET, BT601_Y_WEIGHTS

PEAK = 255.0  # uint8 peak value: PSNR and the SSIM constants are on the 0..255 scale
MAX_PSNR = 100.0  # dB at which SRMetrics counts an exact (infinite-PSNR) image; see the module docstring
SSIM_WINDOW = 11  # Gaussian window size of Wang et al.
SSIM_SIGMA = 1.5  # Gaussian window standard deviation of Wang et al.
SSIM_C1 = (0.01 * PEAK) ** 2  # K1 = 0.01
SSIM_C2 = (0.03 * PEAK) ** 2  # K2 = 0.03
# ITU-R BT.601 luma for R, G, B in 0..255, studio range 16..235 (MATLAB's rgb2ycbcr).
_Y_WEIGHTS = tuple(weight / 255.0 for weight in BT601_Y_WEIGHTS)
_Y_OFFSET = BT601_Y_OFFSET
_SCORES = ("psnr", "ssim", "psnr_rgb")  # the per-image list states of SRMetrics


def to_uint8_range(img01: Tensor) -> Tensor:
    """Quantise a [0, 1] image to uint8 levels, returned as float64 in 0..255.

    Rounds half up and saturates like MATLAB's ``uint8(img * 255)``, so 0.5 maps to 128.

    Args:
        img01: image(s) in [0, 1] (values outside are clamped).
    """
    levels = img01.to(torch.float64, copy=True).mul_(PEAK).clamp_(0.0, PEAK)
    return levels.add_(0.5).floor_()


def rgb_to_y(img: Tensor) -> Tensor:
    """BT.601 luma (16..235) of RGB images in 0..255.

    Args:
        img: (N, 3, H, W) RGB in 0..255.

    Returns:
        (N, 1, H, W) float64 Y in 16..235, not rounded.
    """
    if img.ndim != 4 or img.shape[1] != 3:
        raise SISRError(f"rgb_to_y expects RGB images of shape (N, 3, H, W), got {tuple(img.shape)}.")
    img = img.double()
    y = _Y_OFFSET + _Y_WEIGHTS[0] * img[:, 0] + _Y_WEIGHTS[1] * img[:, 1] + _Y_WEIGHTS[2] * img[:, 2]
    return y.unsqueeze(1)


def psnr(sr255: Tensor, hr255: Tensor) -> Tensor:
    """Per-image PSNR in dB for images in 0..255 (inf for identical images).

    Args:
        sr255: (N, C, H, W) images in 0..255.
        hr255: (N, C, H, W) references in 0..255.

    Returns:
        (N,) float64 tensor, one PSNR per image (MSE over that image's channels and pixels).
    """
    mse = (sr255.double() - hr255.double()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(PEAK**2 / mse)


def min_image_side(crop_border: int) -> int:
    """Smallest height and width an image can be scored at: the border cropped from both sides plus the SSIM window.

    Args:
        crop_border: pixels removed from every side before scoring.
    """
    return 2 * int(crop_border) + SSIM_WINDOW


def _gaussian_window(device: torch.device) -> Tensor:
    """The normalised 1-D Gaussian of SSIM; its outer product is MATLAB's ``fspecial('gaussian', 11, 1.5)``."""
    window = torch.signal.windows.gaussian(SSIM_WINDOW, std=SSIM_SIGMA, dtype=torch.float64, device=device)
    return window / window.sum()


def ssim(sr255: Tensor, hr255: Tensor) -> Tensor:
    """Per-image SSIM for images in 0..255, averaged over the valid region (no padding) and the channels.

    Args:
        sr255: (N, C, H, W) images in 0..255, H and W at least 11.
        hr255: (N, C, H, W) references in 0..255.

    Returns:
        (N,) float64 tensor, one SSIM per image.
    """
    if min(sr255.shape[-2:]) < SSIM_WINDOW:
        raise SISRError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels after the border crop, "
            f"got {tuple(sr255.shape[-2:])}; score larger images or lower crop_border."
        )
    x, y = sr255.double(), hr255.double()
    window = _gaussian_window(x.device).tolist()

    def correlate(img: Tensor, dim: int) -> Tensor:  # 1-D Gaussian along `dim`, 'valid' region only
        length = img.shape[dim] - SSIM_WINDOW + 1
        # A weighted sum of 11 shifted views: on the CPU this is several times faster than a float64 conv2d.
        out = img.narrow(dim, 0, length) * window[0]
        for offset in range(1, SSIM_WINDOW):
            out.add_(img.narrow(dim, offset, length), alpha=window[offset])
        return out

    # The five local statistics of SSIM, blurred together as one stacked tensor.
    stats = correlate(correlate(torch.stack([x, y, x * x, y * y, x * y]), -2), -1)
    mu_x, mu_y = stats[0], stats[1]
    var_x = stats[2] - mu_x * mu_x
    var_y = stats[3] - mu_y * mu_y
    cov = stats[4] - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + SSIM_C1) * (2.0 * cov + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return (numerator / denominator).flatten(1).mean(dim=1)


class SRMetrics(torchmetrics.Metric):
    """PSNR / SSIM on Y (or intensity for grayscale sources) plus RGB PSNR, per image, averaged over images.

    ``update`` takes SR and HR batches in [0, 1]; both are rounded to uint8 levels before scoring. PSNR is
    capped at ``MAX_PSNR`` (an exact image counts 100 dB, not infinity).
    ``compute`` returns ``{"psnr", "ssim", "psnr_rgb", "count"}``: means over every image seen (gathered
    across processes under DDP). ``per_image`` returns this process's per-image rows in update order.

    Args:
        crop_border: pixels removed from every side before scoring (the protocol uses the scale).
        kwargs: passed to ``torchmetrics.Metric``.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    psnr: list[Tensor]
    ssim: list[Tensor]
    psnr_rgb: list[Tensor]

    def __init__(self, crop_border: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if int(crop_border) != crop_border or crop_border < 0:
            raise SISRError(f"SRMetrics got crop_border={crop_border}; use a non-negative integer (the scale).")
        self.crop_border = int(crop_border)
        for name in _SCORES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def _crop(self, img: Tensor) -> Tensor:
        c = self.crop_border
        return img[..., c : img.shape[-2] - c, c : img.shape[-1] - c] if c else img

    def update(self, sr: Tensor, hr: Tensor, is_gray: Tensor | list[bool] | None = None) -> None:
        """Score a batch of SR outputs against their HR references.

        Args:
            sr: (N, 3, H, W) or (3, H, W) SR output in [0, 1] (not necessarily clamped).
            hr: HR reference(s) of the same shape, in [0, 1].
            is_gray: per image, whether the source image was grayscale (scored on channel 0 as it is).
        """
        if sr.ndim == 3:
            sr, hr = sr.unsqueeze(0), hr.unsqueeze(0)
        if sr.shape != hr.shape or sr.ndim != 4 or sr.shape[1] != 3:
            raise SISRError(
                f"SRMetrics.update needs SR and HR batches of the same shape (N, 3, H, W), got SR "
                f"{tuple(sr.shape)} and HR {tuple(hr.shape)}; check the model's scale and the HR mod-crop."
            )
        if min(sr.shape[-2:]) <= 2 * self.crop_border:
            raise SISRError(
                f"SRMetrics got {tuple(sr.shape[-2:])} images, too small for crop_border={self.crop_border}."
            )
        batch = sr.shape[0]
        gray = torch.zeros(batch, dtype=torch.bool) if is_gray is None else torch.as_tensor(is_gray).bool()
        gray = gray.reshape(-1).to(sr.device)
        if gray.numel() != batch:
            raise SISRError(f"SRMetrics.update got {gray.numel()} is_gray flags for a batch of {batch} images.")

        sr255 = self._crop(to_uint8_range(sr))
        hr255 = self._crop(to_uint8_range(hr))
        # RGB images are scored on luma; grayscale sources (R = G = B) on their intensity, as MATLAB does.
        flags = gray.view(-1, 1, 1, 1)
        sr_scored = torch.where(flags, sr255[:, :1], rgb_to_y(sr255))
        hr_scored = torch.where(flags, hr255[:, :1], rgb_to_y(hr255))
        self.psnr.append(psnr(sr_scored, hr_scored).clamp(max=MAX_PSNR))
        self.ssim.append(ssim(sr_scored, hr_scored))
        self.psnr_rgb.append(psnr(sr255, hr255).clamp(max=MAX_PSNR))

    def compute(self) -> dict[str, Tensor]:
        """Means over all images scored so far, and their count."""
        values = {name: self._values(name) for name in _SCORES}
        count = values["psnr"].numel()
        if count == 0:
            raise SISRError("SRMetrics.compute() was called before any image was scored; call update() first.")
        result = {name: value.mean() for name, value in values.items()}
        result["count"] = torch.tensor(count, device=values["psnr"].device)
        return result

    def per_image(self) -> list[dict[str, float]]:
        """Per-image rows ``{"psnr", "ssim", "psnr_rgb"}`` in update order (this process's images)."""
        columns = {name: self._values(name).tolist() for name in _SCORES}
        return [{name: column[i] for name, column in columns.items()} for i in range(len(columns["psnr"]))]

    def _values(self, name: str) -> Tensor:
        """One score of every image so far as a flat float64 tensor (empty before the first update)."""
        state = getattr(self, name)
        if isinstance(state, list) and not state:
            return torch.zeros(0, dtype=torch.float64, device=self.device)
        return dim_zero_cat(state)
