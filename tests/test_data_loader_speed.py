"""Keeps benchmarks/speed/loader_speed.py working (no timing assertions: numbers come from the benchmark run)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from benchmarks.speed import loader_speed


def test_loader_speed_benchmark_runs_on_tiny_images(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(images / f"{i}.png")
    output = tmp_path / "out" / "loader_speed.json"

    result = loader_speed.main(
        ["--images", str(images), "--scale", "2", "--patch-size", "16", "--batch-size", "2", "--num-workers", "0",
         "--batches", "3", "--warmup", "1", "--output", str(output)]
    )

    saved = json.loads(output.read_text())
    assert saved == json.loads(json.dumps(result))
    assert saved["settings"]["num_images"] == 3 and saved["settings"]["patch_size"] == 16
    assert saved["machine"]["cpu_count"] >= 1
    for key in ("cache_build_seconds", "cached_patches_per_second", "naive_patches_per_second", "speedup"):
        assert saved[key] > 0
    assert saved["speedup"] == saved["cached_patches_per_second"] / saved["naive_patches_per_second"]


def test_naive_dataset_returns_aligned_shapes(tmp_path):
    path = tmp_path / "a.png"
    Image.fromarray(np.zeros((30, 41, 3), np.uint8)).save(path)
    sample = loader_speed.NaivePatchDataset([path], scale=3, patch_size=12, length=2)[1]
    assert sample["lr"].shape == (3, 4, 4) and sample["hr"].shape == (3, 12, 12) and sample["name"] == "a"
