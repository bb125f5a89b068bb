"""Export a trained generator: `python -m sisr.export ckpt_path=<ckpt> format=onnx|safetensors|state_dict output=<file>`.

* `format=state_dict`: the generator alone (EMA weights when the run kept them) as a `torch.save` file. RRDBNet is
  written in BasicSR's layout inside `params_ema` (EMA) or `params`, the file BasicSR, Real-ESRGAN's inference
  script and spandrel (ComfyUI, chaiNNer) load unchanged; other models keep sisr's keys, unwrapped.
* `format=safetensors`: the same tensors as a flat `.safetensors` file (RRDBNet in BasicSR's keys, which spandrel,
  ComfyUI and chaiNNer read), the metadata in its header.
* `format=onnx`: see `sisr.weights.onnx` (opset `ONNX_OPSET`, dynamic batch/height/width, input `lr`, output `sr`).

The metadata records the architecture (`generator`: `_target_` and constructor arguments), scale, image channels,
whether the weights are EMA, the training config hash (`sisr.plumbing.provenance.config_hash`) and the run's
protocol scores from its `metrics.json` when the checkpoint sits in a run folder. It travels with each export:
inside the file where the format has room (the safetensors header, ONNX `metadata_props`), else in `<file>.json`
beside it (`rrdb.pth.json`, with the file's sha256), so several exports share a folder. `sisr.eval weights=`,
`sisr.upscale weights=`, `sisr.load` and `model.pretrained_generator=` read the weights back through it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from sisr.inference.runtime import image_channels, make_runner
from sisr.plumbing.cli import run_reporting_user_errors
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import atomic_write, write_json
from sisr.plumbing.paths import CONF_DIR
from sisr.plumbing.provenance import config_hash
from sisr.weights.loading import RRDBNET_TARGET, LoadedGenerator, metadata_path, open_generator, to_basicsr
from sisr.weights.onnx import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME, export_onnx
from sisr.weights.safetensors_files import safetensors_bytes

FORMATS = ("onnx", "safetensors", "state_dict")
IN_FILE = ("onnx", "safetensors")  # formats whose file holds the metadata
SPANDREL_GROWTH = 32  # spandrel's ESRGAN architecture fixes the dense-block growth at 32


def run_scores(checkpoint: str | Path) -> dict[str, Any] | None:
    """The test and validation scores in the `metrics.json` of the run folder holding a checkpoint, if any."""
    path = Path(checkpoint).resolve()
    for folder in (path.parent.parent, path.parent):  # <run>/checkpoints/<file>.ckpt, or beside it
        metrics_file = folder / "metrics.json"
        if metrics_file.is_file():
            metrics = json.loads(metrics_file.read_text())
            scores = {key: metrics[key] for key in ("test", "val") if metrics.get(key)}
            return scores or None
    return None


def describe(loaded: LoadedGenerator, fmt: str, output: Path, channels: tuple[int, int]) -> dict[str, Any]:
    """The metadata of an export of `loaded` to `output` in format `fmt`."""
    metadata = dict(loaded.metadata or {})  # re-exporting an export keeps its provenance
    is_rrdbnet = loaded.generator_config.get("_target_") == RRDBNET_TARGET
    metadata.update({
        "format": fmt,
        "weights_file": output.name,
        "architecture": type(loaded.generator).__name__,
        "generator": loaded.generator_config,
        "scale": loaded.scale,
        "channels": {"input": channels[0], "output": channels[1]},
        "ema": loaded.from_ema,
        "source": loaded.source,
    })
    if loaded.run_config is not None:
        metadata["config_hash"] = config_hash(loaded.run_config)
        metadata["scores"] = run_scores(loaded.source)
    metadata.setdefault("config_hash", None)
    metadata.setdefault("scores", None)
    if fmt != "onnx":
        metadata["layout"] = "basicsr" if is_rrdbnet else "sisr"
    else:
        metadata.pop("layout", None)
        metadata |= {"onnx_opset": ONNX_OPSET, "onnx_input": INPUT_NAME, "onnx_output": OUTPUT_NAME,
                     "onnx_dynamic_axes": ["batch", "height", "width"], "value_range": [0.0, 1.0]}
    return metadata


def check_target(output: Path, source: str) -> None:
    """Refuse to overwrite the file being exported."""
    if output.exists() and output.resolve() == Path(source).resolve():
        raise SISRError(f"output={output} is the file being exported; choose another output file.")


def exported_state(loaded: LoadedGenerator) -> dict[str, torch.Tensor]:
    """The generator's weights alone, on the CPU; RRDBNet in BasicSR's keys (what BasicSR and spandrel load)."""
    state = {key: value.detach().cpu().contiguous() for key, value in loaded.generator.state_dict().items()}
    return to_basicsr(state) if loaded.generator_config.get("_target_") == RRDBNET_TARGET else state


def write_state_dict(loaded: LoadedGenerator, output: Path) -> None:
    """A `torch.save` file of `exported_state`, RRDBNet's wrapped in `params_ema` / `params` as BasicSR saves it."""
    state = exported_state(loaded)
    is_rrdbnet = loaded.generator_config.get("_target_") == RRDBNET_TARGET
    payload: dict[str, Any] = {"params_ema" if loaded.from_ema else "params": state} if is_rrdbnet else state
    with atomic_write(output) as handle:
        torch.save(payload, handle)


