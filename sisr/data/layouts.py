"""Finding (HR, LR) image pairs in the folder layouts SR datasets are distributed in.

Supported layouts, tried in this order for a folder and a scale ``s``:

1. DIV2K official: ``DIV2K_<split>_HR/0001.png`` with ``DIV2K_<split>_LR_bicubic/X<s>/0001x<s>.png`` (the folder
   may be the one holding ``DIV2K_<split>_HR`` or the HR folder itself);
2. benchmark (SelfExSR mirror, the shared data): ``image_SRF_<s>/img_NNN_SRF_<s>_{HR,LR}.png`` (the folder may be
   the set folder or its ``image_SRF_<s>`` subfolder);
3. ``HR/`` with ``LR_bicubic/X<s>/`` (EDSR style, LR named ``<stem>x<s>.<ext>`` or ``<stem>.<ext>``);
4. a plain folder of HR images.

Provided LR files are used when present; a pair whose LR is None gets its LR made from the mod-cropped HR
with MATLAB bicubic (see :mod:`sisr.data.cache`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sisr.data.images import IMAGE_EXTENSIONS
from sisr.plumbing.errors import SISRError

log = logging.getLogger(__name__)

_SRF_DIR = re.compile(r"^image_SRF_(\d+)$")
_DIV2K_HR_DIR = re.compile(r"^DIV2K_(train|valid)_HR$")
_NAMES_SHOWN = 10  # skipped files named in the warning; the rest are counted

NAMED_SETS: dict[str, tuple[str, str]] = {
    "set5": ("Set5", "benchmark/Set5"),
    "set14": ("Set14", "benchmark/Set14"),
    "bsd100": ("BSD100", "benchmark/BSD100"),
    "b100": ("BSD100", "benchmark/BSD100"),
    "sun_hays80": ("Sun-Hays80", "train/Sun-Hays80"),
    "sun-hays80": ("Sun-Hays80", "train/Sun-Hays80"),
    "t91": ("T91", "train/T91"),  # the 91 images of Yang et al. (CVPR 2008) that SRCNN 9-1-5 was trained on
    "div2k": ("DIV2K", "DIV2K"),
}
"""Dataset names (lower case) -> (display name, folder relative to the data root)."""


@dataclass(frozen=True)
class ImagePair:
    """One HR image and its LR counterpart.

    Args:
        name: short image name (e.g. "img_001", "0801").
        hr: HR image file.
        lr: LR image file, or None when LR is to be generated from HR.
    """

    name: str
    hr: Path
    lr: Path | None


def _natural_key(path: Path) -> list:
    """Sort key that orders img_2 before img_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def is_hidden(path: Path) -> bool:
    """Dot-files: macOS ``._*`` AppleDouble sidecars, ``.DS_Store`` and files still being written (``.<name>.tmp``)."""
    return path.name.startswith(".")


def list_images(folder: Path, skipped: list[Path] | None = None) -> list[Path]:
    """Image files directly inside ``folder`` (no recursion), in natural order.

    Hidden files (see :func:`is_hidden`) are never images. Symbolic links whose target is missing or that loop
    are skipped with one logged warning naming them. Other files without an image extension (GIF, text,
    ...) are appended to ``skipped`` when it is given, so the caller can report them.

    Args:
        folder: the folder to list.
        skipped: collects the visible files that are not images.
    """
    images, broken = [], []
    for path in folder.iterdir():
        if is_hidden(path):
            continue
        if not path.is_file():
            if path.is_symlink() and not path.exists():  # dangling, or a loop of links
                broken.append(path.name)
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        elif skipped is not None:
            skipped.append(path)
    if broken:
        names = sorted(broken, key=lambda name: _natural_key(Path(name)))
        log.warning("%s: skipped %d broken link(s) (missing target or a loop): %s", folder, len(names), ", ".join(names))
    return sorted(images, key=_natural_key)


def _not_images_phrase(skipped: list[Path]) -> str:
    """'2 files that are not images (.gif, .txt): a.gif, notes.txt' (the first few names, then a count)."""
    kinds = ", ".join(sorted({p.suffix.lower() or "no extension" for p in skipped}))
    names = sorted((p.name for p in skipped), key=lambda name: _natural_key(Path(name)))
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f" and {len(names) - _NAMES_SHOWN} more"
    what = "file that is not an image" if len(skipped) == 1 else "files that are not images"
    return f"{len(skipped)} {what} ({kinds}): {shown}"


def _div2k_pairs(hr_dir: Path, scale: int, skipped: list[Path]) -> list[ImagePair]:
    """Pairs of the official DIV2K layout, ``hr_dir`` being ``DIV2K_<split>_HR``."""
    split = _DIV2K_HR_DIR.match(hr_dir.name).group(1)  # type: ignore[union-attr]
    lr_dir = hr_dir.parent / f"DIV2K_{split}_LR_bicubic" / f"X{scale}"
    pairs = []
    for hr in list_images(hr_dir, skipped):
        lr = lr_dir / f"{hr.stem}x{scale}{hr.suffix}"
        pairs.append(ImagePair(hr.stem, hr, lr if lr.is_file() else None))
    return pairs


