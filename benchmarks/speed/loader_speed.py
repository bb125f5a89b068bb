"""Training loader throughput: the decode-once memory-mapped cache against a naive decode-per-sample loader.

Both loaders serve the same images, patch size, scale, batch size and worker count, measured one after the
other in the same run. The naive loader opens and decodes the PNG for every sample, crops an aligned HR patch
and makes its LR with MATLAB bicubic (the patch only, its cheapest form); the cached loader reads patches from
``.npy`` memory maps built once beforehand. The one-off cache build time is reported separately.

Usage::

    python -m benchmarks.speed.loader_speed [--images DIR] [--num-workers 2] [--batches 50] [--output FILE]

Prints machine information and the numbers, and writes them to ``logs/benchmarks/speed/loader_speed.json`` under the
project root (``--output benchmarks/results/loader_speed.json`` updates a checkout's reference copy on purpose).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from benchmarks.speed.machine import machine_info
from sisr.data.cache import build_cache, mod_crop
from sisr.data.datasets import SRTrainDataset
from sisr.protocol.imresize import bicubic_degrade
from sisr.data.images import load_image
from sisr.data.layouts import find_pairs
from sisr.data.transforms import random_dihedral, to_tensor
from sisr.plumbing.files import write_json
from sisr.plumbing.paths import log_dir, shared_data_root


def default_images() -> Path:
    """The shared Sun-Hays80 folder: ``$SISR_DATA_DIR/train/Sun-Hays80`` or ``<repo>/../shared/data/...``."""
    return shared_data_root() / "train" / "Sun-Hays80"


class NaivePatchDataset(Dataset):
    """The baseline: decode the image file on every access, then crop, degrade the patch and augment.

    Args:
        files: HR image files.
        scale: SR factor.
        patch_size: HR patch side (a multiple of ``scale``).
        length: number of samples per epoch.
    """

    def __init__(self, files: list[Path], scale: int, patch_size: int, length: int) -> None:
        self.files, self.scale, self.patch_size, self.length = files, scale, patch_size, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        path = self.files[index % len(self.files)]
        hr = mod_crop(load_image(path).array, self.scale)
        lr_patch = self.patch_size // self.scale
        top = int(torch.randint(0, hr.shape[0] // self.scale - lr_patch + 1, ())) * self.scale
        left = int(torch.randint(0, hr.shape[1] // self.scale - lr_patch + 1, ())) * self.scale
        hr = hr[top : top + self.patch_size, left : left + self.patch_size]
        lr, hr = random_dihedral(bicubic_degrade(np.ascontiguousarray(hr), self.scale), hr)
        return {"lr": to_tensor(lr), "hr": to_tensor(hr), "name": path.stem}


def _patches_per_second(dataset: Dataset, batch_size: int, num_workers: int, batches: int, warmup: int) -> float:
    """Patches per second over ``batches`` batches, after ``warmup`` batches (worker start-up excluded)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers, drop_last=True)
    iterator = iter(loader)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    elapsed = time.perf_counter() - start
    del iterator
    return batches * batch_size / elapsed


def measure(
    images: str | Path,
    *,
    scale: int = 4,
    patch_size: int = 96,
    batch_size: int = 16,
    num_workers: int = 2,
    batches: int = 50,
    warmup: int = 5,
    cache_dir: str | Path | None = None,
    seed: int = 0,
) -> dict:
    """Measure both loaders on the images of ``images`` and return the results.

    Args:
        images: folder of HR images (any layout :func:`sisr.data.layouts.find_pairs` understands).
        scale: SR factor.
        patch_size: HR patch side.
        batch_size: patches per batch.
        num_workers: DataLoader workers for both loaders.
        batches: timed batches per loader.
        warmup: untimed batches first (worker start-up, first page faults).
        cache_dir: cache folder (None: a temporary folder, so the build time is a cold build).
        seed: torch seed for the crops.
    """
    torch.manual_seed(seed)
    pairs = find_pairs(images, scale)
    length = (warmup + batches + 1) * batch_size
    with tempfile.TemporaryDirectory(prefix="sisr-loader-speed-") as tmp:
        start = time.perf_counter()
        entries = build_cache(pairs, scale, cache_dir or tmp, context=Path(images).name)
        build_seconds = time.perf_counter() - start
        cached = SRTrainDataset(entries, scale, patch_size, repeat=math.ceil(length / len(entries)), augment=True)
        cached_rate = _patches_per_second(cached, batch_size, num_workers, batches, warmup)
        naive = NaivePatchDataset([p.hr for p in pairs], scale, patch_size, length)
        naive_rate = _patches_per_second(naive, batch_size, num_workers, batches, warmup)
    return {
        "benchmark": "loader_speed",
        "machine": machine_info(),
        "settings": {
            "images": str(images), "num_images": len(pairs), "scale": scale, "patch_size": patch_size,
            "batch_size": batch_size, "num_workers": num_workers, "batches": batches, "warmup": warmup,
        },
        "cache_build_seconds": build_seconds,
        "cached_patches_per_second": cached_rate,
        "naive_patches_per_second": naive_rate,
        "speedup": cached_rate / naive_rate,
    }


def main(argv: list[str] | None = None) -> dict:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=Path, default=None, help="folder of HR images (default: shared Sun-Hays80)")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--output", type=Path, default=None, help="result file (default: logs/benchmarks/speed/)")
    args = parser.parse_args(argv)
    images = args.images or default_images()
    if not images.is_dir():
        parser.error(f"image folder {images} does not exist; pass --images DIR or set SISR_DATA_DIR")
    result = measure(
        images, scale=args.scale, patch_size=args.patch_size, batch_size=args.batch_size,
        num_workers=args.num_workers, batches=args.batches, warmup=args.warmup,
    )
    print(json.dumps(result["machine"], indent=2))
    print(
        f"cache build (one-off): {result['cache_build_seconds']:.1f} s for {result['settings']['num_images']} images\n"
        f"cached loader: {result['cached_patches_per_second']:.0f} patches/s\n"
        f"naive loader:  {result['naive_patches_per_second']:.0f} patches/s\n"
        f"speedup: {result['speedup']:.1f}x"
    )
    output = args.output or log_dir() / "benchmarks" / "speed" / "loader_speed.json"
    write_json(output, result)
    print(f"wrote {output}")
    return result


if __name__ == "__main__":
    main()
