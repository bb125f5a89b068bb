"""`sisr.eval sr_dir=...`: precomputed outputs scored exactly as the model that made them, matched by file name."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sisr.data.images import load_image
from sisr.data.transforms import to_tensor
from sisr.plumbing.errors import SISRError
from sisr.core.evaluation import evaluate
from sisr.protocol.metrics import to_uint8_range
from sisr.models.bicubic import Bicubic
from sisr.core.precomputed import belongs_to

SETS = ["Set5", "Set14"]  # Set14 holds a grayscale image: the gray scoring path is compared too


def write_bicubic_outputs(shared_data_dir: Path, sr_dir: Path) -> None:
    """MATLAB-bicubic x4 outputs of every LR file, named after the LR file (`img_001_SRF_4_LR.png`)."""
    model = Bicubic(scale=4)
    for set_name in SETS:
        (sr_dir / set_name).mkdir(parents=True)
        for lr_file in sorted((shared_data_dir / "benchmark" / set_name / "image_SRF_4").glob("*_LR.png")):
            sr = model(to_tensor(load_image(lr_file).array)[None])[0]
            levels = to_uint8_range(sr).to(torch.uint8).permute(1, 2, 0).numpy()
            Image.fromarray(levels).save(sr_dir / set_name / lr_file.name)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_bicubic_outputs_in_a_folder_score_exactly_like_the_bicubic_model(
    compose_train, shared_data_dir: Path, tmp_path: Path, single_thread: None
) -> None:
    write_bicubic_outputs(shared_data_dir, tmp_path / "sr")
    sets = f"data.test_sets=[{','.join(SETS)}]"
    by_model = evaluate(compose_train(["model=bicubic", "data.scale=4", sets, "lpips=false"], config_name="eval", run="model"))
    sr_dir = f"sr_dir={tmp_path / 'sr'}"
    by_files = evaluate(compose_train([sr_dir, "data.scale=4", sets, "lpips=false"], config_name="eval", run="files"))

    for set_name in SETS:
        for key in ("psnr", "ssim", "psnr_rgb", "count"):
            assert by_files["sets"][set_name][key] == pytest.approx(by_model["sets"][set_name][key], abs=1e-12), (set_name, key)
    assert by_model["sets"]["Set5"]["psnr"] == pytest.approx(28.43, abs=0.01)  # the calibrated baseline
    assert set(by_files) == set(by_model) | {"sr_dir"}
    assert by_files["model"] == "precomputed" and by_files["notes"] == by_model["notes"]
    for table in ("per_set.csv", "per_image.csv"):
        assert rows(tmp_path / "files" / table) == rows(tmp_path / "model" / table)


@pytest.mark.parametrize(
    "stem, name, expected",
    [
        ("baby", "baby", True),
        ("baby_SR", "baby", True),
        ("baby_SRF_4_LR", "baby", True),
        ("BABY-out", "baby", True),
        ("babyx4", "baby", True),
        ("0801x4", "0801", True),
        ("baby2", "baby", False),
        ("babyx2", "baby", False),
        ("bab", "baby", False),
    ],
)
def test_file_names_match_hr_names_by_the_documented_rule(stem: str, name: str, expected: bool) -> None:
    assert belongs_to(stem, name, 4) is expected


@pytest.fixture()
def hr_folder(tmp_path: Path) -> Path:
    """A test set given as a folder of two HR images (LR made by MATLAB bicubic)."""
    folder = tmp_path / "Mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "a_b"):  # "a_b_SR" must go to a_b, the longer name, not to a
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(folder / f"{name}.png")
    return folder


def score(compose_train, hr_folder: Path, sr_dir: Path, run: str = "eval", extra: list[str] = ()) -> dict:
    overrides = [f"sr_dir={sr_dir}", "data.scale=4", f"data.test_sets=[{hr_folder}]", *extra]
    cfg = compose_train(overrides, config_name="eval", run=run)
    return evaluate(cfg)


def test_hr_images_as_outputs_score_perfectly_and_match_the_longest_name(compose_train, hr_folder: Path, tmp_path: Path) -> None:
    sr_dir = tmp_path / "sr"
    sr_dir.mkdir()
    for name in ("a", "a_b"):
        (sr_dir / f"{name}_SR.png").write_bytes((hr_folder / f"{name}.png").read_bytes())
    results = score(compose_train, hr_folder, sr_dir)
    assert results["sets"]["Mine"]["ssim"] == pytest.approx(1.0) and results["sets"]["Mine"]["count"] == 2


@pytest.mark.parametrize(
    "files, message",
    [
        ({"a": "a"}, "has no SR image for 1 of the 2 HR images of Mine \\(a_b\\)"),
        ({"a": "a", "a_b": "a_b", "zzz": "a"}, "zzz.png matches no HR image of Mine"),
        ({"a": "a", "a_SR": "a", "a_b": "a_b"}, "both match HR image a"),
        ({"a": "small", "a_b": "a_b"}, "is 20x24 but HR image a of Mine is 40x48"),
    ],
    ids=["missing", "extra", "doubled", "wrong-size"],
)
def test_bad_sr_folders_are_one_sentence(compose_train, hr_folder: Path, tmp_path: Path, files: dict, message: str) -> None:
    sr_dir = tmp_path / "sr"
    sr_dir.mkdir()
    for stem, source in files.items():
        image = Image.open(hr_folder / f"{'a' if source == 'small' else source}.png")
        (image.resize((20, 24)) if source == "small" else image).save(sr_dir / f"{stem}.png")
    with pytest.raises(SISRError, match=message) as info:
        score(compose_train, hr_folder, sr_dir)
    assert "\n" not in str(info.value)


def test_sr_dir_takes_no_model_and_several_sets_need_subfolders(compose_train, hr_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(SISRError, match="drop ckpt_path= / weights="):
        evaluate(compose_train([f"sr_dir={tmp_path}", "weights=w.pth", "data.scale=4"], config_name="eval"))
    other = tmp_path / "Other"
    other.mkdir()
    (other / "c.png").write_bytes((hr_folder / "a.png").read_bytes())
    (tmp_path / "sr" / "Other").mkdir(parents=True)
    overrides = [f"sr_dir={tmp_path / 'sr'}", "data.scale=4", f"data.test_sets=[{hr_folder},{other}]"]
    cfg = compose_train(overrides, config_name="eval", run="two")
    with pytest.raises(SISRError, match="has no subfolder Mine/; with several test sets it holds one per set"):
        evaluate(cfg)


def test_a_flat_image_counts_the_capped_psnr_is_noted_and_results_stay_json(compose_train, tmp_path: Path) -> None:
    folder = tmp_path / "Flat"
    folder.mkdir()
    Image.fromarray(np.full((48, 40, 3), 97, np.uint8)).save(folder / "flat.png")  # bicubic makes it exactly
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(folder / "noise.png")
    cfg = compose_train(["model=bicubic", "data.scale=4", f"data.test_sets=[{folder}]"], config_name="eval")
    results = evaluate(cfg)
    flat = results["sets"]["Flat"]
    per_image = {row["image"]: row for row in rows(Path(cfg.paths.output_dir) / "per_image.csv")}
    assert float(per_image["flat"]["psnr"]) == 100.0 and flat["count"] == 2
    assert flat["psnr"] == pytest.approx((100.0 + float(per_image["noise"]["psnr"])) / 2)
    assert "Flat: 1 image(s) matched the reference exactly (infinite PSNR) and count 100 dB" in results["notes"][-1]
    text = (Path(cfg.paths.output_dir) / "results.json").read_text()
    assert "Infinity" not in text and json.loads(text)["sets"]["Flat"]["psnr"] == flat["psnr"]


def test_a_corrupt_sr_file_gives_no_advice_that_would_not_help(compose_train, hr_folder: Path, tmp_path: Path) -> None:
    sr_dir = tmp_path / "sr"
    sr_dir.mkdir()
    (sr_dir / "a.png").write_bytes((hr_folder / "a.png").read_bytes()[:80])  # truncated
    (sr_dir / "a_b.png").write_bytes((hr_folder / "a_b.png").read_bytes())
    with pytest.raises(SISRError, match=r"a.png .*corrupt or truncated: replace or delete it\.$") as info:
        score(compose_train, hr_folder, sr_dir)
    assert "skip_bad" not in str(info.value)  # data.skip_bad skips dataset images, never SR files
    with pytest.raises(SISRError, match=r"a.png .*corrupt or truncated: replace or delete it\.$"):
        score(compose_train, hr_folder, sr_dir, run="again", extra=["data.skip_bad=true"])
