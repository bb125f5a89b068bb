"""SRMetrics against an independent numpy/scipy implementation of the protocol, and its bookkeeping."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import convolve2d

from sisr.protocol.imresize import bicubic_upscale
from sisr.plumbing.errors import SISRError
from sisr.protocol.metrics import MAX_PSNR, SRMetrics, psnr, rgb_to_y, ssim, to_uint8_range


# ---------------------------------------------------------------------------- independent numpy protocol
def np_quantise(img01: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(img01.astype(np.float64) * 255.0, 0, 255) + 0.5)


def np_y(rgb255: np.ndarray) -> np.ndarray:
    """(H, W, 3) -> (H, W) BT.601 Y in 16..235."""
    return 16.0 + rgb255 @ np.array([65.481, 128.553, 24.966]) / 255.0


def np_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2)))


def np_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s ssim_index on one (H, W) channel: 2-D Gaussian window, 'valid' filtering."""
    ax = np.arange(11) - 5
    window = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 1.5**2))
    window /= window.sum()

    def filt(x: np.ndarray) -> np.ndarray:
        return convolve2d(x, window, mode="valid")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = filt(a), filt(b)
    var_a, var_b, cov = filt(a * a) - mu_a**2, filt(b * b) - mu_b**2, filt(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def np_scores(sr01: np.ndarray, hr01: np.ndarray, crop: int, gray: bool = False) -> dict[str, float]:
    """Protocol scores of one (H, W, 3) pair in [0, 1]."""
    sr, hr = np_quantise(sr01), np_quantise(hr01)
    if crop:
        sr, hr = sr[crop:-crop, crop:-crop], hr[crop:-crop, crop:-crop]
    sr_y, hr_y = (sr[..., 0], hr[..., 0]) if gray else (np_y(sr), np_y(hr))
    return {"psnr": np_psnr(sr_y, hr_y), "ssim": np_ssim(sr_y, hr_y), "psnr_rgb": np_psnr(sr, hr)}


def to_tensor(hwc01: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(hwc01.transpose(2, 0, 1))).float().unsqueeze(0)


def noisy_pair(rng: np.random.Generator, shape=(40, 48), noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    hr = rng.uniform(0, 1, size=(*shape, 3))
    sr = hr + rng.normal(0, noise, size=hr.shape)  # leaves [0, 1] in places: quantisation clamps it
    return sr.astype(np.float32), hr.astype(np.float32)  # the values SRMetrics sees as float32 tensors


def assert_rows_match(rows: list[dict[str, float]], expected: list[dict[str, float]]) -> None:
    assert len(rows) == len(expected)
    for row, ref in zip(rows, expected):
        for key in ("psnr", "ssim", "psnr_rgb"):
            assert row[key] == pytest.approx(ref[key], abs=1e-9), key


# ------------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("crop", [0, 4])
def test_random_images_match_numpy(crop: int) -> None:
    rng = np.random.default_rng(0)
    pairs = [noisy_pair(rng, noise=n) for n in (0.01, 0.05, 0.2)]
    metric = SRMetrics(crop_border=crop)
    for sr, hr in pairs:
        metric.update(to_tensor(sr), to_tensor(hr))
    expected = [np_scores(sr, hr, crop) for sr, hr in pairs]
    assert_rows_match(metric.per_image(), expected)
    result = metric.compute()
    for key in ("psnr", "ssim", "psnr_rgb"):
        assert float(result[key]) == pytest.approx(np.mean([e[key] for e in expected]), abs=1e-9)
    assert int(result["count"]) == 3


def test_real_image_pair_matches_numpy(shared_data_dir: Path) -> None:
    folder = shared_data_dir / "benchmark" / "Set5" / "image_SRF_4"
    hr = np.asarray(Image.open(folder / "img_002_SRF_4_HR.png"))
    sr = bicubic_upscale(np.asarray(Image.open(folder / "img_002_SRF_4_LR.png")), 4)
    metric = SRMetrics(crop_border=4)
    metric.update(to_tensor(sr / 255.0), to_tensor(hr / 255.0))
    assert_rows_match(metric.per_image(), [np_scores(sr / 255.0, hr / 255.0, 4)])


def test_batches_of_several_images_keep_update_order() -> None:
    rng = np.random.default_rng(1)
    pairs = [noisy_pair(rng, noise=0.02 * (i + 1)) for i in range(5)]
    metric = SRMetrics(crop_border=2)
    for chunk in (pairs[:3], pairs[3:]):
        metric.update(torch.cat([to_tensor(sr) for sr, _ in chunk]), torch.cat([to_tensor(hr) for _, hr in chunk]))
    expected = [np_scores(sr, hr, 2) for sr, hr in pairs]
    assert_rows_match(metric.per_image(), expected)
    result = metric.compute()
    assert int(result["count"]) == 5
    assert float(result["psnr"]) == pytest.approx(np.mean([e["psnr"] for e in expected]), abs=1e-9)


# ------------------------------------------------------------------------------------------ protocol
def test_set_score_is_mean_of_per_image_psnr_not_pooled_mse() -> None:
    rng = np.random.default_rng(3)
    pairs = [noisy_pair(rng, noise=0.005), noisy_pair(rng, noise=0.2)]
    metric = SRMetrics(crop_border=0)
    for sr, hr in pairs:
        metric.update(to_tensor(sr), to_tensor(hr))
    per_image = [np_scores(sr, hr, 0)["psnr"] for sr, hr in pairs]
    pooled_mse = np.mean([np.mean((np_y(np_quantise(s)) - np_y(np_quantise(h))) ** 2) for s, h in pairs])
    pooled = 10 * np.log10(255.0**2 / pooled_mse)
    mean_psnr = float(metric.compute()["psnr"])
    assert mean_psnr == pytest.approx(np.mean(per_image), abs=1e-9)
    assert mean_psnr - pooled > 5.0  # the two definitions are far apart for images of different error


def test_crop_border_removes_border_errors() -> None:
    hr = torch.rand(1, 3, 32, 32)
    sr = hr.clone()
    sr[..., :4, :] = 1 - sr[..., :4, :]  # errors only in the 4 top rows and 4 left columns
    sr[..., :, :4] = 0.0
    cropped, full = SRMetrics(crop_border=4), SRMetrics(crop_border=0)
    cropped.update(sr, hr)
    full.update(sr, hr)
    assert float(cropped.compute()["psnr"]) == MAX_PSNR and float(cropped.compute()["ssim"]) == pytest.approx(1.0)
    assert float(full.compute()["psnr"]) < 20.0 and float(full.compute()["ssim"]) < 0.99


def test_gray_source_is_scored_on_intensity() -> None:
    rng = np.random.default_rng(4)
    hr_gray = rng.uniform(0, 1, size=(30, 30, 1)).astype(np.float32)
    sr_gray = (hr_gray + rng.normal(0, 0.05, size=hr_gray.shape)).astype(np.float32)
    hr, sr = np.repeat(hr_gray, 3, axis=2), np.repeat(sr_gray, 3, axis=2)  # loaded as RGB with R = G = B
    gray, as_rgb = SRMetrics(crop_border=2), SRMetrics(crop_border=2)
    gray.update(to_tensor(sr), to_tensor(hr), is_gray=[True])
    as_rgb.update(to_tensor(sr), to_tensor(hr), is_gray=torch.tensor([False]))
    assert_rows_match(gray.per_image(), [np_scores(sr, hr, 2, gray=True)])
    # Y of a gray pixel is 16 + 219/255 * v, so the Y error is 219/255 of the intensity error: +1.32 dB.
    shift = float(as_rgb.compute()["psnr"] - gray.compute()["psnr"])
    assert shift == pytest.approx(20 * math.log10(255 / 219), abs=1e-9)


def test_mixed_gray_flags_in_one_batch() -> None:
    rng = np.random.default_rng(5)
    pairs = [noisy_pair(rng), noisy_pair(rng)]
    pairs[0] = tuple(np.repeat(x[..., :1], 3, axis=2) for x in pairs[0])
    metric = SRMetrics(crop_border=1)
    metric.update(torch.cat([to_tensor(s) for s, _ in pairs]), torch.cat([to_tensor(h) for _, h in pairs]),
                  is_gray=[True, False])
    expected = [np_scores(*pairs[0], 1, gray=True), np_scores(*pairs[1], 1, gray=False)]
    assert_rows_match(metric.per_image(), expected)


def test_outputs_are_quantised_to_uint8_levels_before_scoring() -> None:
    assert float(to_uint8_range(torch.tensor(0.5001))) == 128.0
    assert float(to_uint8_range(torch.tensor(0.5))) == 128.0  # 127.5 rounds half up, like MATLAB's uint8()
    assert float(to_uint8_range(torch.tensor(1.7))) == 255.0 and float(to_uint8_range(torch.tensor(-0.2))) == 0.0
    hr = torch.full((1, 3, 16, 16), 128 / 255)
    exact = SRMetrics(crop_border=0)
    exact.update(torch.full_like(hr, 0.5001), hr)  # 127.53 -> level 128: no error at all
    assert float(exact.compute()["psnr"]) == MAX_PSNR  # infinite, capped (see sisr.protocol.metrics)
    one_level = SRMetrics(crop_border=0)
    one_level.update(torch.full_like(hr, 0.4979), hr)  # 126.96 -> level 127: MSE exactly 1
    assert float(one_level.compute()["psnr_rgb"]) == pytest.approx(20 * math.log10(255), abs=1e-9)


def test_functional_helpers() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0, 255, size=(2, 2, 1, 24, 20))
    assert psnr(torch.from_numpy(a), torch.from_numpy(b)).tolist() == pytest.approx(
        [np_psnr(a[i, 0], b[i, 0]) for i in range(2)], abs=1e-9
    )
    assert ssim(torch.from_numpy(a), torch.from_numpy(b)).tolist() == pytest.approx(
        [np_ssim(a[i, 0], b[i, 0]) for i in range(2)], abs=1e-12
    )
    rgb = rng.uniform(0, 255, size=(1, 3, 5, 6))
    np.testing.assert_allclose(rgb_to_y(torch.from_numpy(rgb))[0, 0].numpy(), np_y(rgb[0].transpose(1, 2, 0)))


# -------------------------------------------------------------------------------------------- state
def test_reset_clears_state() -> None:
    rng = np.random.default_rng(7)
    first, second = noisy_pair(rng, noise=0.3), noisy_pair(rng, noise=0.01)
    metric = SRMetrics(crop_border=0)
    metric.update(to_tensor(first[0]), to_tensor(first[1]))
    metric.reset()
    assert metric.per_image() == []
    with pytest.raises(SISRError, match="before any image"), pytest.warns(UserWarning):
        metric.compute()
    metric.update(to_tensor(second[0]), to_tensor(second[1]))
    assert_rows_match(metric.per_image(), [np_scores(*second, 0)])
    assert int(metric.compute()["count"]) == 1


def test_states_merge_like_a_distributed_sync() -> None:
    # merge_state applies each state's dist_reduce_fx, as the DDP sync does.
    rng = np.random.default_rng(8)
    pairs = [noisy_pair(rng, noise=0.02 * (i + 1)) for i in range(3)]
    rank0, rank1 = SRMetrics(crop_border=1), SRMetrics(crop_border=1)
    rank0.update(to_tensor(pairs[0][0]), to_tensor(pairs[0][1]))
    for sr, hr in pairs[1:]:
        rank1.update(to_tensor(sr), to_tensor(hr))
    rank0.merge_state(rank1)
    result = rank0.compute()
    assert int(result["count"]) == 3
    assert float(result["ssim"]) == pytest.approx(np.mean([np_scores(s, h, 1)["ssim"] for s, h in pairs]), abs=1e-9)


def test_bad_input_raises_one_clear_error() -> None:
    metric = SRMetrics(crop_border=2)
    with pytest.raises(SISRError, match="same shape"):
        metric.update(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 18))
    with pytest.raises(SISRError, match="is_gray"):
        metric.update(torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), is_gray=[True])
    with pytest.raises(SISRError, match="at least 11x11"):
        metric.update(torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12))
    with pytest.raises(SISRError, match="crop_border"):
        SRMetrics(crop_border=-1)


# ------------------------------------------------------------------------------------------ benchmark
def test_metrics_speed_benchmark_runs_and_agrees(shared_data_dir: Path, tmp_path: Path) -> None:
    from benchmarks.speed.metrics_speed import main

    threads = torch.get_num_threads()
    out = tmp_path / "metrics_speed.json"
    try:  # Set14's first 3 images include img_003, the gray one
        args = ["--data-dir", str(shared_data_dir), "--limit", "3", "--repeats", "1", "--threads", "1"]
        result = main([*args, "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    assert json.loads(out.read_text()) == result
    assert result["num_images"] == 3 and result["num_gray"] == 1 and result["max_abs_difference"] <= 1e-6
    assert result["srmetrics_seconds"] > 0 and result["numpy_seconds"] > 0
    for key in ("psnr", "ssim", "psnr_rgb"):
        assert result["mean_scores"]["srmetrics"][key] == pytest.approx(result["mean_scores"]["numpy"][key], abs=1e-6)
