"""Decode-once cache: every (HR, LR) pair stored as uint8 ``.npy`` files and read back as memory maps.

Building the cache decodes each image once, mod-crops HR to a multiple of the scale, and takes the provided
LR file or makes LR with MATLAB bicubic (:func:`sisr.protocol.imresize.bicubic_degrade`). Training then reads
patches straight from ``np.load(..., mmap_mode="r")`` arrays: no PNG decoding and no resizing per sample, and
DataLoader workers share the page cache.

Entries are keyed by the source files' absolute paths, modification times and sizes, the scale and the
sub-image settings, so editing an image or changing the scale makes a new entry.

Several processes may share one cache folder (the ranks of a DDP run, the jobs of a multirun): each entry is built
under its own file lock (``.<entry>.lock``) by whichever process gets there first, and the others wait and reuse
it. Files are written under hidden ``.tmp`` names and renamed into place, metadata last, so a reader sees a
complete entry or none.

Optionally each HR image is cut into overlapping square sub-images (e.g. 480 px with step 240, the
pre-processing BasicSR's ``extract_subimages.py`` applies to DIV2K), stored stacked as (K, S, S, 3).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from sisr.data.images import BadImageTally, UnreadableImageError, load_image
from sisr.data.layouts import ImagePair
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import atomic_write, write_json
from sisr.protocol.imresize import bicubic_degrade

log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bumped whenever the stored format or the degradation changes, so old entries are not reused."""


@dataclass(frozen=True)
class CachedImage:
    """One cached pair (or stack of sub-images).

    Args:
        name: image name.
        hr_file: .npy of HR, (H, W, 3) or (K, S, S, 3) uint8.
        lr_file: .npy of LR, (H/s, W/s, 3) or (K, S/s, S/s, 3) uint8.
        is_gray: the HR source was grayscale.
        hr_source: the HR image file it was made from.
        lr_source: the provided LR file, or None when LR was generated.
        hr_size: (height, width) of the (mod-cropped) HR image or of one sub-image.
        subimages: number of stacked sub-images, 0 when the whole image is stored.
    """

    name: str
    hr_file: Path
    lr_file: Path
    is_gray: bool
    hr_source: str
    lr_source: str | None
    hr_size: tuple[int, int]
    subimages: int = 0

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """(LR, HR) as read-only memory maps."""
        return np.load(self.lr_file, mmap_mode="r"), np.load(self.hr_file, mmap_mode="r")


def check_cache_dir(folder: Path) -> None:
    """Create the cache folder and check that files can be made in it (entries and their locks are), or stop with
    one sentence naming it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".sisr_probe"):
            pass
    except OSError as exc:
        raise SISRError(
            f"the cache folder {folder} cannot be written ({exc.strerror or exc}); set data.cache_dir=<folder> or "
            "$SISR_CACHE_DIR to a writable folder."
        ) from exc


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale``."""
    height, width = image.shape[:2]
    return image[: height - height % scale, : width - width % scale]


def subimage_positions(length: int, size: int, step: int) -> list[int]:
    """Start offsets of ``size``-long windows every ``step``, plus one flush with the end if needed."""
    starts = list(range(0, length - size + 1, step))
    if starts and starts[-1] + size < length:
        starts.append(length - size)
    return starts


def _file_stamp(path: Path | None) -> list | None:
    if path is None:
        return None
    stat = path.stat()
    return [str(path.resolve()), stat.st_mtime_ns, stat.st_size]


def cache_key(pair: ImagePair, scale: int, subimage: tuple[int, int] | None) -> str:
    """Hex key of a pair: source paths, mtimes, sizes, scale, sub-image settings and cache version."""
    material = [CACHE_VERSION, _file_stamp(pair.hr), _file_stamp(pair.lr), scale, subimage]
    return hashlib.sha1(json.dumps(material).encode()).hexdigest()[:20]


