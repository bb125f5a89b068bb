"""MATLAB bicubic resize: bit-exact against the MATLAB-made LR files, a hand-written reference, invariants."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sisr.protocol.imresize import bicubic_degrade, bicubic_upscale, contributions, cubic, imresize
from sisr.plumbing.errors import SISRError


# ------------------------------------------------------------------------------ independent numpy reference
def _matlab_taps(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) matrix of MATLAB's bicubic imresize, one output pixel at a time, from its formula."""

    def keys(x: float) -> float:  # cubic convolution, a = -0.5
        x = abs(x)
        if x <= 1:
            return 1.5 * x**3 - 2.5 * x**2 + 1
        if x <= 2:
            return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
        return 0.0

    shrink = scale < 1
    width = 4 / scale if shrink else 4
    matrix = np.zeros((out_len, in_len))
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        for j in range(left, left + math.ceil(width) + 2):
            weight = scale * keys(scale * (u - j)) if shrink else keys(u - j)
            matrix[i - 1, min(max(j, 1), in_len) - 1] += weight  # MATLAB clamps indices: edges replicated
        matrix[i - 1] /= matrix[i - 1].sum()
    return matrix


def _reference_resize(img: np.ndarray, scale: float, out_h: int, out_w: int) -> np.ndarray:
    """(H, W) float64 resize: rows first then columns (equal scales), no rounding."""
    rows = _matlab_taps(img.shape[0], out_h, scale)
    cols = _matlab_taps(img.shape[1], out_w, scale)
    return rows @ img @ cols.T


# ------------------------------------------------------------------------------------- MATLAB LR files
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_degrade_reproduces_matlab_lr_files_of_set5(shared_data_dir: Path, scale: int) -> None:
    folder = shared_data_dir / "benchmark" / "Set5" / f"image_SRF_{scale}"
    hr_paths = sorted(folder.glob("*_HR.png"))
    assert len(hr_paths) == 5
    for hr_path in hr_paths:
        hr = np.asarray(Image.open(hr_path))
        expected = np.asarray(Image.open(hr_path.with_name(hr_path.name.replace("_HR", "_LR"))))
        lr = bicubic_degrade(hr, scale)
        assert lr.dtype == np.uint8 and lr.shape == expected.shape
        differing = np.count_nonzero(lr != expected)
        # Measured: every pixel of all three scales is identical (replicated edges + uint8 between passes).
        assert differing == 0, f"{hr_path.name}: {differing} of {lr.size} values differ from MATLAB's LR"


def test_bicubic_degrade_grayscale_2d_matches_3d() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, size=(24, 36), dtype=np.uint8)
    lr = bicubic_degrade(gray, 3)
    assert lr.shape == (8, 12)
    np.testing.assert_array_equal(lr, bicubic_degrade(np.repeat(gray[:, :, None], 3, axis=2), 3)[:, :, 0])


# -------------------------------------------------------------------------------------- hand-computed
def test_cubic_kernel_values() -> None:
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5], dtype=torch.float64)
    expected = torch.tensor([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625], dtype=torch.float64)
    torch.testing.assert_close(cubic(x), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("scale, expected", [(2.0, lambda j: j / 2 - 0.25), (0.5, lambda j: 2 * j + 0.5)])
def test_ramp_is_resampled_at_matlab_pixel_centres(scale: float, expected) -> None:
    # Cubic convolution reproduces linear functions, so away from the edges a ramp f(i) = i (0-based) is
    # sampled exactly at x_in = (x_out + 0.5) / scale - 0.5: j / 2 - 0.25 when upscaling x2, 2 j + 0.5 when halving.
    ramp = torch.arange(64, dtype=torch.float64).expand(1, 5, 64).contiguous()
    out = imresize(ramp, scale=scale)[0, 2]
    j = torch.arange(out.numel(), dtype=torch.float64)
    interior = slice(4, -4)  # taps reaching past the edge see replicated pixels, not the ramp
    torch.testing.assert_close(out[interior], expected(j)[interior], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "shape, scale, out_shape",
    [((13, 17), 3.0, (39, 51)), ((24, 30), 1 / 3, (8, 10)), ((20, 16), 0.25, (5, 4)), ((9, 11), 2.0, (18, 22))],
)
def test_imresize_matches_independent_numpy_formula(shape, scale, out_shape) -> None:
    rng = np.random.default_rng(1)
    img = rng.uniform(-1, 2, size=shape)
    expected = _reference_resize(img, scale, *out_shape)
    out = imresize(torch.from_numpy(img)[None], scale=scale)[0].numpy()
    assert out.shape == out_shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-12)


def test_contribution_weights_sum_to_one_and_indices_in_range() -> None:
    for in_len, out_len, scale in [(10, 40, 4.0), (40, 10, 0.25), (9, 3, 1 / 3)]:
        indices, weights = contributions(in_len, out_len, scale)
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(out_len, dtype=torch.float64))
        assert int(indices.min()) >= 0 and int(indices.max()) < in_len


# ---------------------------------------------------------------------------------------- upscaling
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_upscale_shapes(scale: int) -> None:
    img = torch.rand(2, 3, 7, 10)
    assert imresize(img, scale=scale).shape == (2, 3, 7 * scale, 10 * scale)
    assert imresize(img[0], scale=scale).shape == (3, 7 * scale, 10 * scale)
    assert imresize(img, size=(15, 31)).shape == (2, 3, 15, 31)
    assert bicubic_upscale(np.zeros((7, 10, 3), np.uint8), scale).shape == (7 * scale, 10 * scale, 3)


@pytest.mark.parametrize("scale", [4.0, 0.5, 1 / 3])
def test_constant_image_is_preserved(scale: float) -> None:
    img = torch.full((1, 3, 12, 18), 0.3, dtype=torch.float64)
    torch.testing.assert_close(imresize(img, scale=scale), torch.full_like(imresize(img, scale=scale), 0.3))
    const = np.full((12, 18, 3), 77, np.uint8)
    assert np.all(bicubic_upscale(const, 2) == 77) and np.all(bicubic_degrade(const, 3) == 77)


devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", devices)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_preserved(device: str, dtype: torch.dtype) -> None:
    img = torch.rand(1, 3, 6, 8, dtype=dtype, device=device)
    out = imresize(img, scale=2)
    assert out.dtype == dtype and out.device.type == device
    reference = imresize(img.double().cpu(), scale=2)
    tolerance = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(out.double().cpu(), reference, rtol=0, atol=tolerance)


def test_batch_equals_single_images() -> None:
    # Batched and per-image matrix products may take different float32 kernels (and round differently) on
    # different CPUs: equal to a few ulps of values in [0, 1], not bitwise.
    batch = torch.rand(3, 3, 9, 7)
    out = imresize(batch, scale=3)
    for i in range(3):
        torch.testing.assert_close(out[i], imresize(batch[i], scale=3), rtol=0, atol=1e-6)


def test_bad_input_raises_one_clear_error() -> None:
    with pytest.raises(SISRError, match="float tensor"):
        imresize(torch.zeros(3, 4, 4, dtype=torch.uint8), scale=2)
    with pytest.raises(SISRError, match="exactly one"):
        imresize(torch.zeros(3, 4, 4), scale=2, size=(8, 8))
    with pytest.raises(SISRError, match="uint8 numpy image"):
        bicubic_degrade(np.zeros((8, 8, 3), np.float32), 2)
    with pytest.raises(SISRError, match="positive integer"):
        bicubic_upscale(np.zeros((8, 8, 3), np.uint8), 1.5)  # type: ignore[arg-type]
