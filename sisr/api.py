"""sisr from Python: `sisr.load`, `sisr.evaluate`, `sisr.train` (re-exported by the `sisr` package, lazily).

Each runs the same core as its command-line entry point (`sisr.core.upscaling`, `sisr.core.evaluation`,
`sisr.core.stages`) on a config composed from the same `conf/` files; a user error raises `sisr.SISRError` with
the sentence the command line prints after `error:`.

    import sisr
    upscaler = sisr.load("weights/srcnn_x3_t91/srcnn_x3_t91.pth")
    big = upscaler(Image.open("photo.png"))            # PIL in, PIL out (numpy and tensors too)
    results = sisr.evaluate("run/checkpoints/last.ckpt", sets=["Set5"])
    summary = sisr.train(["model=srcnn", "data=sample", "debug=smoke"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import open_dict

from sisr.core.composing import compose_entry
from sisr.core.evaluation import evaluate as evaluate_config
from sisr.core.stages import objective, train_or_stages
from sisr.core.upscaling import UpscaleSettings, Upscaler
from sisr.plumbing.errors import SISRError
from sisr.weights.loading import load_weights

__all__ = ["UpscaleSettings", "Upscaler", "evaluate", "load", "train"]


def load(path: str | Path, *, use_ema: bool = True, **settings: Any) -> Upscaler:
    """An upscaler from any weight file sisr reads: a `sisr.train` checkpoint, a `sisr.export` file (.safetensors,
    or a state dict with its `<file>.json`), an ESRGAN / BasicSR / Real-ESRGAN RRDBNet (.pth or .safetensors).

    Call it on a PIL image, a numpy array ((H, W) or (H, W, C); uint8, uint16, or floats in [0, 1]) or a tensor
    ((C, H, W) or (N, C, H, W) floats in [0, 1]); it returns the same kind. Gray stays gray and alpha is upscaled
    with MATLAB bicubic, as `python -m sisr.upscale` does. `.scale` and `.architecture` describe the model.

    Args:
        path: the weight file.
        use_ema: use the EMA weights when the file has them.
        settings: the fields of `UpscaleSettings`, as `python -m sisr.upscale` takes them: device ("auto", "cpu",
            "cuda"), precision ("fp32", "bf16", "fp16"), channels_last, tile_size, tile_overlap,
            memory_budget_mb, self_ensemble.
    """
    known = {f.name for f in fields(UpscaleSettings)}
    if unknown := sorted(set(settings) - known):
        raise SISRError(f"load() takes no option {', '.join(unknown)}; the options are {', '.join(sorted(known))}.")
    loaded = load_weights(str(path), key="weights", use_ema=use_ema)
    return Upscaler(loaded, UpscaleSettings(**settings))


def evaluate(
    model: str | Path | None = None,
    *,
    sets: Sequence[str | Path] | None = None,
    sr_dir: str | Path | None = None,
    scale: int | None = None,
    output_dir: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Score a model, or SR images computed elsewhere, with the papers' protocol (`python -m sisr.eval`).

    Writes results.json, per_set.csv and per_image.csv to the run folder and returns the results.json structure:
    `{"model", "checkpoint", "scale", "sets": {name: {"psnr", "ssim", "psnr_rgb", "lpips", "count"}}, ...}`.

    Args:
        model: a checkpoint or any weight file `load` reads; None with `sr_dir`, or for a baseline named in
            `overrides` (e.g. ["model=bicubic"] and `scale=4`).
        sets: test set names under the data root (Set5, Set14, BSD100) or folders of HR images; default: eval.yaml's.
        sr_dir: a folder of SR images to score instead of a model (one subfolder per set with several sets).
        scale: the scale of a baseline or of `sr_dir` (a model's comes from its file).
        output_dir: the run folder; default: the one `python -m sisr.eval` would use.
        overrides: further Hydra overrides of conf/eval.yaml (e.g. ["lpips=false", "trainer.accelerator=cpu"]).
    """
    cfg = compose_entry("eval", overrides, output_dir)
    with open_dict(cfg):
        if model is not None:
            cfg.weights = str(model)
        if sr_dir is not None:
            cfg.sr_dir = str(sr_dir)
        if scale is not None:
            cfg.data.scale = int(scale)
        if sets is not None:
            cfg.data.test_sets = [str(name) for name in sets]
    return evaluate_config(cfg)


def train(overrides: Sequence[str] = (), *, output_dir: str | Path | None = None) -> dict[str, Any]:
    """Train as `python -m sisr.train <overrides>` does (one stage, or both stages of a two-stage experiment).

    Returns the final stage's run summary (what `<run>/metrics.json` holds), plus `objective`: the value of the
    config's `optimized_metric` that the command returns to a sweeper.

    Args:
        overrides: Hydra overrides of conf/train.yaml, e.g. ["model=srcnn", "data=sample", "debug=smoke"].
        output_dir: the run folder; default: the one `python -m sisr.train` would use.

    Raises:
        TrainingInterrupted: a stop signal ended the fit after `last.ckpt` was saved.
    """
    cfg = compose_entry("train", overrides, output_dir)
    summary = train_or_stages(cfg)
    return {**summary, "objective": objective(cfg, summary)}