def _save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` to ``path`` atomically (hidden ``.tmp`` file, fsync, rename)."""
    with atomic_write(path) as handle:
        np.save(handle, np.ascontiguousarray(array))


def _make_arrays(pair: ImagePair, scale: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Decode a pair, mod-crop HR, load or generate LR, and check that the sizes agree with ``scale``."""
    hr_image = load_image(pair.hr)
    hr = mod_crop(hr_image.array, scale)
    if pair.lr is None:
        if hr.shape[0] == 0 or hr.shape[1] == 0:
            raise SISRError(f"HR image {pair.hr} is smaller than the scale {scale}; remove it from the dataset.")
        lr = bicubic_degrade(hr, scale)
    else:
        lr = load_image(pair.lr).array
    if lr.shape[0] * scale != hr.shape[0] or lr.shape[1] * scale != hr.shape[1]:
        raise SISRError(
            f"LR image {pair.lr} is {lr.shape[1]}x{lr.shape[0]} but HR image {pair.hr} is "
            f"{hr.shape[1]}x{hr.shape[0]} after mod-crop, not {scale} times larger; check data.scale or "
            "regenerate the LR files."
        )
    return lr, hr, hr_image.is_gray


def _cut_subimages(lr: np.ndarray, hr: np.ndarray, scale: int, size: int, step: int, source: Path):
    """Stack the HR sub-images of side ``size`` every ``step`` and the aligned LR ones."""
    rows, cols = subimage_positions(hr.shape[0], size, step), subimage_positions(hr.shape[1], size, step)
    if not rows or not cols:
        raise SISRError(
            f"HR image {source} is {hr.shape[1]}x{hr.shape[0]}, smaller than the {size}x{size} sub-images; lower "
            "data.subimage_size or remove the image."
        )
    lr_size = size // scale
    hr_stack = np.stack([hr[y : y + size, x : x + size] for y in rows for x in cols])
    lr_stack = np.stack(
        [lr[y // scale : y // scale + lr_size, x // scale : x // scale + lr_size] for y in rows for x in cols]
    )
    return lr_stack, hr_stack


def _read_entry(meta_file: Path) -> CachedImage | None:
    """The finished entry described by ``meta_file``, or None if it has not been built yet."""
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    folder = meta_file.parent
    return CachedImage(
        **{**meta, "hr_file": folder / meta["hr_file"], "lr_file": folder / meta["lr_file"],
           "hr_size": tuple(meta["hr_size"])}
    )


def _build_entry(
    pair: ImagePair, scale: int, folder: Path, stem: str, subimage: tuple[int, int] | None
) -> CachedImage:
    """Decode ``pair`` and write its arrays and then its metadata (``<stem>.json``, the mark of a finished entry)."""
    lr, hr, is_gray = _make_arrays(pair, scale)
    count = 0
    if subimage is not None:
        lr, hr = _cut_subimages(lr, hr, scale, *subimage, source=pair.hr)
        count = hr.shape[0]
    entry = CachedImage(
        name=pair.name,
        hr_file=folder / f"{stem}.hr.npy",
        lr_file=folder / f"{stem}.lr.npy",
        is_gray=is_gray,
        hr_source=str(pair.hr),
        lr_source=str(pair.lr) if pair.lr is not None else None,
        hr_size=(int(hr.shape[-3]), int(hr.shape[-2])),
        subimages=count,
    )
    _save_npy(entry.hr_file, hr)
    _save_npy(entry.lr_file, lr)
    write_json(folder / f"{stem}.json", {**asdict(entry), "hr_file": entry.hr_file.name,
                                         "lr_file": entry.lr_file.name})
    return entry


def _cache_one(
    pair: ImagePair, scale: int, folder: Path, subimage: tuple[int, int] | None
) -> CachedImage:
    """Return the cache entry of ``pair``, building it under a file lock if no process has built it yet."""
    stem = f"{pair.name}-{cache_key(pair, scale, subimage)}"
    meta_file = folder / f"{stem}.json"
    entry = _read_entry(meta_file)
    if entry is not None:
        return entry
    with FileLock(folder / f".{stem}.lock"):
        entry = _read_entry(meta_file)  # another process may have built it while this one waited
        if entry is None:
            entry = _build_entry(pair, scale, folder, stem, subimage)
    return entry


def build_cache(
    pairs: list[ImagePair],
    scale: int,
    cache_dir: str | Path,
    *,
    skip_bad: bool = False,
    context: str = "dataset",
    subimage_size: int | None = None,
    subimage_step: int | None = None,
    threads: int | None = None,
) -> list[CachedImage]:
    """Decode ``pairs`` once into ``cache_dir`` (reusing entries already there) and return the entries.

    Args:
        pairs: from :func:`sisr.data.layouts.find_pairs`.
        scale: SR factor (HR is mod-cropped to it; generated LR uses it).
        cache_dir: cache folder; entries go to ``<cache_dir>/x<scale>/``.
        skip_bad: skip unreadable images with a warning (a summary is logged once) instead of raising.
        context: name of the dataset, for messages.
        subimage_size: if set, store HR sub-images of this side (a multiple of ``scale``) instead of whole images.
        subimage_step: stride between sub-images (default ``subimage_size // 2``; a multiple of ``scale``).
        threads: decoding threads (default: number of CPUs; decoding and resizing release the GIL).

    Raises:
        SISRError: an unreadable image (unless ``skip_bad``), LR/HR sizes that do not match ``scale``, or bad
            sub-image settings.
    """
    subimage = None
    if subimage_size is not None:
        step = subimage_step or subimage_size // 2
        if subimage_size % scale or step % scale:
            raise SISRError(
                f"data.subimage_size={subimage_size} and step {step} must be multiples of the scale {scale}."
            )
        subimage = (int(subimage_size), int(step))
    folder = Path(cache_dir) / f"x{scale}"
    folder.mkdir(parents=True, exist_ok=True)
    tally = BadImageTally(context=context, total=len(pairs))

    def work(pair: ImagePair) -> CachedImage | None:
        try:
            return _cache_one(pair, scale, folder, subimage)
        except UnreadableImageError as err:
            if not skip_bad:  # the advice is given here, where data.skip_bad applies
                advice = f"{str(err).rstrip('.')}, or set data.skip_bad=true to skip unreadable images."
                raise UnreadableImageError(err.path, advice) from err
            tally.skip(err.path, err.__cause__ or err)
            return None

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        results = list(tqdm(pool.map(work, pairs), total=len(pairs), desc=f"cache {context}", disable=None,
                            leave=False))
    tally.log_summary()
    entries = [r for r in results if r is not None]
    if not entries:
        raise SISRError(f"No readable images left in {context}; fix or replace the files listed above.")
    return entries
