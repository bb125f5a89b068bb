"""Score SR images computed elsewhere (`python -m sisr.eval sr_dir=<folder> data.test_sets=[...] data.scale=<s>`).

The HR side is exactly a checkpoint evaluation's: the same datamodule, the same mod-cropped HR images, the same
`sisr.protocol.metrics.SRMetrics` (and LPIPS when its weights are cached), so a folder of a model's outputs scores exactly
as the model does.

Matching rule (case-insensitive): an SR file belongs to the HR image whose name is the longest prefix of the file's
stem that is followed by nothing, by `_`, `-` or `.`, or by `x<scale>`. HR names are those of the set's layout
(`baby` for `baby_SRF_4_HR.png`, `0801` for DIV2K's `0801.png`), so for HR `baby` the files `baby.png`,
`baby_SR.png`, `baby_SRF_4_LR.png` (what `sisr.upscale` writes from the LR files), `baby_out.png` and `babyx4.png`
all match, and `baby2.png` does not. Every HR image needs exactly one SR file of exactly its (mod-cropped) size;
a missing, extra, doubled or wrongly sized image is an error. With several test sets, `sr_dir` holds one
subfolder per set, named as the set (`Set5/`, `Set14/`, or a folder set's folder name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sisr.data.images import load_image
from sisr.data.layouts import list_images
from sisr.data.transforms import to_tensor
from sisr.lit.base import METRIC_NAMES
from sisr.plumbing.errors import SISRError
from sisr.protocol.lpips import build_lpips, lpips_unavailable_reason
from sisr.protocol.metrics import SRMetrics

_SEPARATORS = ("_", "-", ".")


@dataclass
class SetScores:
    """Per-set and per-image results, in the shape `sisr.eval` writes them.

    Args:
        per_set: set name -> psnr, ssim, psnr_rgb, lpips, count.
        per_image: rows of set, image and the three scores.
        notes: remarks for the results file (LPIPS skipped and why).
    """

    per_set: dict[str, dict[str, Any]] = field(default_factory=dict)
    per_image: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def belongs_to(stem: str, name: str, scale: int) -> bool:
    """Whether an SR file stem names HR image `name` under the matching rule of this module."""
    stem, name = stem.lower(), name.lower()
    if not stem.startswith(name):
        return False
    rest = stem[len(name) :]
    return rest == "" or rest.startswith(_SEPARATORS) or rest.startswith(f"x{scale}")


def match_files(folder: Path, names: list[str], scale: int, set_name: str) -> dict[str, Path]:
    """HR image name -> its SR file in `folder`; one sentence for a missing, extra or doubled image."""
    found: dict[str, Path] = {}
    for file in list_images(folder):
        owners = [name for name in names if belongs_to(file.stem, name, scale)]
        if not owners:
            raise SISRError(
                f"sr_dir file {file} matches no HR image of {set_name} (names such as {names[0]}); name SR files "
                "<HR name>[_suffix].png or remove it."
            )
        owner = max(owners, key=len)
        if owner in found:
            raise SISRError(
                f"sr_dir files {found[owner].name} and {file.name} in {folder} both match HR image {owner}; keep one."
            )
        found[owner] = file
    missing = [name for name in names if name not in found]
    if missing:
        raise SISRError(
            f"sr_dir {folder} has no SR image for {len(missing)} of the {len(names)} HR images of {set_name} "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})."
        )
    return found


def set_folder(sr_dir: Path, set_name: str, several: bool) -> Path:
    """The folder of a set's SR images: `sr_dir/<set name>` with several sets (or when it is the only place)."""
    if not sr_dir.is_dir():
        raise SISRError(f"sr_dir {sr_dir} is not a folder; pass the folder holding the SR images.")
    subfolders = {p.name.lower(): p for p in sr_dir.iterdir() if p.is_dir()}
    if several or (not list_images(sr_dir) and set_name.lower() in subfolders):
        if set_name.lower() not in subfolders:
            raise SISRError(
                f"sr_dir {sr_dir} has no subfolder {set_name}/; with several test sets it holds one per set."
            )
        return subfolders[set_name.lower()]
    return sr_dir


def _read_sr(file: Path, hr: Tensor, name: str, set_name: str, scale: int) -> Tensor:
    sr = to_tensor(load_image(file).array)
    if sr.shape != hr.shape:
        raise SISRError(
            f"SR image {file} is {sr.shape[-1]}x{sr.shape[-2]} but HR image {name} of {set_name} is "
            f"{hr.shape[-1]}x{hr.shape[-2]} (mod-cropped to x{scale}); SR outputs must have exactly the HR size."
        )
    return sr


def score_set(
    dataset: Any, folder: Path, set_name: str, scale: int, with_lpips: bool
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Protocol scores of one set's SR files against the dataset's HR images."""
    items = [dataset[i] for i in range(len(dataset))]
    files = match_files(folder, [item["name"] for item in items], scale, set_name)
    metric = SRMetrics(crop_border=scale)
    lpips = build_lpips() if with_lpips else None
    for item in items:
        sr = _read_sr(files[item["name"]], item["hr"], item["name"], set_name, scale)[None]
        metric.update(sr, item["hr"][None], is_gray=[bool(item["is_gray"])])
        if lpips is not None:
            lpips.update(sr, item["hr"][None])
    values = metric.compute()
    summary = {key: float(values[key]) for key in METRIC_NAMES} | {"count": int(values["count"])}
    summary["lpips"] = float(lpips.compute()) if lpips is not None else None
    rows = [{"set": set_name, "image": item["name"], **row} for item, row in zip(items, metric.per_image())]
    return summary, rows


def score_sr_dir(datamodule: Any, sr_dir: str | Path, scale: int, lpips: bool = True) -> SetScores:
    """Score the SR images under `sr_dir` on every test set of `datamodule` (an `SRDataModule`).

    Args:
        datamodule: provides the test sets' HR images, as in a checkpoint evaluation.
        sr_dir: the SR images (one subfolder per set when there are several sets).
        scale: the SR factor (the border crop and the mod-crop).
        lpips: score LPIPS too when its weights are cached (otherwise a note says why not).
    """
    datamodule.prepare_data()
    datamodule.setup("test")
    names = datamodule.test_set_names
    lpips_note = lpips_unavailable_reason() if lpips else "LPIPS not requested."
    scores = SetScores(notes=[lpips_note] if lpips_note else [])
    with torch.no_grad():
        for set_name, dataset in zip(names, datamodule.test_datasets):
            folder = set_folder(Path(sr_dir).expanduser(), set_name, several=len(names) > 1)
            scores.per_set[set_name], rows = score_set(dataset, folder, set_name, scale, lpips_note is None)
            scores.per_image.extend(rows)
    return scores