def _benchmark_pairs(srf_dir: Path, scale: int, skipped: list[Path]) -> list[ImagePair]:
    """Pairs of ``image_SRF_<s>/img_NNN_SRF_<s>_HR.png`` / ``..._LR.png``."""
    suffix = f"_SRF_{scale}_HR"
    pairs = []
    for hr in list_images(srf_dir, skipped):
        if not hr.stem.endswith(suffix):
            continue  # LR files and other methods' results (bicubic, SRCNN, ...) in the same folder
        lr = hr.with_name(hr.stem[: -len("HR")] + "LR" + hr.suffix)
        pairs.append(ImagePair(hr.stem[: -len(suffix)], hr, lr if lr.is_file() else None))
    return pairs


def _hr_lr_bicubic_pairs(folder: Path, scale: int, skipped: list[Path]) -> list[ImagePair]:
    """Pairs of ``HR/<stem>.png`` with ``LR_bicubic/X<s>/<stem>x<s>.png`` (or ``<stem>.png``)."""
    lr_dir = folder / "LR_bicubic" / f"X{scale}"
    pairs = []
    for hr in list_images(folder / "HR", skipped):
        candidates = [lr_dir / f"{hr.stem}x{scale}{hr.suffix}", lr_dir / hr.name]
        lr = next((c for c in candidates if c.is_file()), None)
        pairs.append(ImagePair(hr.stem, hr, lr))
    return pairs


def _srf_scales(folder: Path) -> list[int]:
    """Scales of the ``image_SRF_<s>`` subfolders of ``folder``."""
    found = [_SRF_DIR.match(p.name) for p in folder.iterdir() if p.is_dir()]
    return sorted(int(m.group(1)) for m in found if m)


def _layout_pairs(folder: Path, scale: int, split: str | None, skipped: list[Path]) -> list[ImagePair]:
    """The pairs of ``folder`` in the first layout that matches it (see the module docstring)."""
    srf_match = _SRF_DIR.match(folder.name)
    div2k_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and _DIV2K_HR_DIR.match(p.name))
    if split is not None:
        div2k_dirs = [p for p in div2k_dirs if p.name == f"DIV2K_{split}_HR"]
    if _DIV2K_HR_DIR.match(folder.name):
        return _div2k_pairs(folder, scale, skipped)
    if div2k_dirs:
        if len(div2k_dirs) > 1:
            names = ", ".join(p.name for p in div2k_dirs)
            raise SISRError(f"{folder} holds several DIV2K splits ({names}); pass split='train' or split='valid'.")
        return _div2k_pairs(div2k_dirs[0], scale, skipped)
    if srf_match:
        if int(srf_match.group(1)) != scale:
            raise SISRError(f"{folder} holds images for scale {srf_match.group(1)}, not {scale}; point to the set "
                            f"folder or to image_SRF_{scale}.")
        return _benchmark_pairs(folder, scale, skipped)
    if scales := _srf_scales(folder):
        if scale not in scales:
            raise SISRError(
                f"{folder} has no image_SRF_{scale} folder (it has scales {', '.join(map(str, scales))}), so there "
                f"are no x{scale} images; pick one of those scales or use a folder of HR images."
            )
        return _benchmark_pairs(folder / f"image_SRF_{scale}", scale, skipped)
    if (folder / "HR").is_dir():
        return _hr_lr_bicubic_pairs(folder, scale, skipped)
    return [ImagePair(hr.stem, hr, None) for hr in list_images(folder, skipped)]


def find_pairs(
    folder: str | Path, scale: int, split: str | None = None, context: str | None = None
) -> list[ImagePair]:
    """Find the (HR, LR) pairs of a dataset folder for one scale.

    Files in the image folders that are not images (GIF, text, ...) are skipped with one logged warning naming
    them; hidden files and ``._*`` sidecars are ignored silently.

    Args:
        folder: dataset folder in one of the supported layouts.
        scale: SR factor.
        split: for a folder holding several DIV2K splits, which one ("train" or "valid").
        context: dataset name for messages (default: the folder's name).

    Returns:
        Pairs in natural file order; ``lr`` is None where LR must be generated.

    Raises:
        SISRError: the folder is missing or holds no images, or a benchmark folder has no files for ``scale``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise SISRError(f"Dataset folder {folder} does not exist; check the path or the data root (data.root).")
    skipped: list[Path] = []
    pairs = _layout_pairs(folder, scale, split, skipped)
    if skipped:
        log.warning("%s: skipped %s", context or folder.name, _not_images_phrase(skipped))
    if not pairs and skipped:
        raise SISRError(
            f"No images found in {folder} for scale {scale}, only {_not_images_phrase(skipped)}; save the images as "
            f"one of {', '.join(IMAGE_EXTENSIONS)}."
        )
    if not pairs:
        raise SISRError(
            f"No images found in {folder} for scale {scale}; expected DIV2K_*_HR/, image_SRF_{scale}/, HR/ or "
            "image files directly in the folder."
        )
    return pairs


def named_set_folder(name: str, root: Path) -> tuple[str, Path] | None:
    """(display name, folder) of a known dataset name under the data root, or None if ``name`` is not known."""
    entry = NAMED_SETS.get(name.lower())
    if entry is None:
        return None
    display, relative = entry
    return display, Path(root) / relative
