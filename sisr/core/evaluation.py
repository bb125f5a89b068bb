"""The evaluation core behind `python -m sisr.eval`: a checkpoint (`ckpt_path=`), a weight file (`weights=`, any
file `sisr.weights.loading` reads: ESRGAN / BasicSR RRDBNet files, sisr exports), a baseline (`model=bicubic`), or SR images
computed elsewhere (`sr_dir=<folder> data.scale=<s>`, matched by name; see `sisr.core.precomputed`), scored with the
papers' protocol.

`evaluate(cfg)` writes `results.json` (one entry per set: psnr, ssim, psnr_rgb, lpips, count), `per_set.csv` and
`per_image.csv` to the run folder, prints a table and returns the results; the benchmarks and tests call it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sisr.core.precomputed import SetScores, score_sr_dir
from sisr.lit.base import METRIC_NAMES, SRModule
from sisr.lit.progress import BudgetProgressBar
from sisr.models.common import count_parameters
from sisr.plumbing.cli import to_container
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import write_json
from sisr.protocol.metrics import MAX_PSNR
from sisr.plumbing.provenance import git_commit, machine_name
from sisr.weights.loading import open_generator


DEFAULT_GENERATOR = "sisr.models.bicubic.Bicubic"  # conf/eval.yaml's default model=bicubic, the baseline


def resolve_scale(cfg: DictConfig, trained: int | None) -> int:
    """The evaluation scale: the model's (checkpoint or weight file), or data.scale for baselines and SR folders;
    a conflict is an error."""
    requested = cfg.data.get("scale")
    if trained is None:
        if requested is None:
            raise SISRError("data.scale is not set; evaluating a baseline or an sr_dir needs it, e.g. data.scale=4.")
        return int(requested)
    if requested is not None and int(requested) != trained:
        raise SISRError(f"the model was trained at x{trained} but data.scale={requested}; drop the override.")
    return trained


def capped_psnr_notes(per_image: list[dict[str, Any]]) -> list[str]:
    """One note per set with images whose PSNR was capped at `MAX_PSNR` (exact outputs, e.g. flat images)."""
    capped: dict[str, int] = {}
    for row in per_image:
        if max(row["psnr"], row["psnr_rgb"]) >= MAX_PSNR:
            capped[row["set"]] = capped.get(row["set"], 0) + 1
    return [
        f"{name}: {count} image(s) matched the reference exactly (infinite PSNR) and count {MAX_PSNR:g} dB in the "
        "PSNR means (sisr.protocol.metrics.MAX_PSNR)."
        for name, count in capped.items()
    ]


def write_tables(output_dir: Path, per_set: dict[str, dict[str, float]], per_image: list[dict[str, Any]]) -> None:
    """Write per-set and per-image CSV files."""
    with open(output_dir / "per_set.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["set", *METRIC_NAMES, "lpips", "count"])
        writer.writeheader()
        for set_name, values in per_set.items():
            writer.writerow({"set": set_name, **values})
    with open(output_dir / "per_image.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["set", "image", *METRIC_NAMES])
        writer.writeheader()
        writer.writerows(per_image)


def format_table(per_set: dict[str, dict[str, float]], scale: int) -> str:
    """A plain-text table of the per-set results."""
    lines = [f"{'set':<10} {'scale':>5} {'images':>6} {'PSNR-Y':>8} {'SSIM-Y':>8} {'PSNR-RGB':>9}"]
    for name, v in per_set.items():
        lines.append(f"{name:<10} {'x' + str(scale):>5} {v['count']:>6} {v['psnr']:>8.2f} {v['ssim']:>8.4f} {v['psnr_rgb']:>9.2f}")
    return "\n".join(lines)


def announce(datamodule: Any, scale: int) -> None:
    """Say what will be scored before scoring it: full-size images take minutes on a CPU."""
    datamodule.prepare_data()  # a missing set is one sentence naming it
    datamodule.setup("test")
    counts = {name: len(dataset) for name, dataset in zip(datamodule.test_set_names, datamodule.test_datasets)}
    listed = ", ".join(f"{name} ({count})" for name, count in counts.items())
    print(f"Scoring {sum(counts.values())} images at x{scale}: {listed}.", flush=True)
    if len(counts) > 1:
        print(f"For a quick look score one set: data.test_sets=[{next(iter(counts))}].", flush=True)


def refuse_model_override(cfg: DictConfig, model: str, key: str) -> None:
    """A `model=` choice beside a checkpoint or weight file would be ignored (the file rebuilds its own model):
    refuse it in one sentence rather than let the output suggest the other model was scored."""
    chosen = str(OmegaConf.select(cfg, "model.generator._target_", default="") or "")
    if chosen and chosen != DEFAULT_GENERATOR:
        raise SISRError(
            f"model= chooses {chosen.rsplit('.', 1)[-1]}, which does not apply with {key}=: the file rebuilds its own "
            f"model ({model}); drop model= to score the file, or drop {key}= to score a baseline."
        )


def _datamodule(cfg: DictConfig, scale: int) -> Any:
    return instantiate(cfg.data, scale=scale, train=None, val_sets=[], _convert_="all")


def _score_model(cfg: DictConfig) -> tuple[SetScores, dict[str, Any], int]:
    """Scores of `cfg.ckpt_path` / `cfg.weights` (or the baseline `cfg.model`), what was scored, and the scale."""
    loaded = None
    if cfg.get("ckpt_path") or cfg.get("weights"):
        loaded = open_generator(cfg.get("ckpt_path"), cfg.get("weights"), use_ema=cfg.use_ema)
    if loaded is not None:
        refuse_model_override(cfg, type(loaded.generator).__name__, "ckpt_path" if cfg.get("ckpt_path") else "weights")
    scale = resolve_scale(cfg, None if loaded is None else loaded.scale)
    if loaded is None:
        cfg.data.scale = scale
        generator = instantiate(cfg.model).generator  # the baseline's module config, e.g. model=bicubic
        if count_parameters(generator):
            raise SISRError(
                f"model={type(generator).__name__} has learned weights; pass ckpt_path=<checkpoint> or weights=<file>."
            )
    else:
        generator = loaded.generator
    module = SRModule(
        generator,
        scale,
        self_ensemble=cfg.self_ensemble,
        tile_size=cfg.tile_size,
        tile_overlap=cfg.tile_overlap,
        max_pixels=cfg.max_pixels,
        lpips=cfg.lpips,
    )
    datamodule = _datamodule(cfg, scale)
    announce(datamodule, scale)
    bar = [BudgetProgressBar()] if cfg.trainer.get("enable_progress_bar", True) else []
    trainer: pl.Trainer = instantiate(
        cfg.trainer, logger=False, enable_checkpointing=False, callbacks=bar, enable_model_summary=False
    )
    trainer.test(module, datamodule=datamodule, verbose=False)
    scores = SetScores(notes=[module.lpips_note] if module.lpips_note else [])
    for set_name, metric in module.test_metrics.items():
        values = metric.compute()
        scores.per_set[set_name] = {key: float(values[key]) for key in METRIC_NAMES} | {"count": int(values["count"])}
        lpips = module.test_lpips[set_name].compute() if set_name in module.test_lpips else None
        scores.per_set[set_name]["lpips"] = None if lpips is None else float(lpips)
        for image_name, row in zip(module.test_image_names[set_name], metric.per_image()):
            scores.per_image.append({"set": set_name, "image": image_name, **{k: float(row[k]) for k in METRIC_NAMES}})
    scored = {
        "model": type(generator).__name__,
        "checkpoint": loaded.source if loaded else None,
        "self_ensemble": bool(cfg.self_ensemble),
        "parameters": count_parameters(generator),
        "machine": machine_name(module.device),
    }
    return scores, scored, scale


def _score_sr_dir(cfg: DictConfig) -> tuple[SetScores, dict[str, Any], int]:
    """Scores of the precomputed SR images in `cfg.sr_dir` (see `sisr.core.precomputed`)."""
    if cfg.get("ckpt_path") or cfg.get("weights"):
        raise SISRError("sr_dir= scores images computed already; drop ckpt_path= / weights=, or drop sr_dir=.")
    scale = resolve_scale(cfg, None)
    datamodule = _datamodule(cfg, scale)
    announce(datamodule, scale)
    scores = score_sr_dir(datamodule, str(cfg.sr_dir), scale, lpips=bool(cfg.lpips))
    scored = {
        "model": "precomputed",
        "checkpoint": None,
        "sr_dir": str(Path(str(cfg.sr_dir)).expanduser().resolve()),
        "self_ensemble": False,
        "parameters": None,
        "machine": machine_name(),
    }
    return scores, scored, scale


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate `cfg.ckpt_path`, `cfg.weights`, the baseline `cfg.model`, or the SR images of `cfg.sr_dir`, on
    `cfg.data.test_sets`; write results.json, per_set.csv and per_image.csv, print a table, return the results."""
    scores, scored, scale = _score_sr_dir(cfg) if cfg.get("sr_dir") else _score_model(cfg)
    scores.notes += capped_psnr_notes(scores.per_image)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_tables(output_dir, scores.per_set, scores.per_image)
    results = {
        **scored,
        "scale": scale,
        "git_commit": git_commit(cfg.paths.root_dir),
        "config": to_container(cfg.data),
        "sets": scores.per_set,
        "notes": scores.notes,
    }
    write_json(output_dir / "results.json", results)
    print(format_table(scores.per_set, scale))
    for note in scores.notes:
        print(note)
    print(f"\nResults: {output_dir / 'results.json'} (per_set.csv, per_image.csv beside it)")
    return results
