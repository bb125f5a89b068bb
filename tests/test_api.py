"""The Python API, used only through what `sisr.__all__` exports: `load` (PIL, numpy and tensors in, the same kind
out, pixel for pixel what `python -m sisr.upscale` writes), `evaluate` (the results.json structure), `train` (the
CLI's run and objective), and `SISRError` carrying the sentence the command line prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sisr
from sisr import *  # noqa: F403 - the test uses only what __all__ exports
from sisr.plumbing.cli import run_reporting_user_errors
from sisr.upscale import upscale
from tests.conftest import REPO_ROOT, SMOKE_OVERRIDES, locate_shared_data
from tests.configs import tiny_overrides

SHIPPED = REPO_ROOT / "weights" / "srcnn_x3_t91" / "srcnn_x3_t91.pth"  # SRCNN x3, its metadata.json beside it
SET5_X3 = locate_shared_data() / "benchmark" / "Set5" / "image_SRF_3"


@pytest.fixture()
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SISR_CACHE_DIR", str(tmp_path / ".cache"))
    monkeypatch.setenv("SISR_DATA_DIR", str(locate_shared_data()))


def test_all_names_the_api_and_each_name_is_documented() -> None:
    assert sorted(sisr.__all__) == ["SISRError", "UpscaleSettings", "Upscaler", "evaluate", "load", "train"]
    for name in sisr.__all__:
        assert getattr(sisr, name).__doc__, name
    assert set(sisr.__all__) <= set(dir(sisr))


def test_load_upscales_pil_numpy_and_tensors_as_sisr_upscale_writes_them(
    compose_train, tmp_path: Path, single_thread: None
) -> None:
    upscaler = load(SHIPPED, device="cpu")
    assert isinstance(upscaler, Upscaler) and upscaler.scale == 3 and upscaler.architecture == "SRCNN"
    assert upscaler.settings == UpscaleSettings(device="cpu")
    source = SET5_X3 / "img_001_SRF_3_LR.png"
    image = Image.open(source).convert("RGB").crop((0, 0, 40, 32))
    image.save(tmp_path / "crop.png")
    upscale(compose_train(["device=cpu", f"weights={SHIPPED}", f"input={tmp_path / 'crop.png'}",
                           f"output={tmp_path / 'cli'}"], config_name="upscale", run="upscale"))
    written = np.asarray(Image.open(tmp_path / "cli" / "crop.png"))

    out = upscaler(image)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (120, 96)
    assert np.array_equal(np.asarray(out), written)  # one implementation behind the CLI and the API
    array = upscaler(np.asarray(image))
    assert array.dtype == np.uint8 and np.array_equal(array, written)
    floats = upscaler(np.asarray(image, dtype=np.float32) / 255)
    assert floats.dtype == np.float32 and floats.shape == (96, 120, 3)
    assert np.abs(floats * 255 - written).max() <= 0.5 + 1e-3  # the PNG holds these samples rounded
    chw = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
    sr = upscaler(chw)
    assert isinstance(sr, torch.Tensor) and sr.shape == (3, 96, 120) and sr.dtype == torch.float32
    assert torch.equal(upscaler(torch.stack([chw, chw]))[1], sr)
    assert torch.allclose(sr.permute(1, 2, 0), torch.from_numpy(floats))


def test_load_keeps_gray_gray_alpha_apart_and_16_bit_levels(tmp_path: Path, single_thread: None) -> None:
    upscaler = load(SHIPPED, device="cpu", tile_size=16)  # tiled, as sisr.upscale tiles large images
    rgb = Image.open(SET5_X3 / "img_002_SRF_3_LR.png").convert("RGB").crop((0, 0, 30, 20))
    gray = upscaler(rgb.convert("L"))
    assert gray.mode == "L" and gray.size == (90, 60)
    rgba = rgb.copy()
    rgba.putalpha(128)
    out = upscaler(rgba)
    assert out.mode == "RGBA" and np.all(np.asarray(out)[:, :, 3] == 128)  # flat alpha stays flat under bicubic
    levels = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
    deep = upscaler(levels)
    assert deep.dtype == np.uint16 and deep.shape == (60, 90)
    assert np.abs(deep.astype(np.float64) / 257 - np.asarray(gray, dtype=np.float64)).max() <= 0.51


def test_user_errors_raise_sisrerror_with_the_sentence_the_cli_prints(
    compose_train, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(SISRError) as info:
        load(missing)
    cfg = compose_train([f"weights={missing}", f"input={SET5_X3}", f"output={tmp_path / 'o'}"], config_name="upscale")
    with pytest.raises(SystemExit) as stop:
        run_reporting_user_errors(upscale, cfg)
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: {info.value}"
    with pytest.raises(SISRError, match="precision=fp16 runs only on CUDA"):
        load(SHIPPED, device="cpu", precision="fp16")
    with pytest.raises(SISRError, match="load\\(\\) takes no option tile; the options are channels_last, device"):
        load(SHIPPED, tile=64)
    with pytest.raises(SISRError, match="cannot upscale a list"):
        load(SHIPPED, device="cpu")([[0.5]])


def test_evaluate_returns_the_results_json_of_a_weight_file(data_env: None, tmp_path: Path) -> None:
    results = evaluate(SHIPPED, sets=["Set5"], output_dir=tmp_path / "eval", overrides=["lpips=false"])
    assert results == json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["model"] == "SRCNN" and results["scale"] == 3 and list(results["sets"]) == ["Set5"]
    assert results["sets"]["Set5"]["psnr"] == pytest.approx(32.48, abs=0.005)  # README, "SRCNN on T91"
    with pytest.raises(SISRError, match="data.scale is not set"):
        evaluate(overrides=["model=bicubic"], sets=["Set5"], output_dir=tmp_path / "bicubic")


def test_train_runs_the_cli_core_and_returns_its_summary_and_objective(data_env: None, tmp_path: Path) -> None:
    summary = train(["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn")], output_dir=tmp_path / "run")
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert summary["status"] == written["status"] == "completed" and summary["val"] == written["val"]
    assert summary["objective"] == written["val"]["val/psnr"] > 0
    assert summary["choices"]["model"] == "srcnn"
    assert load(summary["last_checkpoint"], device="cpu").architecture == "SRCNN"
    with pytest.raises(SISRError, match="optimized_metric=val/nope is not among the run's metrics"):
        train(["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "optimized_metric=val/nope"],
              output_dir=tmp_path / "run2")
