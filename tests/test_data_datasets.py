"""Cache and datasets: aligned crops, identical augmentation, worker seeding, sub-images, bad sizes."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from filelock import FileLock
from PIL import Image
from torch.utils.data import DataLoader

from sisr.data import cache as cache_module
from sisr.data.cache import build_cache, subimage_positions
from sisr.data.datasets import SREvalDataset, SRTrainDataset
from sisr.protocol.imresize import bicubic_degrade
from sisr.data.layouts import find_pairs
from sisr.plumbing.errors import SISRError
from tests.conftest import HANG_GUARD

SCALE = 2


def _coordinate_pair(folder: Path, name: str, lr_h: int, lr_w: int) -> None:
    """HR/ + LR_bicubic/X2/ files whose pixels encode their LR coordinates, so alignment can be checked."""
    ys, xs = np.mgrid[0:lr_h, 0:lr_w]
    lr = np.stack([ys, xs, np.full_like(ys, 7)], axis=2).astype(np.uint8)
    hr = np.repeat(np.repeat(lr, SCALE, axis=0), SCALE, axis=1)  # each LR pixel is an s x s HR block
    (folder / "HR").mkdir(parents=True, exist_ok=True)
    (folder / "LR_bicubic" / f"X{SCALE}").mkdir(parents=True, exist_ok=True)
    Image.fromarray(hr).save(folder / "HR" / f"{name}.png")
    Image.fromarray(lr).save(folder / "LR_bicubic" / f"X{SCALE}" / f"{name}x{SCALE}.png")


@pytest.fixture
def coord_entries(tmp_path):
    folder = tmp_path / "coords"
    _coordinate_pair(folder, "a", 40, 50)
    _coordinate_pair(folder, "b", 30, 36)
    return build_cache(find_pairs(folder, SCALE), SCALE, tmp_path / "cache")


def _to_uint8(t: torch.Tensor) -> np.ndarray:
    return (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _orientation(lr: np.ndarray) -> tuple:
    """Which axis the y-coordinate channel runs along, and the directions of both coordinate channels."""
    ys, xs = lr[:, :, 0].astype(int), lr[:, :, 1].astype(int)
    y_axis = 0 if ys[1, 0] != ys[0, 0] else 1
    y_sign = np.sign(ys[1, 0] - ys[0, 0]) if y_axis == 0 else np.sign(ys[0, 1] - ys[0, 0])
    x_sign = np.sign(xs[0, 1] - xs[0, 0]) if y_axis == 0 else np.sign(xs[1, 0] - xs[0, 0])
    return y_axis, y_sign, x_sign


@pytest.mark.parametrize("augment", [False, True])
def test_patches_are_aligned_and_identically_augmented(coord_entries, augment):
    dataset = SRTrainDataset(coord_entries, SCALE, patch_size=16, repeat=40, augment=augment)
    assert len(dataset) == 2 * 40
    orientations = set()
    for i in range(len(dataset)):
        sample = dataset[i]
        assert set(sample) == {"lr", "hr", "name"}
        assert sample["lr"].shape == (3, 8, 8) and sample["hr"].shape == (3, 16, 16)
        assert sample["lr"].dtype == torch.float32 and 0 <= sample["lr"].min() and sample["hr"].max() <= 1
        assert sample["name"] == ("a", "b")[i % 2]
        lr, hr = _to_uint8(sample["lr"]), _to_uint8(sample["hr"])
        # HR patch is exactly the s x s blow-up of the LR patch: same position, same flip/rotation
        np.testing.assert_array_equal(hr, np.repeat(np.repeat(lr, SCALE, axis=0), SCALE, axis=1))
        orientations.add(_orientation(lr))
    assert len(orientations) == (8 if augment else 1)
    if not augment:
        assert orientations == {(0, 1, 1)}


def test_crops_cover_the_whole_image(coord_entries):
    dataset = SRTrainDataset(coord_entries[:1], SCALE, patch_size=16, repeat=400, augment=False)
    tops = {int(round(dataset[i]["lr"][0, 0, 0].item() * 255)) for i in range(len(dataset))}
    assert min(tops) == 0 and max(tops) == 40 - 8  # every valid top row 0..h-patch is reachable


def _first_batches(loader: DataLoader, count: int) -> list[torch.Tensor]:
    batches = []
    for batch in loader:
        batches.append(batch["lr"])
        if len(batches) == count:
            break
    return batches


def test_patches_are_a_pure_function_of_seed_and_sample_number(coord_entries):
    # Whichever worker makes a sample, and whatever the global RNG says, sample k of seed s is the same patch:
    # that is what lets a resumed run draw exactly the batches of an uninterrupted one.
    dataset = SRTrainDataset(coord_entries[:1], SCALE, patch_size=16, repeat=8, augment=True, seed=7)
    torch.manual_seed(123)
    through_workers = _first_batches(DataLoader(dataset, batch_size=2, num_workers=2), 4)
    torch.manual_seed(456)
    direct = [torch.stack([dataset[2 * b]["lr"], dataset[2 * b + 1]["lr"]]) for b in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(through_workers, direct))
    assert not torch.equal(direct[0][0], direct[0][1])  # different samples, different crops
    other_seed = SRTrainDataset(coord_entries[:1], SCALE, patch_size=16, repeat=8, augment=True, seed=8)
    assert not all(torch.equal(other_seed[k]["lr"], dataset[k]["lr"]) for k in range(8))
    assert not torch.equal(dataset[3]["lr"], dataset[3 + len(dataset)]["lr"])  # the same index in the next epoch


def test_hr_smaller_than_patch_names_file_and_sizes(coord_entries):
    with pytest.raises(SISRError) as info:
        SRTrainDataset(coord_entries, SCALE, patch_size=64)
    message = str(info.value)
    assert "b.png" in message and "72x60" in message and "64x64" in message


def test_patch_not_divisible_by_scale_is_refused(coord_entries):
    with pytest.raises(SISRError, match="not divisible"):
        SRTrainDataset(coord_entries, SCALE, patch_size=15)


def test_lr_hr_size_mismatch_names_both_files_and_sizes(tmp_path):
    folder = tmp_path / "bad"
    _coordinate_pair(folder, "a", 10, 12)
    Image.fromarray(np.zeros((9, 12, 3), np.uint8)).save(folder / "LR_bicubic" / "X2" / "ax2.png")
    with pytest.raises(SISRError) as info:
        build_cache(find_pairs(folder, SCALE), SCALE, tmp_path / "cache")
    message = str(info.value)
    assert "ax2.png is 12x9" in message and "a.png is 24x20" in message and "2 times" in message


def test_hr_is_mod_cropped_and_lr_generated_once_at_build(tmp_path, monkeypatch):
    folder = tmp_path / "plain"
    folder.mkdir()
    hr = np.random.default_rng(0).integers(0, 256, (27, 34, 3), dtype=np.uint8)
    Image.fromarray(hr).save(folder / "x.png")
    calls = []
    original = cache_module.bicubic_degrade
    monkeypatch.setattr(cache_module, "bicubic_degrade", lambda *a: calls.append(1) or original(*a))

    (entry,) = build_cache(find_pairs(folder, 4), 4, tmp_path / "cache")
    lr_map, hr_map = entry.load()
    assert isinstance(lr_map, np.memmap) and isinstance(hr_map, np.memmap)
    np.testing.assert_array_equal(hr_map, hr[:24, :32])
    np.testing.assert_array_equal(lr_map, bicubic_degrade(hr[:24, :32], 4))
    assert entry.hr_size == (24, 32) and entry.is_gray is False and entry.lr_source is None

    dataset = SRTrainDataset([entry], 4, patch_size=16, repeat=5)
    for i in range(len(dataset)):
        dataset[i]
    build_cache(find_pairs(folder, 4), 4, tmp_path / "cache")  # reused, not rebuilt
    assert len(calls) == 1

    os.utime(folder / "x.png", ns=(1, 1))  # the source changed: a new entry is built
    build_cache(find_pairs(folder, 4), 4, tmp_path / "cache")
    assert len(calls) == 2
    build_cache(find_pairs(folder, 2), 2, tmp_path / "cache")  # another scale: another entry
    assert len(calls) == 3


def test_subimage_positions_follow_extract_subimages():
    assert subimage_positions(1000, 480, 240) == [0, 240, 480, 520]
    assert subimage_positions(960, 480, 240) == [0, 240, 480]
    assert subimage_positions(400, 480, 240) == []


def test_subimages_are_cut_aligned_and_sampled(tmp_path):
    folder = tmp_path / "coords"
    _coordinate_pair(folder, "a", 30, 50)  # HR 60 x 100
    (entry,) = build_cache(find_pairs(folder, SCALE), SCALE, tmp_path / "cache", subimage_size=40, subimage_step=20)
    lr, hr = entry.load()
    assert entry.subimages == 2 * 4 and hr.shape == (8, 40, 40, 3) and lr.shape == (8, 20, 20, 3)
    assert entry.hr_size == (40, 40)
    np.testing.assert_array_equal(hr, np.repeat(np.repeat(lr, SCALE, axis=1), SCALE, axis=2))
    assert lr[1, 0, 0, :2].tolist() == [0, 10] and lr[7, 0, 0, :2].tolist() == [10, 30]
    dataset = SRTrainDataset([entry], SCALE, patch_size=16, repeat=2)
    assert len(dataset) == 16
    sample = dataset[3]
    assert sample["hr"].shape == (3, 16, 16)
    with pytest.raises(SISRError, match="multiples of the scale"):
        build_cache(find_pairs(folder, 3), 3, tmp_path / "cache", subimage_size=40)
    with pytest.raises(SISRError, match="smaller than the 80x80 sub-images"):
        build_cache(find_pairs(folder, SCALE), SCALE, tmp_path / "cache", subimage_size=80)


def test_eval_dataset_returns_whole_images_with_gray_flag(tmp_path):
    folder = tmp_path / "eval"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)).save(folder / "c.png")
    Image.fromarray(rng.integers(0, 256, (20, 12), dtype=np.uint8)).save(folder / "g.png")
    entries = build_cache(find_pairs(folder, 4), 4, tmp_path / "cache")
    dataset = SREvalDataset(entries)
    assert len(dataset) == 2 and len(SREvalDataset(entries, max_images=1)) == 1
    color, gray = dataset[0], dataset[1]
    assert color["hr"].shape == (3, 16, 12) and color["lr"].shape == (3, 4, 3) and color["is_gray"] is False
    assert gray["name"] == "g" and gray["is_gray"] is True and gray["hr"].shape == (3, 20, 12)
    assert torch.equal(gray["hr"][0], gray["hr"][2])
    batch = next(iter(DataLoader(dataset, batch_size=1)))
    assert batch["name"] == ["c"] and batch["is_gray"].tolist() == [False]


def test_eval_image_smaller_than_crop_plus_ssim_window_names_the_file(tmp_path):
    folder = tmp_path / "eval"
    folder.mkdir()
    Image.fromarray(np.zeros((14, 30, 3), np.uint8)).save(folder / "thin.png")
    entries = build_cache(find_pairs(folder, SCALE), SCALE, tmp_path / "cache")
    SREvalDataset(entries, crop_border=1)  # 14 >= 1 + 11 + 1
    with pytest.raises(SISRError) as info:
        SREvalDataset(entries, crop_border=2)
    assert str(info.value) == (
        f"Evaluation image {folder / 'thin.png'} is 30x14, too small to score: PSNR and SSIM crop 2 pixels "
        "(data.scale) from every side and SSIM needs an 11x11 window, so each side must be at least 15 pixels; remove "
        "the image from the evaluation set."
    )


def test_an_entry_built_by_another_process_while_waiting_is_reused(tmp_path, monkeypatch):
    """The lock is re-checked: a process that waited for another's build reads that entry instead of rebuilding."""
    folder = tmp_path / "coords"
    _coordinate_pair(folder, "a", 10, 12)
    (pair,) = find_pairs(folder, SCALE)
    calls = []
    original = cache_module._make_arrays
    monkeypatch.setattr(cache_module, "_make_arrays", lambda *a: calls.append(1) or original(*a))
    entries_dir = tmp_path / "cache" / f"x{SCALE}"
    entries_dir.mkdir(parents=True)
    stem = f"a-{cache_module.cache_key(pair, SCALE, None)}"
    with ThreadPoolExecutor(1) as pool:
        with FileLock(entries_dir / f".{stem}.lock"):  # "the other process" holds the lock...
            waiting = pool.submit(build_cache, [pair], SCALE, tmp_path / "cache")
            time.sleep(0.3)
            assert not waiting.done()  # ...so this build waits for it
            cache_module._build_entry(pair, SCALE, entries_dir, stem, None)  # ...and finishes the entry
            calls.clear()
        (entry,) = waiting.result(timeout=HANG_GUARD)
    assert calls == [] and entry.hr_size == (20, 24)
    names = sorted(p.name for p in entries_dir.iterdir())
    assert names == [f".{stem}.lock", f"{stem}.hr.npy", f"{stem}.json", f"{stem}.lr.npy"]  # no temp files left
