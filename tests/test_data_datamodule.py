"""SRDataModule: named sets, the embedded sample, loaders per set, download and offline behaviour."""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from sisr.data import download as dl
from sisr.data import sample
from sisr.data.datamodule import SRDataModule
from sisr.data.layouts import list_images
from sisr.data.sources import SOURCES
from sisr.plumbing.errors import SISRError
from tests.conftest import tmpfs


def _png_bytes(h: int, w: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_sample_train_and_val_need_no_download(tmp_path):
    dm = SRDataModule(scale=2, train="sample", val_sets=["Sample"], test_sets=[], root=str(tmp_path / "root"),
                      cache_dir=str(tmp_path / "cache"), patch_size=32, batch_size=4, repeat=3)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.scale == 2 and dm.val_set_names == ["Sample"] and dm.test_set_names == []
    assert len(dm.train_dataset) == 5 * 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["lr"].shape == (4, 3, 16, 16) and batch["hr"].shape == (4, 3, 32, 32)
    assert len(batch["name"]) == 4
    (val,) = dm.val_dataloader()
    names = [b["name"][0] for b in val]
    assert names == ["chelsea", "rocket"]
    assert not set(names) & {e.name for e in dm.train_dataset.images.entries}
    sample = next(iter(val))
    assert sample["hr"].shape == (1, 3, 300, 450)  # 451 mod-cropped to a multiple of 2
    assert sample["lr"].shape == (1, 3, 150, 225)
    assert not any((tmp_path / "root").glob("**/*.png"))  # materialised in the cache dir only


def test_shared_sets_give_one_loader_per_set_in_order(shared_data_dir, tmp_path):
    dm = SRDataModule(scale=4, train=None, val_sets=["Set14", "Set5"], test_sets=["BSD100", "set5"],
                      root=str(shared_data_dir), cache_dir=str(tmp_path / "cache"), val_max_images=3)
    dm.prepare_data()
    assert dm.val_set_names == ["Set14", "Set5"] and dm.test_set_names == ["BSD100", "Set5"]
    val = dm.val_dataloader()
    assert [len(loader) for loader in val] == [3, 3]
    gray = [bool(b["is_gray"]) for b in val[0]]
    assert gray == [False, False, True]  # Set14 img_003 is grayscale
    first = next(iter(val[1]))
    assert first["name"] == ["img_001"] and first["hr"].shape == (1, 3, 512, 512) and first["lr"].shape[-1] == 128
    test = dm.test_dataloader()
    assert [len(loader) for loader in test] == [100, 5]
    assert all(loader.batch_size == 1 for loader in val + test)
    with pytest.raises(SISRError, match="data.train is not set"):
        dm.train_dataloader()


def test_sun_hays80_name_resolves_under_the_data_root_train_folder(tmp_path):
    folder = tmp_path / "train" / "Sun-Hays80"
    folder.mkdir(parents=True)
    for i in range(3):
        (folder / f"img_{i:03d}.png").write_bytes(_png_bytes(60, 64, i))
    dm = SRDataModule(scale=4, train="sun_hays80", val_sets=[], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"), patch_size=48, batch_size=2, repeat=2, num_workers=2)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_dataset) == 6
    loader = dm.train_dataloader()
    assert loader.num_workers == 2 and loader.drop_last
    batch = next(iter(loader))
    assert batch["lr"].shape == (2, 3, 12, 12) and batch["hr"].shape == (2, 3, 48, 48)


def test_folder_path_as_train_and_val(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.png").write_bytes(_png_bytes(40, 44, i))
    dm = SRDataModule(scale=4, train=str(folder), val_sets=[str(folder)], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"), patch_size=24, batch_size=8, augment=False)
    dm.setup("fit")
    assert dm.val_set_names == ["mine"]
    assert len(dm.train_dataset) == 3
    assert next(iter(dm.train_dataloader()))["hr"].shape == (3, 3, 24, 24)  # fewer images than a batch: kept


def test_bad_settings_are_clear_errors(tmp_path):
    with pytest.raises(SISRError, match="patch_size=30 is not divisible by data.scale=4"):
        SRDataModule(scale=4, patch_size=30)
    (tmp_path / "empty").mkdir()
    dm = SRDataModule(scale=4, train=str(tmp_path / "empty"), val_sets=[], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"))
    with pytest.raises(SISRError, match="No images found in .*empty"):
        dm.setup("fit")
    srf = tmp_path / "only_x2" / "image_SRF_2"
    srf.mkdir(parents=True)
    (srf / "img_001_SRF_2_HR.png").write_bytes(_png_bytes(8, 8, 0))
    dm = SRDataModule(scale=4, train=None, val_sets=[str(srf.parent)], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"))
    with pytest.raises(SISRError, match="no x4 images"):
        dm.setup("validate")
    dm = SRDataModule(scale=4, train=str(tmp_path / "nowhere"), val_sets=[], test_sets=[], root=str(tmp_path))
    with pytest.raises(SISRError, match="nowhere does not exist"):
        dm.prepare_data()


def test_missing_dataset_offline_says_what_where_and_from_where(tmp_path):
    root = tmp_path / "root"
    dm = SRDataModule(scale=4, train="div2k", val_sets=["Set5"], test_sets=[], root=str(root))
    with pytest.raises(SISRError) as info:
        dm.prepare_data()
    message = str(info.value)
    for name in ("div2k_train_hr", "div2k_train_lr_bicubic_x4", "set5"):
        source = SOURCES[name]
        assert source.url in message and str(root / "downloads" / source.filename) in message
    assert "data.download=true" in message and message.count(". ") == 0
    with pytest.raises(SISRError, match="Set5_SR.zip"):
        dm.setup("fit")  # setup without prepare_data gives the same explanation


def test_download_failure_offline_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setitem(SOURCES, "set5", replace(SOURCES["set5"], url="file:///nonexistent/Set5_SR.zip"))
    root = tmp_path / "root"
    dm = SRDataModule(scale=4, train=None, val_sets=["Set5"], test_sets=[], root=str(root), download=True)
    with pytest.raises(SISRError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert message.startswith("Set5_SR.zip could not be downloaded")
    assert "file:///nonexistent/Set5_SR.zip" in message and str(root / "downloads" / "Set5_SR.zip") in message


def _toy_set5(tmp_path, monkeypatch):
    """A Set5_SR.zip shaped like the SelfExSR one, registered as the set5 source with its SHA-256."""
    archive = tmp_path / "Set5_SR.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for i in (1, 2):
            zipped.writestr(f"Set5/image_SRF_4/img_00{i}_SRF_4_HR.png", _png_bytes(20, 24, i))  # 19 px scorable at x4
            zipped.writestr(f"Set5/image_SRF_4/img_00{i}_SRF_4_LR.png", _png_bytes(5, 6, 10 + i))
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(SOURCES, "set5", replace(SOURCES["set5"], url=archive.as_uri(), sha256=digest))
    return archive


def test_archive_put_in_downloads_by_hand_is_used_offline(tmp_path, monkeypatch):
    archive = _toy_set5(tmp_path, monkeypatch)
    root = tmp_path / "root"
    monkeypatch.setitem(SOURCES, "set5", replace(SOURCES["set5"], url="file:///nonexistent/Set5_SR.zip"))
    (root / "downloads").mkdir(parents=True)
    archive.rename(root / "downloads" / "Set5_SR.zip")  # what the offline message asks the user to do
    dm = SRDataModule(scale=4, train=None, val_sets=["Set5"], test_sets=[], root=str(root),
                      cache_dir=str(tmp_path / "cache"), download=False)
    dm.prepare_data()
    assert [b["name"][0] for b in dm.val_dataloader()[0]] == ["img_001", "img_002"]


def test_download_true_fetches_verifies_and_uses_a_benchmark_archive(tmp_path, monkeypatch):
    archive = _toy_set5(tmp_path, monkeypatch)
    root = tmp_path / "root"
    dm = SRDataModule(scale=4, train=None, val_sets=["Set5"], test_sets=[], root=str(root),
                      cache_dir=str(tmp_path / "cache"), download=True)
    dm.prepare_data()
    assert (root / "benchmark" / "Set5" / dl.MARKER).is_file()
    archive.unlink()
    dm.prepare_data()  # already there: no download attempted
    (val,) = dm.val_dataloader()
    batch = next(iter(val))
    assert batch["name"] == ["img_001"] and batch["lr"].shape == (1, 3, 5, 6) and batch["hr"].dtype == torch.float32


def test_data_root_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("SISR_DATA_DIR", str(tmp_path / "env_root"))
    dm = SRDataModule(scale=4, train=None, val_sets=["Set5"], test_sets=[])
    assert dm.root == tmp_path / "env_root"
    with pytest.raises(SISRError, match=str(tmp_path / "env_root" / "downloads" / "Set5_SR.zip")):
        dm.prepare_data()


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"batch_size": 0}, "data.batch_size=0 must be a positive integer (patches per training step, e.g. 16)."),
        ({"batch_size": -2}, "data.batch_size=-2 must be a positive integer (patches per training step, e.g. 16)."),
        ({"patch_size": 0}, "data.patch_size=0 must be a positive multiple of data.scale=4 (the HR training patch "
                            "side, e.g. 96)."),
        ({"patch_size": -8}, "data.patch_size=-8 must be a positive multiple of data.scale=4 (the HR training patch "
                             "side, e.g. 96)."),
        ({"num_workers": -1}, "data.num_workers=-1 must be 0 (load in the main process) or a positive number of "
                              "DataLoader worker processes."),
        ({"repeat": 0}, "data.repeat=0 must be an integer of at least 1 (visits of each training image per epoch)."),
        ({"scale": 0}, "data.scale=0 must be a positive integer such as 2, 3 or 4."),
    ],
)
def test_impossible_settings_are_one_sentence_naming_the_key(tmp_path, setting, message):
    with pytest.raises(SISRError) as info:
        SRDataModule(**{"scale": 4, "train": None, "val_sets": [], "test_sets": [], "root": str(tmp_path), **setting})
    assert str(info.value) == message


def test_evaluation_image_too_small_to_score_names_the_file(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "big.png").write_bytes(_png_bytes(20, 24, 0))  # 19 px is the least at x4: 4 + 11 + 4
    (folder / "small.png").write_bytes(_png_bytes(16, 40, 1))
    dm = SRDataModule(scale=4, train=None, val_sets=[str(folder)], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"))
    with pytest.raises(SISRError) as info:
        dm.setup("validate")
    assert str(info.value) == (
        f"Evaluation image {folder / 'small.png'} is 40x16, too small to score: PSNR and SSIM crop 4 pixels "
        "(data.scale) from every side and SSIM needs an 11x11 window, so each side must be at least 19 pixels; remove "
        "the image from the evaluation set."
    )
    dm = SRDataModule(scale=4, train=None, val_sets=[str(folder)], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"), val_max_images=1)
    dm.setup("validate")  # only the first image is used, and it is large enough
    assert len(dm.val_datasets[0]) == 1


def test_non_images_in_a_named_set_are_reported_under_its_name(tmp_path, caplog):
    srf = tmp_path / "benchmark" / "Set5" / "image_SRF_4"
    srf.mkdir(parents=True)
    (srf / "img_001_SRF_4_HR.png").write_bytes(_png_bytes(20, 20, 0))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(srf / "preview.gif")
    (srf / "._img_001_SRF_4_HR.png").write_bytes(b"\x00\x05\x16\x07")
    dm = SRDataModule(scale=4, train=None, val_sets=["Set5"], test_sets=[], root=str(tmp_path),
                      cache_dir=str(tmp_path / "cache"))
    with caplog.at_level(logging.WARNING, logger="sisr.data.layouts"):
        dm.setup("validate")
    assert len(dm.val_datasets[0]) == 1
    assert [r.getMessage() for r in caplog.records if r.name == "sisr.data.layouts"] == [
        "Set5: skipped 1 file that is not an image (.gif): preview.gif"
    ]


def test_sample_images_are_written_once_without_visible_temp_files(tmp_path, monkeypatch):
    calls = []
    original = sample.sample_images
    monkeypatch.setattr(sample, "sample_images", lambda split: calls.append(split) or original(split))
    folder = sample.materialise("val", tmp_path)
    (folder / ".chelsea.999.png").write_bytes(b"\x89PNG")  # a crashed writer's leftover (the old temp naming)
    assert sample.materialise("val", tmp_path) == folder and calls == ["val"]
    assert sorted(p.name for p in folder.iterdir()) == [".chelsea.999.png", "chelsea.png", "rocket.png"]
    assert [p.name for p in list_images(folder)] == ["chelsea.png", "rocket.png"]
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(SISRError, match="Unknown sample split 'test'"):
        sample.materialise("test", tmp_path)


def test_two_sets_of_one_name_are_refused_not_merged(tmp_path):
    for parent in ("a", "b"):
        (tmp_path / parent / "Set5").mkdir(parents=True)
    sets = [str(tmp_path / "a" / "Set5"), str(tmp_path / "b" / "Set5")]
    with pytest.raises(SISRError, match=r"^data.test_sets holds two sets named Set5 \(.*a/Set5 and .*b/Set5\)"):
        SRDataModule(scale=4, train=None, val_sets=[], test_sets=sets, root=str(tmp_path))
    with pytest.raises(SISRError, match=r"^data.val_sets holds two sets named Set5"):
        SRDataModule(scale=4, train=None, val_sets=["Set5", sets[0]], test_sets=[], root=str(tmp_path))


@pytest.fixture(params=["file in the way", "read-only filesystem"])
def unwritable_cache(request, tmp_path):
    """A cache folder that cannot be written: a file where the folder should be, or a real read-only mount (needs
    root and mount; skipped elsewhere). Permission bits alone would not stop root."""
    if request.param == "file in the way":
        (tmp_path / "blocker").write_text("")
        yield tmp_path / "blocker" / "cache"
        return
    with tmpfs(tmp_path / "ro", "ro,size=64k") as mount:
        yield mount


def test_an_unwritable_cache_folder_is_one_sentence(tmp_path, unwritable_cache):
    dm = SRDataModule(scale=4, train="sample", val_sets=["sample"], test_sets=[], root=str(tmp_path),
                      cache_dir=str(unwritable_cache), patch_size=24, batch_size=2)
    with pytest.raises(SISRError, match=rf"^the cache folder {unwritable_cache} cannot be written \(.*\); set "
                                        r"data.cache_dir=<folder> or \$SISR_CACHE_DIR to a writable folder\.$"):
        dm.setup("fit")
