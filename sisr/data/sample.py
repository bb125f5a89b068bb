"""The embedded sample dataset: photographs bundled in scikit-image's wheel, usable with no download.

Training set "sample": astronaut, coffee, hubble_deep_field, immunohistochemistry and the left motorcycle
stereo view (all 400-1000 px, small enough for CPU smoke runs). Validation set "Sample": chelsea and rocket,
disjoint from training. The images are written as PNG into the cache folder the first time they are needed
(never into the repository) and then go through the same pipeline as any plain folder of HR images: HR
mod-cropped, LR made with MATLAB bicubic. Processes sharing the cache folder write them once, under a file lock.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import skimage
from filelock import FileLock
from PIL import Image
from skimage import data as skdata

from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import atomic_write

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


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise SISRError(f"Unknown sample split {split!r}; use 'train' or 'val'.")


def sample_images(split: str) -> dict[str, np.ndarray]:
    """The uint8 (H, W, 3) images of a split ("train" or "val"), read from scikit-image's bundled files.

    Args:
        split: "train" or "val".
    """
    _check_split(split)
    return {name: np.asarray(load(), dtype=np.uint8)[:, :, :3] for name, load in _SPLITS[split].items()}


def materialise(split: str, cache_dir: str | Path) -> Path:
    """Write the split's images as PNG under ``<cache_dir>/sample-<skimage version>/<split>`` once; return the folder.

    Processes sharing ``cache_dir`` take turns under a file lock; each PNG is written under a hidden ``.tmp`` name
    and renamed into place, so no reader ever lists or decodes a partial file.

    Args:
        split: "train" or "val".
        cache_dir: the data cache folder.
    """
    _check_split(split)
    folder = Path(cache_dir) / f"sample-{skimage.__version__}" / split
    targets = {name: folder / f"{name}.png" for name in _SPLITS[split]}
    if all(target.is_file() for target in targets.values()):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.parent / f".{split}.lock"):
        missing = [name for name, target in targets.items() if not target.is_file()]  # re-checked under the lock
        if missing:
            images = sample_images(split)
            for name in missing:
                with atomic_write(targets[name]) as handle:
                    Image.fromarray(images[name]).save(handle, format="PNG", compress_level=1)  # lossless, fast
    return folder
