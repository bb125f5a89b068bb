"""Image loading: every odd image kind becomes uint8 RGB consistently; bad files are named or skipped."""

from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from sisr.data.cache import build_cache
from sisr.data.images import UnreadableImageError, load_image, sixteen_to_eight
from sisr.data.layouts import find_pairs
from sisr.plumbing.errors import SISRError
from tests.conftest import huge_png

RNG = np.random.default_rng(0)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png_filter(raw: np.ndarray, prior: np.ndarray, kind: int, bpp: int) -> np.ndarray:
    """Forward PNG filter of one scanline (the encoder side), vectorised over the original bytes."""
    raw, prior = raw.astype(np.int32), prior.astype(np.int32)
    left = np.concatenate([np.zeros(bpp, np.int32), raw[:-bpp]])
    upper_left = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
    if kind == 0:
        pred = np.zeros_like(raw)
    elif kind == 1:
        pred = left
    elif kind == 2:
        pred = prior
    elif kind == 3:
        pred = (left + prior) // 2
    else:
        p = left + prior - upper_left
        pa, pb, pc = np.abs(p - left), np.abs(p - prior), np.abs(p - upper_left)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upper_left))
    return ((raw - pred) % 256).astype(np.uint8)


def _write_png16(path: Path, samples: np.ndarray) -> Path:
    """A 16-bit PNG (gray, RGB or RGBA) whose rows use every filter type in turn."""
    height, width, channels = samples.shape
    rows = samples.astype(">u2").reshape(height, -1).view(np.uint8)
    bpp = 2 * channels
    body, prior = b"", np.zeros(rows.shape[1], np.uint8)
    for y in range(height):
        kind = y % 5
        body += bytes([kind]) + _png_filter(rows[y], prior, kind, bpp).tobytes()
        prior = rows[y]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    colour = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack(">IIBBBBB", width, height, 16, colour, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")
    )
    return path


def test_rgb_png_round_trips(tmp_path):
    rgb = _rgb()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert loaded.array.dtype == np.uint8 and loaded.array.shape == (12, 16, 3)
    np.testing.assert_array_equal(loaded.array, rgb)
    assert loaded.is_gray is False


@pytest.mark.parametrize("mode", ["L", "1", "LA"])
def test_grayscale_is_replicated_and_flagged(tmp_path, mode):
    gray = RNG.integers(0, 256, (10, 7), dtype=np.uint8)
    image = Image.fromarray(gray).convert(mode)
    image.save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    expected = np.asarray(image.convert("L"))
    assert loaded.is_gray is True
    for channel in range(3):
        np.testing.assert_array_equal(loaded.array[:, :, channel], expected)


