"""The embedded sample dataset: photographs bundled in scikit-image's wheel, usable with no download.

Training set "sample": astronaut, coffee, hubble_deep_field, immunohistochemistry and the left motorcycle
stereo view (all 400-1000 px, small enough for CPU smoke runs). Validation set "Sample": chelsea and rocket,
disjoint from training. The images are written as PNG into the cache folder the first time they are needed
(never into the repository) and then go through the same pipeline as any plain folder of HR images: HR
mod-cropped, LR made with MATLAB bicubic.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage
from PIL import Image
from skimage import data as skdata

from sisr.errors import SISRError

TRAIN_NAME = "sample"
"""Name of the embedded training set (``data.train``)."""
VAL_NAME = "Sample"
"""Name of the embedded validation set (``data.val_sets`` / ``data.test_sets``)."""

_SPLITS: dict[str, dict[str, Callable[[], np.ndarray]]] = {
    "train": {
        "astronaut": skdata.astronaut,
        "coffee": skdata.coffee,
        "hubble_deep_field": skdata.hubble_deep_field,
        "immunohistochemistry": skdata.immunohistochemistry,
        "motorcycle_left": lambda: skdata.stereo_motorcycle()[0],
    },
    "val": {
        "chelsea": skdata.chelsea,
        "rocket": skdata.rocket,
    },
}


def sample_images(split: str) -> dict[str, np.ndarray]:
    """The uint8 (H, W, 3) images of a split ("train" or "val"), read from scikit-image's bundled files.

    Args:
        split: "train" or "val".
    """
    if split not in _SPLITS:
        raise SISRError(f"Unknown sample split {split!r}; use 'train' or 'val'.")
    return {name: np.asarray(load(), dtype=np.uint8)[:, :, :3] for name, load in _SPLITS[split].items()}


def materialise(split: str, cache_dir: str | Path) -> Path:
    """Write the split's images as PNG under ``<cache_dir>/sample-<skimage version>/<split>`` once; return the folder.

    Args:
        split: "train" or "val".
        cache_dir: the data cache folder.
    """
    folder = Path(cache_dir) / f"sample-{skimage.__version__}" / split
    if all((folder / f"{name}.png").is_file() for name in _SPLITS[split]):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in sample_images(split).items():
        target = folder / f"{name}.png"
        if not target.is_file():
            tmp = folder / f".{name}.{os.getpid()}.png"
            Image.fromarray(image).save(tmp)
            os.replace(tmp, target)
    return folder
