"""Layouts: DIV2K official, benchmark image_SRF_<s>, HR + LR_bicubic/X<s>, plain folders, named sets."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sisr.data.cache import build_cache
from sisr.data.images import load_image
from sisr.data.layouts import find_pairs, list_images, named_set_folder
from sisr.plumbing.errors import SISRError

RNG = np.random.default_rng(1)


def _png(path: Path, h: int = 8, w: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def test_div2k_official_layout(tmp_path):
    root = tmp_path / "DIV2K"
    for i in (1, 2, 10):
        _png(root / "DIV2K_train_HR" / f"{i:04d}.png", 16, 16)
    _png(root / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png", 4, 4)
    _png(root / "DIV2K_train_LR_bicubic" / "X4" / "0010x4.png", 4, 4)
    _png(root / "DIV2K_valid_HR" / "0801.png", 16, 16)

    pairs = find_pairs(root, 4, split="train")
    assert [p.name for p in pairs] == ["0001", "0002", "0010"]
    assert pairs[0].lr == root / "DIV2K_train_LR_bicubic" / "X4" / "0001x4.png"
    assert pairs[1].lr is None  # missing LR file: generated from HR
    assert [p.name for p in find_pairs(root, 4, split="valid")] == ["0801"]
    assert find_pairs(root / "DIV2K_train_HR", 4)[2].lr.name == "0010x4.png"  # the HR folder itself
    assert all(p.lr is None for p in find_pairs(root, 3, split="train"))  # no X3 folder
    with pytest.raises(SISRError, match="several DIV2K splits"):
        find_pairs(root, 4)


def test_benchmark_srf_layout(tmp_path):
    folder = tmp_path / "MySet"
    for i in (1, 2):
        _png(folder / "image_SRF_2" / f"img_{i:03d}_SRF_2_HR.png", 8, 8)
        _png(folder / "image_SRF_2" / f"img_{i:03d}_SRF_2_LR.png", 4, 4)
        _png(folder / "image_SRF_2" / f"img_{i:03d}_SRF_2_bicubic.png", 8, 8)  # other methods are ignored
    _png(folder / "image_SRF_3" / "img_001_SRF_3_HR.png", 9, 9)

    pairs = find_pairs(folder, 2)
    assert [(p.name, p.hr.name, p.lr.name) for p in pairs] == [
        ("img_001", "img_001_SRF_2_HR.png", "img_001_SRF_2_LR.png"),
        ("img_002", "img_002_SRF_2_HR.png", "img_002_SRF_2_LR.png"),
    ]
    assert find_pairs(folder / "image_SRF_2", 2) == pairs
    three = find_pairs(folder, 3)
    assert len(three) == 1 and three[0].lr is None
    with pytest.raises(SISRError, match=r"no image_SRF_4 folder \(it has scales 2, 3\)"):
        find_pairs(folder, 4)
    with pytest.raises(SISRError, match="scale 2, not 3"):
        find_pairs(folder / "image_SRF_2", 3)


def test_hr_and_lr_bicubic_layout(tmp_path):
    folder = tmp_path / "edsr"
    _png(folder / "HR" / "baby.png", 8, 8)
    _png(folder / "HR" / "bird.png", 8, 8)
    _png(folder / "LR_bicubic" / "X2" / "babyx2.png", 4, 4)
    _png(folder / "LR_bicubic" / "X2" / "bird.png", 4, 4)
    pairs = find_pairs(folder, 2)
    assert [(p.name, p.lr.name) for p in pairs] == [("baby", "babyx2.png"), ("bird", "bird.png")]
    assert all(p.lr is None for p in find_pairs(folder, 4))


def test_plain_folder_natural_order_and_non_images_reported(tmp_path, caplog):
    folder = tmp_path / "Set5"
    for name in ("img10.png", "img2.jpg", "img1.bmp"):
        _png(folder / name)
    (folder / "notes.txt").write_text("x")
    Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / "a.gif")
    (folder / "sub").mkdir()
    with caplog.at_level(logging.WARNING, logger="sisr.data.layouts"):
        pairs = find_pairs(folder, 2)
    assert [p.hr.name for p in pairs] == ["img1.bmp", "img2.jpg", "img10.png"]
    assert all(p.lr is None for p in pairs)
    assert [r.getMessage() for r in caplog.records] == [
        "Set5: skipped 2 files that are not images (.gif, .txt): a.gif, notes.txt"
    ]


def test_hidden_files_sidecars_and_temp_files_are_never_images(tmp_path, caplog):
    folder = tmp_path / "set"
    _png(folder / "a.png")
    (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # macOS AppleDouble sidecar
    (folder / ".DS_Store").write_bytes(b"\x00")
    (folder / ".motorcycle_left.1234.png").write_bytes((folder / "a.png").read_bytes()[:40])  # half-written
    (folder / ".a.png.k2j3.tmp").write_bytes(b"")  # sisr.plumbing.files.atomic_write in progress
    with caplog.at_level(logging.WARNING, logger="sisr.data.layouts"):
        pairs = find_pairs(folder, 2)
    assert [p.hr.name for p in pairs] == ["a.png"]
    assert list_images(folder) == [folder / "a.png"]
    assert caplog.records == []  # ignored, not reported


def test_benchmark_folder_reports_non_images_under_the_set_name(tmp_path, caplog):
    srf = tmp_path / "Set5" / "image_SRF_2"
    _png(srf / "img_001_SRF_2_HR.png", 8, 8)
    (srf / "Thumbs.db").write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="sisr.data.layouts"):
        find_pairs(tmp_path / "Set5", 2, context="MySet5")
    assert [r.getMessage() for r in caplog.records] == [
        "MySet5: skipped 1 file that is not an image (.db): Thumbs.db"
    ]


def test_long_lists_of_skipped_files_are_cut_short(tmp_path, caplog):
    _png(tmp_path / "a.png")
    for i in range(12):
        (tmp_path / f"n{i}.txt").write_text("x")
    with caplog.at_level(logging.WARNING, logger="sisr.data.layouts"):
        find_pairs(tmp_path, 2, context="toy")
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("toy: skipped 12 files that are not images (.txt): n0.txt, n1.txt, ")
    assert message.endswith("n9.txt and 2 more")


def test_folder_of_only_gifs_says_so(tmp_path):
    Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "anim.gif")
    with pytest.raises(SISRError) as info:
        find_pairs(tmp_path, 2)
    assert str(info.value) == (
        f"No images found in {tmp_path} for scale 2, only 1 file that is not an image (.gif): anim.gif; save the "
        "images as one of .png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp, .ppm, .pgm."
    )


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SISRError, match="No images found in .*empty"):
        find_pairs(tmp_path / "empty", 4)
    with pytest.raises(SISRError, match="does not exist"):
        find_pairs(tmp_path / "nope", 4)


def test_named_sets_resolve_under_the_root_and_other_names_are_paths(tmp_path):
    assert named_set_folder("Set5", tmp_path) == ("Set5", tmp_path / "benchmark" / "Set5")
    assert named_set_folder("bsd100", tmp_path) == ("BSD100", tmp_path / "benchmark" / "BSD100")
    assert named_set_folder("sun_hays80", tmp_path) == ("Sun-Hays80", tmp_path / "train" / "Sun-Hays80")
    assert named_set_folder(str(tmp_path / "mine"), tmp_path) is None  # a path: the datamodule reads the folder


@pytest.mark.parametrize("name,count", [("Set5", 5), ("Set14", 14), ("BSD100", 100)])
def test_shared_benchmark_sets(shared_data_dir, name, count):
    _, folder = named_set_folder(name, shared_data_dir)
    for scale in (2, 3, 4):
        pairs = find_pairs(folder, scale)
        assert len(pairs) == count
        assert all(p.lr is not None and p.lr.is_file() for p in pairs)


def test_shared_set14_has_a_grayscale_image(shared_data_dir):
    pairs = find_pairs(shared_data_dir / "benchmark" / "Set14", 4)
    gray = [p.name for p in pairs if load_image(p.hr).is_gray]
    assert gray == ["img_003"]


def test_shared_sun_hays80_is_a_plain_hr_folder(shared_data_dir):
    pairs = find_pairs(named_set_folder("sun_hays80", shared_data_dir)[1], 4)
    assert len(pairs) == 80 and all(p.lr is None for p in pairs)


def test_generated_lr_equals_the_provided_matlab_lr_on_set5(shared_data_dir, tmp_path):
    """A folder of Set5 HR images only gets LR bit-identical to the distributed MATLAB LR files."""
    scale = 3
    provided = find_pairs(shared_data_dir / "benchmark" / "Set5", scale)
    hr_only = tmp_path / "hr_only"
    hr_only.mkdir()
    for pair in provided:
        (hr_only / pair.hr.name).symlink_to(pair.hr)
    generated = build_cache(find_pairs(hr_only, scale), scale, tmp_path / "cache")
    assert len(generated) == 5
    for pair, entry in zip(provided, generated):
        lr, hr = entry.load()
        # uint8 against MATLAB's files: no pre-rounding value of Set5 x3 lies within 0.006 of a tie, far beyond the
        # ~1e-13 by which float64 kernels differ between CPUs, so this equality does not depend on the machine.
        np.testing.assert_array_equal(lr, load_image(pair.lr).array)
        np.testing.assert_array_equal(hr, load_image(pair.hr).array)


def test_dangling_and_looping_links_are_named_in_one_warning(tmp_path, caplog):
    folder = tmp_path / "set"
    _png(folder / "a.png")
    (folder / "b.png").symlink_to(folder / "a.png")  # a good link is an image
    (folder / "gone.png").symlink_to(tmp_path / "deleted.png")
    (folder / "loop1.png").symlink_to(folder / "loop2.png")
    (folder / "loop2.png").symlink_to(folder / "loop1.png")
    with caplog.at_level(logging.WARNING, logger="sisr.data.layouts"):
        pairs = find_pairs(folder, 2)
    assert [p.hr.name for p in pairs] == ["a.png", "b.png"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{folder}: skipped 3 broken link(s) (missing target or a loop): gone.png, loop1.png, loop2.png"
    ]
