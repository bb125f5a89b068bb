"""Tiling that holds on deep networks: the shipped overlap (measured on Real-ESRGAN x4plus) keeps tiled scores and
pixels at the untiled ones, for every model config and for the real 23-block weights."""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from benchmarks.published_weights import X4PLUS, realesrgan_ncnn_model
from sisr.core.upscaling import UpscaleSettings
from sisr.data.images import load_image
from sisr.data.transforms import to_tensor
from sisr.inference import tiling
from sisr.inference.tiling import TILED_ERROR_LEVELS, TILE_OVERLAP, super_resolve, tiled_forward
from sisr.protocol.metrics import psnr, rgb_to_y, to_uint8_range
from sisr.upscale import upscale
from tests.configs import tiny_overrides, trainable_models
from tests.conftest import CONF_DIR, REPO_ROOT

MEASURED = REPO_ROOT / "benchmarks" / "results" / "tile_overlap.json"


def y_psnr(sr: torch.Tensor, hr: torch.Tensor, scale: int) -> float:
    """The protocol's Y-PSNR of one image (uint8 levels, `scale` border pixels cropped)."""
    crop = lambda x: to_uint8_range(x)[..., scale:-scale, scale:-scale]  # noqa: E731
    return float(psnr(rgb_to_y(crop(sr)), rgb_to_y(crop(hr)))[0])


def test_the_shipped_overlap_is_the_measured_one_everywhere() -> None:
    measured = json.loads(MEASURED.read_text())
    assert measured["chosen_overlap"] == TILE_OVERLAP
    assert {int(k): v["max_levels"] for k, v in measured["by_overlap"].items()} == TILED_ERROR_LEVELS
    assert "realesrgan-x4plus" in measured["weights"]
    for config in ("eval", "upscale"):
        assert OmegaConf.load(CONF_DIR / f"{config}.yaml").tile_overlap == TILE_OVERLAP, config
    assert UpscaleSettings().tile_overlap == TILE_OVERLAP  # sisr.load's default (it was 16 while the configs said 64)


def test_sisr_load_defaults_are_the_upscale_commands_defaults() -> None:
    upscale_config = OmegaConf.load(CONF_DIR / "upscale.yaml")
    for field in fields(UpscaleSettings):
        assert getattr(UpscaleSettings(), field.name) == upscale_config[field.name], field.name


def test_a_smaller_overlap_says_once_what_deviation_to_expect(caplog: pytest.LogCaptureFixture) -> None:
    tiling._warned_overlaps.discard(16)
    model = lambda x: x.repeat_interleave(2, -1).repeat_interleave(2, -2)  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="sisr.inference.tiling"):
        for _ in range(3):
            tiled_forward(model, torch.rand(1, 3, 40, 40), 2, tile_size=16, tile_overlap=16)
        tiled_forward(model, torch.rand(1, 3, 40, 40), 2, tile_size=16)  # the default says nothing
    messages = [r.getMessage() for r in caplog.records if r.name == "sisr.inference.tiling"]
    assert len(messages) == 1
    assert f"tile_overlap=16 is below the measured default {TILE_OVERLAP}" in messages[0]
    assert f"up to {TILED_ERROR_LEVELS[16]:.0f} levels" in messages[0]


@pytest.mark.parametrize("name", trainable_models())
def test_tiled_scores_equal_untiled_scores_for_every_model_config(
    compose_train, shared_data_dir: Path, name: str, single_thread: None
) -> None:
    cfg = compose_train([f"model={name}", *tiny_overrides(name), "data.scale=4"])
    generator = instantiate(cfg.model.generator).eval()
    lr_file = shared_data_dir / "benchmark" / "Set5" / "image_SRF_4" / "img_001_SRF_4_LR.png"  # baby, 128x128 LR
    lr = to_tensor(load_image(lr_file).array)[None]
    hr = to_tensor(load_image(lr_file.with_name("img_001_SRF_4_HR.png")).array)[None]
    with torch.no_grad():
        whole = super_resolve(generator, lr, 4)
        tiled = super_resolve(generator, lr, 4, tile_size=32)  # eval's overlap default; 16 tiles, real cuts inside
    assert abs(y_psnr(tiled, hr, 4) - y_psnr(whole, hr, 4)) <= 0.005


