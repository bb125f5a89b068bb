"""Metric computation speed: ``sisr.protocol.metrics.SRMetrics`` against a straightforward per-image numpy implementation.

Both score the same outputs (MATLAB-bicubic upscaling of the Set14 x4 LR images) with the same protocol
(uint8 quantisation, BT.601 Y or gray intensity, crop = scale, PSNR, 11x11 Gaussian valid-region SSIM),
one after the other in the same run; the numbers must agree within 1e-6 before any time is reported.
Time is the best of ``--repeats`` passes over all images; the ratio is numpy time / SRMetrics time.

Usage::

    python -m benchmarks.speed.metrics_speed [--data-dir DIR] [--set Set14] [--scale 4] [--repeats 5] [--threads N]
                                             [--output FILE]

Prints machine information and a small table, and writes them to ``logs/benchmarks/speed/metrics_speed.json`` under
the project root (``--output benchmarks/results/metrics_speed.json`` updates a checkout's reference copy on purpose).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from benchmarks.speed.machine import machine_info
from sisr.protocol.imresize import bicubic_upscale
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import write_json
from sisr.protocol.metrics import SRMetrics
from sisr.plumbing.paths import log_dir, shared_data_root

AGREEMENT = 1e-6  # largest allowed difference between the two implementations, per image and score
SCORES = ("psnr", "ssim", "psnr_rgb")


@dataclass(frozen=True)
class Pair:
    """One scored image: SR output and HR reference as (H, W, 3) float32 in [0, 1].

    Args:
        name: file stem of the HR image.
        sr: the SR output.
        hr: the HR reference.
        is_gray: whether the source file is grayscale (PNG mode L).
    """

    name: str
    sr: np.ndarray
    hr: np.ndarray
    is_gray: bool


def default_data_dir() -> Path:
    """``$SISR_DATA_DIR`` if set, else ``<repo>/../shared/data``."""
    return shared_data_root()


def load_pairs(data_dir: Path, set_name: str = "Set14", scale: int = 4, limit: int | None = None) -> list[Pair]:
    """HR images of a benchmark set and their MATLAB-bicubic upscaled LR images.

    Args:
        data_dir: folder holding ``benchmark/<set>/image_SRF_<scale>/``.
        set_name: benchmark set.
        scale: SR factor.
        limit: keep only the first ``limit`` images.
    """
    folder = Path(data_dir) / "benchmark" / set_name / f"image_SRF_{scale}"
    hr_paths = sorted(folder.glob("*_HR.png"))[:limit]
    if not hr_paths:
        raise SISRError(f"no *_HR.png files in {folder}; pass --data-dir pointing at the folder holding benchmark/.")
    pairs = []
    for hr_path in hr_paths:
        hr_image = Image.open(hr_path)
        is_gray = hr_image.mode == "L"
        hr = np.asarray(hr_image.convert("RGB"))
        lr = np.asarray(Image.open(hr_path.with_name(hr_path.name.replace("_HR", "_LR"))).convert("RGB"))
        sr = bicubic_upscale(lr, scale)
        pairs.append(Pair(hr_path.stem, (sr / 255.0).astype(np.float32), (hr / 255.0).astype(np.float32), is_gray))
    return pairs


# ------------------------------------------------------------------------------------- the numpy baseline
def _gaussian_window() -> np.ndarray:
    offsets = np.arange(11) - 5  # 11 taps centred on 0
    window = np.exp(-(offsets**2) / (2 * 1.5**2))  # sigma 1.5
    return window / window.sum()


def _blur_valid(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter of a 2-D array, 'valid' region only."""
    rows = sliding_window_view(img, window.size, axis=0) @ window
    return sliding_window_view(rows, window.size, axis=1) @ window


def numpy_scores(pair: Pair, crop: int) -> dict[str, float]:
    """The protocol for one image in plain numpy float64."""
    sr = np.floor(np.clip(pair.sr.astype(np.float64) * 255.0, 0, 255) + 0.5)
    hr = np.floor(np.clip(pair.hr.astype(np.float64) * 255.0, 0, 255) + 0.5)
    if crop:
        sr, hr = sr[crop:-crop, crop:-crop], hr[crop:-crop, crop:-crop]
    if pair.is_gray:
        a, b = sr[..., 0], hr[..., 0]
    else:
        luma = np.array([65.481, 128.553, 24.966]) / 255.0
        a, b = 16.0 + sr @ luma, 16.0 + hr @ luma
    window = _gaussian_window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_a, mu_b = _blur_valid(a, window), _blur_valid(b, window)
    var_a = _blur_valid(a * a, window) - mu_a**2
    var_b = _blur_valid(b * b, window) - mu_b**2
    cov = _blur_valid(a * b, window) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return {
        "psnr": float(10 * np.log10(255.0**2 / np.mean((a - b) ** 2))),
        "ssim": float(ssim_map.mean()),
        "psnr_rgb": float(10 * np.log10(255.0**2 / np.mean((sr - hr) ** 2))),
    }


