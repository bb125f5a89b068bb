"""Compute measurements: multiply-adds against hand counts and REFERENCE.md, the fresh-process worker."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from benchmarks.leaderboard.measure import CPU_MEMORY_METHOD, count_macs, measure_in_subprocess, resolve_device
from sisr.plumbing.errors import SISRError
from sisr.models.srcnn import SRCNN


def test_macs_of_one_conv_match_the_hand_count() -> None:
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    # Every output pixel of every output channel: 3 input channels x 3x3 taps.
    assert count_macs(conv, torch.rand(1, 3, 16, 16)) == 3 * 8 * 9 * 16 * 16


def test_srcnn_955_costs_about_57k_macs_per_hr_pixel() -> None:
    model = SRCNN(in_channels=1, mid_kernel_size=5, scale=3)
    lr = torch.rand(1, 3, 20, 20)
    hr_pixels = (20 * 3) ** 2
    # Its three convolutions, by hand: 1*64*81 + 64*32*25 + 32*1*25 per HR pixel.
    assert count_macs(model.body, torch.rand(1, 1, 60, 60)) == (64 * 81 + 64 * 32 * 25 + 32 * 25) * hr_pixels
    # The whole model also counts its bicubic upscaling and YCbCr conversion (small matrix products):
    # REFERENCE.md's "about 57 k multiply-adds per HR pixel".
    per_pixel = count_macs(model, lr) / hr_pixels
    assert 57_000 <= per_pixel <= 58_000


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SISRError, match="no CUDA device"):
        resolve_device("cuda")


def test_worker_measures_a_baseline_in_a_fresh_process(tmp_path: Path) -> None:
    spec = {
        "generator": {"_target_": "sisr.models.bicubic.Bicubic", "scale": 2},
        "input_size": [24, 32],
        "warmup": 1,
        "repeats": 2,
        "device": "cpu",
    }
    result = measure_in_subprocess(spec, tmp_path)
    from sisr.models.bicubic import Bicubic

    assert result["parameters"] == 0
    assert result["macs"] == count_macs(Bicubic(2), torch.rand(1, 3, 24, 32))
    assert result["input_size"] == [24, 32]
    assert result["memory_method"] == CPU_MEMORY_METHOD
    assert result["device"] == "cpu"
    assert "2 batch-1 forward passes after 1 warm-up" in result["latency_method"]
    # The output alone is 3 x 48 x 64 float32 values; the first pass must at least have allocated that.
    assert result["peak_memory_bytes"] >= 3 * 48 * 64 * 4


def test_worker_failure_is_reported_in_one_line(tmp_path: Path) -> None:
    spec = {"checkpoint": str(tmp_path / "missing.ckpt"), "input_size": [8, 8], "device": "cpu"}
    with pytest.raises(SISRError, match="missing.ckpt does not exist"):
        measure_in_subprocess(spec, tmp_path)


def test_rrdbnet_x4_costs_about_294_g_macs_at_128x128() -> None:
    from sisr.models.rrdbnet import RRDBNet

    with torch.device("meta"):  # shapes only: FlopCounterMode counts without computing
        model = RRDBNet(scale=4)
        macs = count_macs(model, torch.empty(1, 3, 128, 128))
    assert macs / 1e9 == pytest.approx(294, rel=0.005)  # REFERENCE.md: "about 294 G multiply-adds"
