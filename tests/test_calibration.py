"""End-to-end protocol check: the bicubic baseline run through `sisr.eval` (datamodule, MATLAB bicubic, SRMetrics)
must land on the published bicubic row of every SR table (REFERENCE.md, calibration table)."""

from __future__ import annotations

import csv
import json

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sisr.protocol.imresize import bicubic_upscale
from sisr.core.evaluation import evaluate
from sisr.protocol.metrics import SRMetrics
from tests.conftest import compose_config

# REFERENCE.md, "Calibration": published (PSNR dB, SSIM) of bicubic upscaling, Y channel, crop = scale.
CALIBRATION = {
    ("Set5", 2): (33.66, 0.9299),
    ("Set5", 3): (30.39, 0.8682),
    ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688),
    ("Set14", 3): (27.55, 0.7742),
    ("Set14", 4): (26.00, 0.7027),
    ("BSD100", 2): (29.56, 0.8431),
    ("BSD100", 3): (27.21, 0.7385),
    ("BSD100", 4): (25.96, 0.6675),
}
PSNR_TOLERANCE = 0.02  # dB, REFERENCE.md
SSIM_TOLERANCE = 0.002  # REFERENCE.md
SET_SIZES = {"Set5": 5, "Set14": 14, "BSD100": 100}


pytestmark = pytest.mark.usefixtures("single_thread")


def load(path: Path) -> tuple[np.ndarray, bool]:
    """uint8 image as stored (HW for mode L, HWC for RGB) and whether it is grayscale."""
    image = Image.open(path)
    if image.mode not in ("L", "RGB"):
        raise AssertionError(f"{path} has PNG mode {image.mode}; the benchmark files are L or RGB")
    return np.asarray(image), image.mode == "L"


def as_batch(img: np.ndarray) -> torch.Tensor:
    """uint8 HW or HWC -> (1, 3, H, W) float in [0, 1]; gray is repeated to R = G = B as a loader would."""
    hwc = np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img
    return torch.from_numpy(hwc.transpose(2, 0, 1).copy()).unsqueeze(0).double() / 255.0


def bicubic_scores(
    folder: Path, scale: int, gray_as_rgb: bool = False
) -> tuple[dict[str, torch.Tensor], int]:
    """Score MATLAB-bicubic upscaling of every LR image in ``folder``; also return the number of gray images.

    ``gray_as_rgb`` reproduces the common mistake of scoring gray images on the Y of R = G = B.
    """
    metric = SRMetrics(crop_border=scale)
    grays = 0
    for hr_path in sorted(folder.glob("*_HR.png")):
        hr, hr_gray = load(hr_path)
        lr, lr_gray = load(hr_path.with_name(hr_path.name.replace("_HR", "_LR")))
        assert hr_gray == lr_gray, f"{hr_path.name}: HR and LR disagree on being grayscale"
        grays += hr_gray
        metric.update(as_batch(bicubic_upscale(lr, scale)), as_batch(hr), is_gray=[hr_gray and not gray_as_rgb])
    return metric.compute(), grays


@pytest.fixture(scope="module")
def eval_results(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, dict]]:
    """`python -m sisr.eval model=bicubic data.scale=<s>` on Set5, Set14 and BSD100, once per scale."""
    results: dict[int, dict] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SISR_DATA_DIR", str(shared_data_dir))
        patch.setenv("SISR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))

        def run(scale: int) -> dict:
            if scale not in results:
                out = tmp_path_factory.mktemp(f"eval_x{scale}")
                cfg = compose_config("eval", ["model=bicubic", f"data.scale={scale}", "trainer=cpu"], out)
                results[scale] = evaluate(cfg) | {"output_dir": out}
            return results[scale]

        yield run  # type: ignore[misc]


CELLS = [
    pytest.param(set_name, scale, expected, id=f"{set_name}-x{scale}")
    for (set_name, scale), expected in CALIBRATION.items()
]


@pytest.mark.parametrize("set_name, scale, expected", CELLS)
def test_bicubic_baseline_through_sisr_eval_matches_published_table(
    eval_results, set_name: str, scale: int, expected: tuple[float, float]
) -> None:
    result = eval_results(scale)
    cell = result["sets"][set_name]
    assert cell["count"] == SET_SIZES[set_name]
    assert abs(cell["psnr"] - expected[0]) <= PSNR_TOLERANCE, f"PSNR {cell['psnr']:.4f} vs published {expected[0]}"
    assert abs(cell["ssim"] - expected[1]) <= SSIM_TOLERANCE, f"SSIM {cell['ssim']:.4f} vs published {expected[1]}"


def test_eval_writes_results_json_and_csv_tables(eval_results) -> None:
    result = eval_results(4)
    out = result["output_dir"]
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["sets"]) == {"Set5", "Set14", "BSD100"}
    assert set(saved["sets"]["Set5"]) >= {"psnr", "ssim", "psnr_rgb", "count"}
    assert saved["sets"]["Set5"]["psnr_rgb"] < saved["sets"]["Set5"]["psnr"]  # RGB scores lower than Y
    with open(out / "per_image.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 + 14 + 100
    set14 = [float(r["psnr"]) for r in rows if r["set"] == "Set14"]
    assert sum(set14) / len(set14) == pytest.approx(saved["sets"]["Set14"]["psnr"], abs=1e-9)
    assert (out / "per_set.csv").read_text().startswith("set,psnr,ssim,psnr_rgb")


def test_scoring_gray_as_rgb_reproduces_the_known_shift(shared_data_dir: Path) -> None:
    # REFERENCE.md: expanding gray to RGB and taking Y moves Set14 x4 bicubic from 26.00 to 26.09 dB.
    result, grays = bicubic_scores(shared_data_dir / "benchmark" / "Set14" / "image_SRF_4", 4, gray_as_rgb=True)
    assert grays == 1
    assert abs(float(result["psnr"]) - 26.09) <= PSNR_TOLERANCE
