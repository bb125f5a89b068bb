"""Validation pictures in TensorBoard: LR (nearest) | SR | HR crops of the first images of each validation set."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator
from torch.nn import functional as F

from sisr.lit.validation_images import ValidationImages
from sisr.core.training import train
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides


def test_side_by_side_puts_nearest_lr_sr_and_hr_of_the_same_centre_crop() -> None:
    lr = torch.rand(1, 3, 40, 50)
    hr = F.interpolate(lr, scale_factor=4, mode="bicubic")
    nearest = lambda x: F.interpolate(x, scale_factor=4, mode="nearest")  # noqa: E731 - the "model"
    picture = ValidationImages(crop_size=96, context=8).side_by_side(nearest, lr, hr, scale=4)
    assert picture.shape == (3, 96, 3 * 96)
    left, middle, right = picture[..., :96], picture[..., 96:192], picture[..., 192:]
    assert torch.equal(left, middle)  # SR of a nearest "model" on the context crop is the nearest LR crop
    top, left_px = (40 - 24) // 2 * 4, (50 - 24) // 2 * 4
    assert torch.equal(right, hr[0, :, top : top + 96, left_px : left_px + 96].clamp(0, 1))


def test_training_logs_the_crops_to_tensorboard(compose_train) -> None:
    overrides = [*SMOKE_OVERRIDES, *tiny_overrides("srresnet"), "test_after_fit=false", "logger=default"]
    cfg = compose_train(["model=srresnet", *overrides])
    train(cfg)
    (event_file,) = (Path(cfg.paths.output_dir) / "tensorboard").glob("events.out.tfevents.*")
    events = EventAccumulator(str(event_file), size_guidance={IMAGES: 0}).Reload()
    tags = events.Tags()["images"]
    assert len(tags) == 1 and tags[0].startswith("val_images/Sample/")  # val_max_images=1 image of one set
    (event,) = events.Images(tags[0])  # one validation, after the 2 batches
    assert event.step == 2
    picture = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
    assert picture.shape == (96, 288, 3) and (event.width, event.height) == (288, 96)
    assert not np.array_equal(picture[:, 96:192], picture[:, 192:])  # an untrained SR is not the HR


def test_the_callback_is_a_no_op_without_a_tensorboard_logger() -> None:
    def model(_: torch.Tensor) -> torch.Tensor:
        raise AssertionError("SR computed although nothing would log it")

    csv_only = SimpleNamespace(loggers=[CSVLogger("unused")], sanity_checking=False, is_global_zero=True, global_step=2)
    batch = {"lr": torch.rand(1, 3, 8, 8), "hr": torch.rand(1, 3, 32, 32), "name": ["x"]}
    ValidationImages().on_validation_batch_end(csv_only, model, None, batch, batch_idx=0)  # type: ignore[arg-type]


def test_bad_settings_are_one_sentence() -> None:
    with pytest.raises(ValueError, match="crop_size >= 1"):
        ValidationImages(crop_size=0)
