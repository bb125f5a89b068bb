"""Upscale your own images: `python -m sisr.upscale ckpt_path=<ckpt> input=<file|folder|glob> output=<folder>`.

Writes `<output>/<input stem>.png` for every input image (gray stays gray: of an RGB model's output for a gray
image, R = G = B up to the model's error, the first channel is kept, the one `sisr.protocol.metrics` scores for gray
sources, so the files score exactly as `sisr.eval` does; alpha is upscaled with MATLAB bicubic
and reattached, 16-bit PNG stays 16-bit; see `sisr.data.pictures`), with a progress bar and a summary. Large images are
tiled so that one tile's activations fit a memory budget (`tile_size=` overrides). `weights=<file>` takes any file
`sisr.weights.loading` reads instead of a checkpoint (ESRGAN / BasicSR RRDBNet files, sisr exports). An unreadable file is
skipped with a warning and counted; an output that would overwrite an input is refused before anything runs.
"""

from __future__ import annotations

import glob
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig
from PIL import Image
from tqdm.auto import tqdm

from sisr.core.upscaling import UpscaleSettings, Upscaler
from sisr.data.images import IMAGE_EXTENSIONS
from sisr.data.layouts import list_images
from sisr.data.pictures import read_picture, write_png
from sisr.inference.runtime import pick_device, pick_precision
from sisr.plumbing.cli import run_reporting_user_errors
from sisr.plumbing.errors import SISRError
from sisr.weights.loading import open_generator
from sisr.plumbing.paths import CONF_DIR

log = logging.getLogger(__name__)

OUTPUT_BYTES_PER_PIXEL = 18
"""Peak bytes per output pixel beyond the process's base: 18.1 measured at 128 megapixels (README, "Upscale your
images"): the float32 RGB result, the quantised levels and the PNG encoder's buffers."""


def list_inputs(spec: str) -> list[Path]:
    """The image files named by `input=`: one file, the images directly inside a folder, or a glob pattern."""
    path = Path(str(spec)).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = list_images(path)
    elif any(char in str(spec) for char in "*?["):
        matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
        files = [p for p in matches if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    else:
        raise SISRError(f"input={spec} is neither an image file, a folder nor a glob pattern that exists.")
    if not files:
        raise SISRError(f"input={spec} holds no images ({', '.join(IMAGE_EXTENSIONS)}).")
    return files


def plan_outputs(inputs: list[Path], output: Path) -> list[Path]:
    """`<output>/<stem>.png` per input; refuses an output that is an input or that two inputs would share."""
    targets = [output / f"{path.stem}.png" for path in inputs]
    resolved_inputs = {path.resolve() for path in inputs}
    seen: dict[Path, Path] = {}
    for source, target in zip(inputs, targets):
        if target.resolve() in resolved_inputs:
            raise SISRError(f"output {target} would overwrite the input image {source}; choose another output folder.")
        if target in seen:
            raise SISRError(f"inputs {seen[target]} and {source} would both be written to {target}; rename one.")
        seen[target] = source
    return targets


def check_output_size(source: Path, scale: int, max_megapixels: float | None) -> None:
    """Refuse an image whose output would exceed `max_megapixels` (from its header, before decoding): the output
    is held in memory whole, float32 before it is written, so this bounds the memory one image takes."""
    if not max_megapixels:
        return
    try:
        with Image.open(source) as image:
            width, height = image.size
    except Exception:  # noqa: BLE001 - read_picture reports unreadable files in its own words
        return
    megapixels = width * scale * height * scale / 1e6
    if megapixels > max_megapixels:
        raise SISRError(
            f"{source} ({width}x{height}) would upscale to {width * scale}x{height * scale} = {megapixels:,.1f} "
            f"megapixels, over max_output_megapixels={max_megapixels:g} (the whole output is held in memory: about "
            f"{OUTPUT_BYTES_PER_PIXEL} bytes a pixel); split the image, or raise the limit if memory allows."
        )


def upscale(cfg: DictConfig) -> dict[str, Any]:
    """Upscale every image of `cfg.input` into `cfg.output`; return a summary (written, skipped, settings)."""
    pick_precision(str(cfg.precision), pick_device(str(cfg.device)))  # a wrong device or precision: before any file is read
    if not cfg.get("output"):
        raise SISRError("output= is not set; pass output=<folder> for the upscaled PNG files.")
    inputs = list_inputs(str(cfg.input))
    output = Path(str(cfg.output)).expanduser()
    targets = plan_outputs(inputs, output)
    loaded = open_generator(cfg.get("ckpt_path"), cfg.get("weights"), use_ema=bool(cfg.use_ema))
    upscaler = Upscaler(loaded, UpscaleSettings.from_config(cfg))
    output.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    started = time.perf_counter()
    for source, target in tqdm(list(zip(inputs, targets)), desc="upscale", unit="image"):
        try:  # one file that cannot be upscaled never stops the others; all are named at the end
            check_output_size(source, loaded.scale, cfg.get("max_output_megapixels"))
            write_png(target, upscaler.upscale_picture(read_picture(source)))
        except SISRError as exc:
            warnings.warn(f"skipping {source}: {exc}", stacklevel=1)
            skipped.append(str(source))
            continue
        written.append(str(target))
    if skipped and not written:
        raise SISRError(
            f"none of the {len(skipped)} input image(s) could be upscaled (first: {skipped[0]}); nothing was written."
        )
    summary = {
        "written": written, "skipped": skipped, "scale": loaded.scale, "model": type(loaded.generator).__name__,
        "source": loaded.source, "device": str(upscaler.device), "precision": str(cfg.precision),
        "seconds": round(time.perf_counter() - started, 3),
    }
    print(f"Upscaled {len(written)} image(s) x{loaded.scale} with {summary['model']} into {output}")
    if skipped:
        raise SISRError(
            f"{len(skipped)} of {len(inputs)} input images could not be upscaled (see the warnings above): "
            f"{', '.join(skipped)}; the other {len(written)} were written to {output}."
        )
    return summary


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="upscale")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run_reporting_user_errors(upscale, cfg)


if __name__ == "__main__":
    main()
