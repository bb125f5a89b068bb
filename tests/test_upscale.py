"""`sisr.upscale`: outputs that score like `sisr.eval`, every kind of image file, tiling, and refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_png

from sisr.plumbing.errors import SISRError
from sisr.core.evaluation import evaluate
from sisr.export import export
from sisr.data.pictures import Picture, quantise, write_png
from sisr.protocol.imresize import imresize
from sisr.inference.tiling import super_resolve
from sisr.models.rrdbnet import RRDBNet
from sisr.inference.runtime import balanced_tile, pick_device, pick_precision, tile_for_budget
from sisr.core.training import train
from sisr.upscale import upscale
from sisr.weights.loading import to_basicsr
from tests.conftest import HANG_GUARD, REPO_ROOT, SMOKE_OVERRIDES, huge_png, locate_shared_data
from tests.configs import tiny_overrides


def bicubic_weights(folder: Path, scale: int = 2) -> Path:
    """A weight file whose model is float MATLAB bicubic: outputs are known exactly (`imresize`)."""
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({}, folder / "bicubic.pth")
    generator = {"_target_": "sisr.models.bicubic.Bicubic", "scale": scale, "uint8": False}
    (folder / "metadata.json").write_text(json.dumps({"weights_file": "bicubic.pth", "generator": generator, "scale": scale}))
    return folder / "bicubic.pth"


def rrdb_weights(folder: Path) -> tuple[Path, RRDBNet]:
    """A tiny random RRDBNet x2 saved as BasicSR would."""
    torch.manual_seed(3)
    generator = RRDBNet(num_features=8, num_blocks=1, growth_channels=32, scale=2).eval()
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": to_basicsr(generator.state_dict())}, folder / "rrdb.pth")
    return folder / "rrdb.pth", generator


def run_upscale(compose_train, *overrides: str, run: str = "upscale") -> dict:
    return upscale(compose_train(["device=cpu", *overrides], config_name="upscale", run=run))


def gradient(height: int, width: int, peak: int, channels: int) -> np.ndarray:
    """A smooth (H, W, C) test image spanning most of 0..peak, different per channel."""
    y, x = np.mgrid[0:height, 0:width]
    planes = [((x * (c + 1) + y * (3 - c)) % (height + width)) / (height + width) for c in range(channels)]
    return (np.stack(planes, axis=2) * peak).round().astype(np.uint16 if peak > 255 else np.uint8)


@pytest.mark.slow  # trains for two batches, then scores Set5 three times: about 11 s alone on the 2-core CPU
def test_upscaled_set5_scores_like_sisr_eval_on_the_checkpoint(compose_train, shared_data_dir: Path, tmp_path: Path) -> None:
    overrides = [*SMOKE_OVERRIDES, *tiny_overrides("srresnet"), "data.test_sets=[Set5]", "logger=none"]
    summary = train(compose_train(["model=srresnet", *overrides]))
    checkpoint = summary["last_checkpoint"]
    lr_files = shared_data_dir / "benchmark" / "Set5" / "image_SRF_4" / "*_LR.png"
    result = run_upscale(compose_train, f"ckpt_path={checkpoint}", f"input='{lr_files}'", f"output={tmp_path / 'sr'}")
    assert len(result["written"]) == 5 and result["skipped"] == []

    by_model = evaluate(compose_train([f"ckpt_path={checkpoint}", "data.test_sets=[Set5]"], config_name="eval", run="e1"))
    sr_dir = [f"sr_dir={tmp_path / 'sr'}", "data.test_sets=[Set5]", "data.scale=4"]
    by_files = evaluate(compose_train(sr_dir, config_name="eval", run="e2"))
    assert by_files["sets"]["Set5"]["psnr"] == pytest.approx(by_model["sets"]["Set5"]["psnr"], abs=1e-3)
    assert by_files["sets"]["Set5"]["ssim"] == pytest.approx(by_model["sets"]["Set5"]["ssim"], abs=1e-5)
    # and the real run's provenance reaches an export of the same checkpoint
    exported = [f"ckpt_path={checkpoint}", "format=state_dict", f"output={tmp_path / 'x' / 'm.pth'}"]
    metadata = export(compose_train(exported, config_name="export", run="x"))
    assert metadata["config_hash"] == summary["config_hash"]
    assert metadata["scores"]["test"] == pytest.approx(summary["test"])


def read_png16(path: Path) -> torch.Tensor:
    """A PNG at full depth through torchvision's decoder, a reader independent of sisr.data.pictures's writer."""
    return decode_png(torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8), ImageReadMode.UNCHANGED)


def make_inputs(folder: Path) -> None:
    """One file of every kind sisr.upscale has to handle."""
    folder.mkdir(parents=True)
    rgb = gradient(12, 16, 255, 3)
    Image.fromarray(rgb[:, :, 0]).save(folder / "gray.png")
    Image.fromarray(np.dstack([rgb, gradient(12, 16, 255, 1)])).save(folder / "rgba.png")
    Image.fromarray(np.dstack([rgb[:, :, :1], rgb[:, :, 1:2]]).reshape(12, 16, 2), mode="LA").save(folder / "la.png")
    palette = Image.fromarray(rgb).quantize(16)
    palette.save(folder / "palette.png")
    palette.save(folder / "palette_transparent.png", transparency=0)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.tiff")
    Image.fromarray(gradient(12, 16, 65535, 1)[:, :, 0]).save(folder / "gray16.png")
    write_png(folder / "rgb16.png", Picture(gradient(12, 16, 65535, 3).astype(np.float32) / 65535, None, 16))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(rgb).save(folder / "rotated.png", exif=exif.tobytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


def test_every_image_kind_comes_out_as_it_went_in(compose_train, tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    weights = bicubic_weights(tmp_path / "model")
    with pytest.warns(UserWarning, match="skipping .*broken.png"), pytest.raises(
        SISRError, match=r"^1 of 10 input images could not be upscaled .*broken.png; the other 9 were written to"
    ):
        run_upscale(compose_train, f"weights={weights}", f"input={tmp_path / 'in'}", f"output={tmp_path / 'out'}")
    out = tmp_path / "out"
    assert len(list(out.glob("*.png"))) == 9
    modes = {name: Image.open(out / f"{name}.png").mode for name in
             ["gray", "rgba", "la", "palette", "palette_transparent", "cmyk", "rotated"]}
    assert modes == {"gray": "L", "rgba": "RGBA", "la": "LA", "palette": "RGB", "palette_transparent": "RGBA",
                     "cmyk": "RGB", "rotated": "RGB"}
    assert Image.open(out / "gray.png").size == (32, 24)
    assert Image.open(out / "rotated.png").size == (24, 32)  # upright: EXIF orientation applied
    assert "exif" not in Image.open(out / "rotated.png").info

    alpha_in = torch.from_numpy(np.asarray(Image.open(tmp_path / "in" / "rgba.png"))[:, :, 3].astype(np.float32) / 255)
    expected_alpha = quantise(imresize(alpha_in[None], scale=2)[0].clamp(0, 1).numpy(), 8)
    assert np.array_equal(np.asarray(Image.open(out / "rgba.png"))[:, :, 3], expected_alpha)  # bicubic, reattached


def test_gray_images_come_out_as_the_channel_the_protocol_scores(compose_train, tmp_path: Path) -> None:
    weights, generator = rrdb_weights(tmp_path / "model")
    gray = gradient(10, 12, 255, 1)[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "g.png")
    run_upscale(compose_train, f"weights={weights}", f"input={tmp_path / 'g.png'}", f"output={tmp_path / 'out'}")
    lr = torch.from_numpy(gray.astype(np.float32) / 255)[None, None].expand(1, 3, -1, -1)
    with torch.no_grad():
        expected = quantise(generator(lr)[0, 0].numpy(), 8)
    written = Image.open(tmp_path / "out" / "g.png")
    assert written.mode == "L" and np.array_equal(np.asarray(written), expected)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torchvision's decoder, used here as the reference reader
def test_sixteen_bit_pngs_stay_sixteen_bit_at_full_precision(compose_train, tmp_path: Path) -> None:
    make_inputs(tmp_path / "in")
    weights = bicubic_weights(tmp_path / "model")
    run_upscale(compose_train, f"weights={weights}", f"input='{tmp_path / 'in' / '*16.png'}'", f"output={tmp_path / 'out'}")
    for name, channels in (("gray16", 1), ("rgb16", 3)):
        source, written = (read_png16(tmp_path / folder / f"{name}.png") for folder in ("in", "out"))
        assert written.dtype == torch.uint16 and written.shape == (channels, 24, 32)
        expected = quantise(imresize(source.to(torch.float32) / 65535, scale=2).clamp(0, 1).numpy(), 16)
        assert np.abs(written.numpy().astype(np.int64) - expected.astype(np.int64)).max() <= 1
        assert (written.numpy() % 257 != 0).any()  # finer than 8-bit levels


def test_outputs_never_replace_inputs(compose_train, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(gradient(8, 8, 255, 3)).save(folder / "a.png")
    before = (folder / "a.png").read_bytes()
    weights = bicubic_weights(tmp_path / "model")
    with pytest.raises(SISRError, match="would overwrite the input image"):
        run_upscale(compose_train, f"weights={weights}", f"input={folder}", f"output={folder}")
    assert (folder / "a.png").read_bytes() == before
    Image.fromarray(gradient(8, 8, 255, 3)).save(folder / "a.jpg")
    with pytest.raises(SISRError, match="would both be written to"):
        run_upscale(compose_train, f"weights={weights}", f"input={folder}", f"output={tmp_path / 'out'}", run="second")


def test_nothing_readable_is_an_error_not_a_silent_success(compose_train, tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.warns(UserWarning, match="skipping"), pytest.raises(SISRError, match="none of the 1 input image.* could be upscaled"):
        weights = bicubic_weights(tmp_path / "model")
        run_upscale(compose_train, f"weights={weights}", f"input={tmp_path / 'broken.jpg'}", f"output={tmp_path / 'out'}")


def test_memory_budget_tiles_and_tiled_output_matches_whole_image(compose_train, tmp_path: Path, single_thread: None) -> None:
    weights, _ = rrdb_weights(tmp_path / "model")
    Image.fromarray(gradient(40, 36, 255, 3)).save(tmp_path / "big.png")
    common = [f"weights={weights}", f"input={tmp_path / 'big.png'}"]
    run_upscale(compose_train, *common, f"output={tmp_path / 'whole'}", "tile_size=1000", run="whole")
    run_upscale(compose_train, *common, f"output={tmp_path / 'tiled'}", "memory_budget_mb=0.5", run="tiled")
    whole = np.asarray(Image.open(tmp_path / "whole" / "big.png"), dtype=np.int64)
    tiled = np.asarray(Image.open(tmp_path / "tiled" / "big.png"), dtype=np.int64)
    assert whole.shape == tiled.shape == (80, 72, 3)
    assert np.abs(whole - tiled).max() <= 1
    assert tile_for_budget(4096.0, 0.5 * 2**20, 16) == 32  # the budget above forces the smallest tiles: 2 x 2 here
    assert balanced_tile(40, 36, 32) == 20 and balanced_tile(20, 30, 32) is None


def test_an_image_whose_activations_fit_the_budget_runs_whole(tmp_path: Path) -> None:
    import sisr

    weights, _ = rrdb_weights(tmp_path / "model")
    probe = sisr.load(weights, device="cpu", memory_budget_mb=1)
    per_pixel = 2**20 / probe.max_untiled_pixels
    fitting = sisr.load(weights, device="cpu", memory_budget_mb=1.01 * 40 * 36 * per_pixel / 2**20)
    assert fitting.max_tile < 40  # with two overlaps of context, a tile would be smaller than the image...
    assert fitting.tile_for(40, 36) is None  # ...but the image alone fits: no tiles, no seams
    assert fitting.tile_for(80, 72) == balanced_tile(80, 72, fitting.max_tile)  # four times the pixels: tiled
    assert sisr.load(weights, device="cpu", tile_size=16).tile_for(40, 36) == 16  # an explicit tile_size is used


def test_self_ensemble_option_uses_the_shared_inference_path(compose_train, tmp_path: Path, single_thread: None) -> None:
    weights, generator = rrdb_weights(tmp_path / "model")
    image = gradient(10, 14, 255, 3)
    Image.fromarray(image).save(tmp_path / "x.png")
    files = [f"input={tmp_path / 'x.png'}", f"output={tmp_path / 'out'}"]
    run_upscale(compose_train, f"weights={weights}", *files, "self_ensemble=true")
    lr = torch.from_numpy(image.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = quantise(super_resolve(generator, lr, 2, ensemble=True)[0].permute(1, 2, 0).numpy(), 8)
    assert np.abs(np.asarray(Image.open(tmp_path / "out" / "x.png"), dtype=np.int64) - expected).max() <= 1


def test_half_precision_is_refused_on_the_cpu_in_one_sentence() -> None:
    for precision in ("bf16", "fp16"):
        with pytest.raises(SISRError, match=f"precision={precision} runs only on CUDA") as info:
            pick_precision(precision, torch.device("cpu"))
        assert "\n" not in str(info.value)
    if not torch.cuda.is_available():
        with pytest.raises(SISRError, match="device=cuda but PyTorch sees no CUDA GPU"):
            pick_device("cuda")


def test_command_line_shows_progress_and_a_summary(tmp_path: Path) -> None:
    Image.fromarray(gradient(8, 8, 255, 3)).save(tmp_path / "a.png")
    weights = bicubic_weights(tmp_path / "model")
    env = os.environ | {"SISR_HOME": str(tmp_path), "SISR_DATA_DIR": str(locate_shared_data())}
    files = [f"input={tmp_path / 'a.png'}", f"output={tmp_path / 'out'}"]
    args = [sys.executable, "-m", "sisr.upscale", f"weights={weights}", *files]
    result = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "100%" in result.stderr and "1/1" in result.stderr  # the tqdm bar
    assert "Upscaled 1 image(s) x2 with Bicubic" in result.stdout
    bad = subprocess.run([*args[:-1], "precision=fp16", "device=cpu", f"output={tmp_path / 'out2'}"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=HANG_GUARD)
    assert bad.returncode == 2 and bad.stderr.startswith("error: precision=fp16 runs only on CUDA")


def test_an_image_over_the_pixel_limit_is_reported_and_the_batch_goes_on(compose_train, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    huge_png(folder / "a_huge.png")
    Image.fromarray(gradient(8, 8, 255, 3)).save(folder / "b_small.png")
    weights = bicubic_weights(tmp_path / "model")
    with pytest.warns(UserWarning, match=r"a_huge.png is too large to read \(196,000,000 pixels; the limit is"), \
            pytest.raises(SISRError, match=r"^1 of 2 input images could not be upscaled .*a_huge.png; the other 1"):
        run_upscale(compose_train, f"weights={weights}", f"input={folder}", f"output={tmp_path / 'out'}")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b_small.png"]


def test_an_output_over_the_stated_size_is_refused_before_decoding(compose_train, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gradient(40, 30, 255, 3)).save(folder / "a_big.png")
    Image.fromarray(gradient(8, 8, 255, 3)).save(folder / "b_small.png")
    weights = bicubic_weights(tmp_path / "model")
    limit = "max_output_megapixels=0.001"  # 1,000 pixels: 80x60 is over, 16x16 under
    with pytest.warns(UserWarning, match=r"a_big.png \(30x40\) would upscale to 60x80 = 0.0 megapixels, over max_output"):
        with pytest.raises(SISRError, match=r"^1 of 2 input images could not be upscaled"):
            run_upscale(compose_train, f"weights={weights}", f"input={folder}", f"output={tmp_path / 'out'}", limit)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b_small.png"]


def test_quantising_in_row_blocks_equals_the_whole_image_formula() -> None:
    samples = np.random.default_rng(0).random((600, 17, 3), dtype=np.float32) * 1.2 - 0.1  # 3 blocks, out of range too
    samples[0, 0, 0], samples[599, 16, 2] = 127.5 / 255, 0.5  # halves round up
    for bit_depth, peak, kind in ((8, 255, np.uint8), (16, 65535, np.uint16)):
        whole = np.floor(np.clip(samples.astype(np.float64) * peak, 0, peak) + 0.5).astype(kind)
        assert np.array_equal(quantise(samples, bit_depth), whole)