# ---------------------------------------------------------------------------------------------- timing
def _batch(hwc: np.ndarray) -> torch.Tensor:
    """(H, W, 3) array -> (1, 3, H, W) tensor."""
    return torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1))).unsqueeze(0)


def _srmetrics_scores(inputs: list[tuple[torch.Tensor, torch.Tensor, bool]], crop: int) -> list[dict[str, float]]:
    metric = SRMetrics(crop_border=crop)
    for sr, hr, is_gray in inputs:
        metric.update(sr, hr, is_gray=[is_gray])
    metric.compute()
    return metric.per_image()


def _best_time(fn: Callable[[], list[dict[str, float]]], repeats: int) -> tuple[float, list[dict[str, float]]]:
    """(best wall time in seconds, last result) over ``repeats`` calls."""
    best, result = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare(pairs: list[Pair], crop: int, repeats: int = 5) -> dict:
    """Time both implementations on ``pairs`` and check that they agree.

    Args:
        pairs: images to score.
        crop: border crop (the scale).
        repeats: timed passes per implementation; the best is kept.

    Returns:
        Seconds per pass for each, their ratio, the largest disagreement and the mean scores.
    """
    inputs = [(_batch(p.sr), _batch(p.hr), p.is_gray) for p in pairs]
    _srmetrics_scores(inputs[:1], crop)  # warm-up: first-call allocations and kernel selection
    torch_seconds, torch_rows = _best_time(lambda: _srmetrics_scores(inputs, crop), repeats)
    numpy_seconds, numpy_rows = _best_time(lambda: [numpy_scores(p, crop) for p in pairs], repeats)
    difference = max(abs(t[k] - n[k]) for t, n in zip(torch_rows, numpy_rows) for k in SCORES)
    if not difference <= AGREEMENT:
        raise RuntimeError(f"SRMetrics and the numpy baseline differ by {difference:.3g} (> {AGREEMENT}).")
    return {
        "num_images": len(pairs),
        "num_gray": sum(p.is_gray for p in pairs),
        "srmetrics_seconds": torch_seconds,
        "numpy_seconds": numpy_seconds,
        "ratio_numpy_over_srmetrics": numpy_seconds / torch_seconds,
        "max_abs_difference": difference,
        "mean_scores": {
            name: {k: float(np.mean([row[k] for row in rows])) for k in SCORES}
            for name, rows in (("srmetrics", torch_rows), ("numpy", numpy_rows))
        },
    }


def main(argv: list[str] | None = None) -> dict:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="folder holding benchmark/ (default: shared data)")
    parser.add_argument("--set", dest="set_name", default="Set14")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N images")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--output", "--out", dest="output", type=Path, default=None,
                        help="result file (default: logs/benchmarks/speed/metrics_speed.json)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pairs = load_pairs(args.data_dir or default_data_dir(), args.set_name, args.scale, args.limit)
    result = {
        "benchmark": "metrics_speed",
        "machine": machine_info(),
        "settings": {"set": args.set_name, "scale": args.scale, "repeats": args.repeats},
        **compare(pairs, crop=args.scale, repeats=args.repeats),
    }
    print(json.dumps(result["machine"], indent=2))
    print(f"{args.set_name} x{args.scale}, {result['num_images']} images, best of {args.repeats}")
    print("| implementation | seconds | PSNR | SSIM |\n|---|---|---|---|")
    for name, label in (("srmetrics", "SRMetrics (torch)"), ("numpy", "numpy per image")):
        means = result["mean_scores"][name]
        print(f"| {label} | {result[name + '_seconds']:.4f} | {means['psnr']:.4f} | {means['ssim']:.4f} |")
    print(f"ratio numpy / SRMetrics: {result['ratio_numpy_over_srmetrics']:.2f}x "
          f"(max difference {result['max_abs_difference']:.2e})")
    output = args.output or log_dir() / "benchmarks" / "speed" / "metrics_speed.json"
    write_json(output, result)
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