def x4plus_tiled_and_whole(compose_train, lr: np.ndarray, tile: int, tmp_path: Path) -> dict[str, np.ndarray]:
    """`lr` upscaled by `sisr.upscale` with Real-ESRGAN x4plus (default overlap) in `tile`-px tiles and whole."""
    (tmp_path / "in").mkdir()
    Image.fromarray(lr).save(tmp_path / "in" / "image.png")
    param = realesrgan_ncnn_model(X4PLUS)
    outputs = {}
    for run, tile_size in (("tiled", tile), ("whole", max(lr.shape[:2]))):
        upscale(compose_train(["device=cpu", f"weights={param}", f"input={tmp_path / 'in'}", f"tile_size={tile_size}",
                               f"output={tmp_path / run}"], config_name="upscale", run=run))
        outputs[run] = np.asarray(Image.open(tmp_path / run / "image.png"), dtype=np.int16)
    assert outputs["tiled"].shape == (lr.shape[0] * 4, lr.shape[1] * 4, 3)
    return outputs


@pytest.mark.slow  # three tiles and one whole pass of the 23-block network on a 24x192 band
def test_real_x4plus_weights_tiled_as_shipped_stay_within_two_levels_and_0005_db(
    compose_train, shared_data_dir: Path, tmp_path: Path
) -> None:
    """A 24-row band of Set14's widest image (192 LR columns, with its HR for the score), cut into 64-px tiles: the
    first and last tiles' context is cut 48 pixels short of the image's edge, so their pixels beside the seams have
    exactly the shipped overlap of context at a cut. Tiles crossing in 2-D: the test below."""
    lr_file = shared_data_dir / "benchmark" / "Set14" / "image_SRF_4" / "img_011_SRF_4_LR.png"
    lr = np.asarray(Image.open(lr_file).convert("RGB"))
    hr = np.asarray(Image.open(lr_file.with_name("img_011_SRF_4_HR.png")).convert("RGB"))
    assert lr.shape[1] == 192
    top = (lr.shape[0] - 24) // 2
    outputs = x4plus_tiled_and_whole(compose_train, lr[top : top + 24], 64, tmp_path)
    assert np.abs(outputs["tiled"] - outputs["whole"]).max() <= 2
    hr_band = to_tensor(hr[top * 4 : (top + 24) * 4, : 192 * 4])[None]
    scores = {run: y_psnr(to_tensor(out.astype(np.uint8))[None], hr_band, 4) for run, out in outputs.items()}
    assert abs(scores["tiled"] - scores["whole"]) <= 0.005


@pytest.mark.slow  # the 23-block network on a 240x240 crop, whole and in four tiles with context: about a minute
def test_real_x4plus_tiles_with_the_default_overlap_stay_within_two_levels_where_seams_cross(
    compose_train, shared_data_dir: Path, tmp_path: Path
) -> None:
    """`sisr.upscale` with the default overlap on the central 240x240 of Set14's bridge (x2 LR file) in 2 x 2 tiles
    of 120 LR pixels (what the CPU memory budget chose with the old overlap of 64): every tile has two cut edges
    and the pixels beside the crossing lose context on two sides. With that old overlap this image was 8 levels off,
    where a tile's bottom cut meets the image's right border (benchmarks/results/tile_overlap.json)."""
    lr = np.asarray(Image.open(shared_data_dir / "benchmark" / "Set14" / "image_SRF_2" / "img_003_SRF_2_LR.png").convert("RGB"))
    top, left = (lr.shape[0] - 240) // 2, (lr.shape[1] - 240) // 2
    outputs = x4plus_tiled_and_whole(compose_train, lr[top : top + 240, left : left + 240], 120, tmp_path)
    assert np.abs(outputs["tiled"] - outputs["whole"]).max() <= 2