def write_safetensors(loaded: LoadedGenerator, output: Path, metadata: dict[str, Any]) -> None:
    """A flat `.safetensors` file of `exported_state` with `metadata` in its header."""
    content = safetensors_bytes(exported_state(loaded), metadata)
    with atomic_write(output) as handle:
        handle.write(content)


def export(cfg: DictConfig) -> dict[str, Any]:
    """Export the generator of `cfg.ckpt_path` (or `cfg.weights`) to `cfg.output`; return the metadata written."""
    fmt = str(cfg.format)
    if fmt not in FORMATS:
        raise SISRError(f"format={fmt} is not one of {', '.join(FORMATS)}.")
    if not cfg.get("output"):
        raise SISRError("output= is not set; pass output=<file>, e.g. output=exports/model.onnx.")
    output = Path(str(cfg.output)).expanduser()
    loaded = open_generator(cfg.get("ckpt_path"), cfg.get("weights"), use_ema=bool(cfg.use_ema))
    check_target(output, loaded.source)
    channels = image_channels(make_runner(loaded.generator, torch.device("cpu"), torch.float32, False))
    metadata = describe(loaded, fmt, output, channels)
    output.parent.mkdir(parents=True, exist_ok=True)
    meta_file = metadata_path(output)
    if fmt == "onnx":
        export_onnx(loaded.generator, output, channels[0], metadata)
    elif fmt == "safetensors":
        write_safetensors(loaded, output, metadata)
    else:
        write_state_dict(loaded, output)
    if fmt in IN_FILE:
        meta_file.unlink(missing_ok=True)  # an earlier export's, of the same name, would be taken for this one's
    else:
        metadata["sha256"] = hashlib.sha256(output.read_bytes()).hexdigest()
        write_json(meta_file, metadata)
    growth = loaded.generator_config.get("growth_channels", SPANDREL_GROWTH)
    if metadata["architecture"] == "RRDBNet" and (growth != SPANDREL_GROWTH or loaded.scale == 3):
        print(f"note: spandrel reads RRDBNet as growth {SPANDREL_GROWTH} and x2/x4/x8 only; this file will not load there.")
    details = f"ONNX opset {ONNX_OPSET}, dynamic batch/height/width" if fmt == "onnx" else f"{metadata['layout']} layout"
    weights = "EMA" if loaded.from_ema else "plain"
    print(f"Exported {metadata['architecture']} x{loaded.scale} ({weights} weights, {details}) to {output}")
    print(f"Metadata: {'inside the file' if fmt in IN_FILE else meta_file}")
    return metadata


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="export")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run_reporting_user_errors(export, cfg)


if __name__ == "__main__":
    main()