def test_rgba_drops_alpha_keeping_colours(tmp_path):
    rgba = np.concatenate([_rgb(), RNG.integers(0, 256, (12, 16, 1), dtype=np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    np.testing.assert_array_equal(loaded.array, rgba[:, :, :3])
    assert loaded.is_gray is False


def test_palette_expands_to_its_colours(tmp_path):
    image = Image.fromarray(_rgb()).quantize(colors=16)
    image.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    loaded = load_image(tmp_path / "p.png")
    np.testing.assert_array_equal(loaded.array, np.asarray(image.convert("RGB")))
    assert loaded.is_gray is False


def test_palette_with_transparency(tmp_path):
    image = Image.fromarray(_rgb()).quantize(colors=8)
    image.info["transparency"] = 0
    image.save(tmp_path / "pt.png", transparency=0)
    loaded = load_image(tmp_path / "pt.png")
    np.testing.assert_array_equal(loaded.array, np.asarray(image.convert("RGB")))


def test_sixteen_to_eight_keeps_the_high_byte():
    values = np.array([0, 255, 256, 511, 33024, 65280, 65535], dtype=np.uint16)
    np.testing.assert_array_equal(sixteen_to_eight(values), [0, 0, 1, 1, 129, 255, 255])


def test_sixteen_bit_gray_png(tmp_path):
    samples = RNG.integers(0, 65536, (9, 11, 1), dtype=np.uint16)
    _write_png16(tmp_path / "g16.png", samples)
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    loaded = load_image(tmp_path / "g16.png")
    assert loaded.is_gray is True
    expected = (samples[:, :, 0] >> 8).astype(np.uint8)
    for channel in range(3):
        np.testing.assert_array_equal(loaded.array[:, :, channel], expected)


@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_colour_png_uses_the_same_rule_as_gray(tmp_path, channels):
    samples = RNG.integers(0, 65536, (10, 13, channels), dtype=np.uint16)
    samples[0, 0, :3] = [33024, 65535, 0]
    _write_png16(tmp_path / "c16.png", samples)  # rows cycle through all five PNG filters
    loaded = load_image(tmp_path / "c16.png")
    np.testing.assert_array_equal(loaded.array, (samples[:, :, :3] >> 8).astype(np.uint8))
    assert loaded.array[0, 0].tolist() == [129, 255, 0]
    assert loaded.is_gray is False


def test_sixteen_bit_colour_tiff(tmp_path):
    samples = RNG.integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c16.tif", samples, photometric="rgb")
    loaded = load_image(tmp_path / "c16.tif")
    np.testing.assert_array_equal(loaded.array, (samples >> 8).astype(np.uint8))


def test_eight_bit_tiff_and_jpeg_are_plain_rgb(tmp_path):
    rgb = _rgb()
    Image.fromarray(rgb).save(tmp_path / "a.tif")
    np.testing.assert_array_equal(load_image(tmp_path / "a.tif").array, rgb)
    Image.fromarray(rgb).save(tmp_path / "a.jpg")
    assert load_image(tmp_path / "a.jpg").array.shape == (12, 16, 3)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_image_error_names_the_file(tmp_path, damage):
    path = tmp_path / "bad.png"
    Image.fromarray(_rgb(64, 64)).save(path)
    payload = path.read_bytes()
    path.write_bytes({"truncated": payload[: len(payload) // 2], "garbage": b"not an image", "empty": b""}[damage])
    with pytest.raises(UnreadableImageError) as info:
        load_image(path)
    assert isinstance(info.value, SISRError)
    assert str(path) in str(info.value) and "skip_bad" not in str(info.value)  # only where the setting applies
    assert info.value.path == path


def test_missing_file_error_names_it(tmp_path):
    with pytest.raises(SISRError, match="missing.png does not exist"):
        load_image(tmp_path / "missing.png")


def test_skip_bad_skips_warns_and_logs_one_summary(tmp_path, caplog):
    folder = tmp_path / "set"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(_rgb(16, 16)).save(folder / f"good{i}.png")
    (folder / "bad1.png").write_bytes(b"junk")
    (folder / "bad2.png").write_bytes((folder / "good0.png").read_bytes()[:60])
    pairs = find_pairs(folder, 2)

    with pytest.raises(SISRError, match=r"bad1.png .*replace or delete it, or set data.skip_bad=true to skip"):
        build_cache(pairs, 2, tmp_path / "cache_strict", threads=1)

    with caplog.at_level(logging.WARNING, logger="sisr.data.images"):
        with pytest.warns(UserWarning, match="Skipping unreadable image") as warned:
            entries = build_cache(pairs, 2, tmp_path / "cache", skip_bad=True, context="toy")
    assert sorted(e.name for e in entries) == ["good0", "good1", "good2"]
    assert sorted(Path(str(w.message).split()[3].rstrip(":")).name for w in warned) == ["bad1.png", "bad2.png"]
    summaries = [r for r in caplog.records if "Skipped" in r.getMessage()]
    assert len(summaries) == 1
    assert "Skipped 2 of 5 images in toy" in summaries[0].getMessage()


def test_an_image_over_the_pixel_limit_is_one_sentence_and_skip_bad_skips_it(tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    huge_png(folder / "huge.png")  # 14000 x 14000
    Image.fromarray(_rgb(16, 16)).save(folder / "good.png")
    with pytest.raises(SISRError, match=r"huge.png is too large to read \(196,000,000 pixels; the limit is 178,956,970"):
        load_image(folder / "huge.png")
    pairs = find_pairs(folder, 2)
    with pytest.raises(SISRError, match="huge.png is too large to read"):
        build_cache(pairs, 2, tmp_path / "strict", threads=1)
    with pytest.warns(UserWarning, match="huge.png"):
        entries = build_cache(pairs, 2, tmp_path / "cache", skip_bad=True, threads=1)
    assert [entry.name for entry in entries] == ["good"]
