"""The visual comparison: one test image's crop from HR, bicubic and every model, zoomed with nearest-neighbour."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from hydra.utils import instantiate
from PIL import Image
from torch import Tensor, nn

from benchmarks.leaderboard.profile import Profile, VisualSpec
from benchmarks.leaderboard.score import compose_eval_config
from benchmarks.leaderboard.table import Leaderboard
from sisr.plumbing.errors import SISRError
from sisr.protocol.metrics import to_uint8_range


def load_test_image(data_root: Path, set_name: str, image: str, scale: int, work_dir: Path) -> dict[str, Tensor]:
    """The (lr, hr) pair of `image` in `set_name`, read through the datamodule as evaluation reads it.

    Args:
        data_root: folder holding the test sets.
        set_name: e.g. "Set5".
        image: the image name or its prefix, e.g. "img_003".
        scale: upscaling factor.
        work_dir: scratch folder for the composed config's output paths.
    """
    cfg = compose_eval_config(work_dir, data_root, [set_name], scale=scale)
    datamodule = instantiate(cfg.data, scale=scale, train=None, val_sets=[], test_sets=[set_name])
    datamodule.setup("test")
    dataset = datamodule.test_datasets[0]
    names = []
    for index in range(len(dataset)):
        sample = dataset[index]
        names.append(sample["name"])
        if sample["name"] == image or sample["name"].startswith(image):
            return sample
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    raise SISRError(f"visual.image {image!r} is not in {set_name} (images: {shown}); fix visual.image in the profile.")


def crop_zoom(img01: Tensor, spec: VisualSpec) -> Image.Image:
    """Quantise a (3, H, W) [0, 1] image to uint8 as scoring does, cut the crop and zoom it (nearest-neighbour).

    Args:
        img01: the image.
        spec: crop position, size and zoom.
    """
    height, width = img01.shape[-2:]
    if spec.top < 0 or spec.left < 0 or spec.top + spec.size > height or spec.left + spec.size > width:
        raise SISRError(
            f"visual crop (top={spec.top}, left={spec.left}, size={spec.size}) does not fit the {width}x{height} "
            "HR image; change visual.top, visual.left or visual.size in the profile."
        )
    crop = to_uint8_range(img01[..., spec.top : spec.top + spec.size, spec.left : spec.left + spec.size])
    array = crop.to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    side = spec.size * spec.zoom
    return Image.fromarray(array).resize((side, side), Image.Resampling.NEAREST)


def visual_comparison(
    sample: dict[str, Tensor], generators: list[tuple[str, nn.Module]], spec: VisualSpec, out_dir: Path
) -> list[tuple[str, Path]]:
    """Save the zoomed crop of HR and of each generator's output; returns (caption, PNG path), HR first.

    Args:
        sample: {"lr", "hr", "name"} from :func:`load_test_image`.
        generators: (caption, generator) pairs, e.g. bicubic first then every model.
        spec: crop settings.
        out_dir: folder for the PNG files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    panels = [("HR", sample["hr"])]
    lr = sample["lr"][None].to(device)
    with torch.inference_mode():
        for caption, generator in generators:
            panels.append((caption, generator.to(device).eval()(lr)[0].cpu()))
    saved = []
    for caption, image in panels:
        path = out_dir / f"{len(saved):02d}_{caption.split()[0].lower()}.png"
        crop_zoom(image, spec).save(path)
        saved.append((caption, path))
    return saved


def make_visual(profile: Profile, board: Leaderboard, out_dir: Path, work_dir: Path) -> list[tuple[str, Path]]:
    """The zoomed crops of HR, bicubic and every row at the comparison scale, saved to `out_dir/visual/`; returns
    (caption, PNG) pairs, HR first, and adds a note naming the crop to `board`.

    Args:
        profile: the suite (its `visual` settings and data root).
        board: the leaderboard whose rows are shown.
        out_dir: the leaderboard's output folder.
        work_dir: scratch folder.
    """
    from sisr.weights.checkpoints import load_generator  # imports Lightning, only when a comparison is made
    from sisr.weights.loading import load_weights
    from sisr.models.bicubic import Bicubic

    spec = profile.visual
    scales = sorted({row.scale for row in board.rows})
    scale = spec.scale if spec.scale in scales else scales[0]
    if spec.scale and spec.scale != scale:
        board.notes.append(f"Visual comparison at x{scale}: no row has visual.scale x{spec.scale}.")
    rows = [row for row in board.rows if row.scale == scale and not row.external]  # external: no model to run
    sample = load_test_image(profile.resolved_data_root(), spec.set, spec.image, scale, work_dir / "visual")
    generators = [
        (f"{row.model} x{scale}", Bicubic(scale) if row.is_baseline
         else load_weights(row.checkpoint).generator if row.published else load_generator(row.checkpoint)[0])
        for row in rows
    ]
    folder = out_dir / "visual"
    shutil.rmtree(folder, ignore_errors=True)
    panels = visual_comparison(sample, generators, spec, folder)
    crop = f"{spec.size}x{spec.size} HR pixels at (top {spec.top}, left {spec.left})"
    board.notes.append(
        f"Visual comparison: {spec.set} {sample['name']}, crop of {crop}, zoomed x{spec.zoom} (nearest-neighbour)."
    )
    return [(f"HR ({spec.set} {sample['name']})", panels[0][1]), *panels[1:]]
