"""Turn trained runs (and the bicubic baseline) into the leaderboard: score, measure, compare with the papers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.leaderboard.collect import TrainedRun
from benchmarks.leaderboard.measure import measure_in_subprocess
from benchmarks.leaderboard.papers import PAPER_RESULTS, PaperEntry, find_entry, load_paper_entries
from benchmarks.leaderboard.profile import Profile
from benchmarks.leaderboard.score import score
from benchmarks.leaderboard.table import BASELINE, Leaderboard, Row, set_results, sort_rows
from sisr.plumbing.errors import SISRError
from sisr.plumbing.provenance import config_hash

MACS_NOTE = (
    "MACs: multiply-adds of one forward pass on a {h}x{w} LR input, counted by torch.utils.flop_counter."
    "FlopCounterMode (convolutions and matrix products, including bicubic resizing done as matrix products; "
    "1 MAC = 2 FLOPs); element-wise operations (activations, normalisation, additions) are not counted."
)


NETWORK_KEYS_LEFT_OUT = ("_target_", "in_channels", "out_channels", "scale")


def network_description(config: dict[str, object]) -> str:
    """The generator's class and its width and depth settings, e.g. "SRResNet: num_features=48, num_blocks=6"."""
    generator = dict(config["model"]["generator"])  # type: ignore[index]
    name = str(generator.get("_target_", "?")).rsplit(".", 1)[-1]
    settings = ", ".join(f"{key}={value}" for key, value in generator.items() if key not in NETWORK_KEYS_LEFT_OUT)
    return f"{name}: {settings}" if settings else name


def measure_spec(profile: Profile, **source: object) -> dict[str, object]:
    """The measurement settings of `profile` plus what to measure (checkpoint=... or generator=...)."""
    m = profile.measure
    return {**source, "input_size": list(m.input_size), "warmup": m.warmup, "repeats": m.repeats, "device": m.device}


def baseline_row(profile: Profile, entries: list[PaperEntry], scale: int, work_dir: Path) -> tuple[Row, list[str]]:
    """The bicubic row at `scale`, scored by sisr.eval's baseline path; returns the row and sisr.eval's notes."""
    job = work_dir / f"{BASELINE}_x{scale}"
    results, config = score(job / "eval", profile.resolved_data_root(), profile.test_sets, scale=scale)
    cost = measure_in_subprocess(measure_spec(profile, generator=config["model"]["generator"]), job)
    sets, entry = set_results(results["sets"], profile.test_sets, entries, BASELINE, scale, None)
    row = Row(
        model=BASELINE,
        scale=scale,
        sets=sets,
        config_hash=config_hash({"model": config["model"], "data": config["data"]}),
        git_commit=results["git_commit"],
        architecture="MATLAB bicubic",
        **measured_and_paper_fields(cost, entry),
    )
    return row, [*method_notes(cost), *(results.get("notes") or [])]


def measured_and_paper_fields(cost: dict[str, object], entry: PaperEntry | None) -> dict[str, object]:
    """The Row fields every row shares: what the measuring subprocess found, and which paper row it is set against."""
    return {
        "parameters": cost["parameters"],
        "macs": cost["macs"],
        "latency_ms": cost["latency_ms"],
        "peak_memory_bytes": cost["peak_memory_bytes"],
        "machine": cost["machine"],
        "paper_label": entry.label if entry else None,
        "paper_source": entry.source if entry else None,
        "paper_note": entry.note if entry else None,
    }


def method_notes(cost: dict[str, object]) -> list[str]:
    """How latency and peak memory were measured, and where."""
    return [
        f"Latency: {cost['latency_method']}, on {cost['machine']} ({cost['device']}).",
        f"Peak memory: {cost['memory_method']}.",
    ]


def run_row(profile: Profile, entries: list[PaperEntry], run: TrainedRun, work_dir: Path) -> tuple[Row, list[str]]:
    """The row of one trained run: its checkpoint scored on the profile's sets and measured in a fresh process."""
    job = work_dir / f"{run.model}_x{run.scale}_{run.run_dir.name}"
    results, _ = score(job / "eval", profile.resolved_data_root(), profile.test_sets, checkpoint=run.checkpoint)
    cost = measure_in_subprocess(measure_spec(profile, checkpoint=str(run.checkpoint)), job)
    sets, _ = set_results(results["sets"], profile.test_sets, entries, run.model, run.scale, run.config)
    entry = find_entry(entries, run.model, run.config)
    metrics = run.metrics
    row = Row(
        model=run.model,
        scale=run.scale,
        sets=sets,
        train_set=metrics.get("train_set"),
        batches=metrics.get("batches"),
        train_seconds=metrics.get("train_seconds"),
        config_hash=metrics.get("config_hash"),
        git_commit=metrics.get("git_commit"),
        seed=metrics.get("seed"),
        checkpoint=str(run.checkpoint),
        run_dir=str(run.run_dir),
        train_machine=metrics.get("machine"),
        architecture=network_description(run.config),
        curve=[(minutes, psnr) for _, minutes, psnr in run.curve],
        curve_sets=[str(name) for name in run.config["data"].get("val_sets") or []],
        **measured_and_paper_fields(cost, entry),
    )
    return row, [*method_notes(cost), *(results.get("notes") or [])]


@dataclass(frozen=True)
class ExternalOutputs:
    """SR images computed elsewhere (another paper's released results), shown as a row labelled external.

    Args:
        name: the row's model name; a paper model's name (e.g. srcnn) compares it with that paper's numbers.
        scale: the upscaling factor of the images.
        folder: one subfolder per test set (`Set5/`, `Set14/`, ...), images matched to HR by name (sisr.core.precomputed).
    """

    name: str
    scale: int
    folder: Path


def external_row(profile: Profile, entries: list[PaperEntry], outputs: ExternalOutputs, work_dir: Path) -> Row:
    """The row of precomputed SR images: scored by sisr.eval's `sr_dir` path, the same protocol as every row."""
    job = work_dir / f"external_{outputs.name}_x{outputs.scale}"
    results, _ = score(
        job / "eval", profile.resolved_data_root(), profile.test_sets, scale=outputs.scale, sr_dir=outputs.folder
    )
    sets, entry = set_results(results["sets"], profile.test_sets, entries, outputs.name, outputs.scale, None)
    return Row(
        model=outputs.name,
        scale=outputs.scale,
        sets=sets,
        parameters=None,
        macs=None,
        latency_ms=None,
        peak_memory_bytes=None,
        machine=None,
        train_set="unknown (external outputs)",
        git_commit=results["git_commit"],
        architecture=f"external outputs: {outputs.folder}",
        paper_label=entry.label if entry else None,
        paper_source=entry.source if entry else None,
        paper_note=entry.note if entry else None,
        external=True,
    )


@dataclass(frozen=True)
class PublishedWeights:
    """Published weights (any file sisr reads: BasicSR/ESRGAN `.pth`, ncnn `.param`, a sisr export), shown as a row
    labelled published weights: run, scored and measured here like a trained row, trained elsewhere.

    Args:
        name: the row's model name, e.g. realesrgan_x4plus.
        scale: the scale the weights upscale by (checked against the file).
        file: the weight file.
    """

    name: str
    scale: int
    file: Path


def published_row(profile: Profile, entries: list[PaperEntry], weights: PublishedWeights, work_dir: Path) -> tuple[Row, list[str]]:
    """The row of published weights: scored by sisr.eval's `weights=` path and measured in a fresh process."""
    from sisr.weights.loading import load_weights  # Lightning-free, but the network is built only when needed

    loaded = load_weights(weights.file, key=f"--weights {weights.name}")
    if loaded.scale != weights.scale:
        raise SISRError(f"--weights {weights.name}:{weights.scale} names x{weights.scale}, but {weights.file} upscales x{loaded.scale}.")
    job = work_dir / f"published_{weights.name}_x{weights.scale}"
    results, _ = score(job / "eval", profile.resolved_data_root(), profile.test_sets, weights=weights.file)
    cost = measure_in_subprocess(measure_spec(profile, weights=str(weights.file)), job)
    sets, entry = set_results(results["sets"], profile.test_sets, entries, weights.name, weights.scale, None)
    network = network_description({"model": {"generator": loaded.generator_config}})
    row = Row(
        model=weights.name,
        scale=weights.scale,
        sets=sets,
        git_commit=results["git_commit"],
        checkpoint=str(weights.file),
        architecture=f"{network} ({loaded.kind} file {weights.file.name})",
        published=True,
        **measured_and_paper_fields(cost, entry),
    )
    return row, [*method_notes(cost), *(results.get("notes") or [])]


def leaderboard_notes(profile: Profile, rows: list[Row], row_notes: list[str]) -> list[str]:
    """Footnotes: how compute was measured, where numbers come from, what is missing and why.

    Args:
        profile: the suite.
        rows: the leaderboard rows.
        row_notes: notes gathered while making the rows (measurement methods, sisr.eval's notes).
    """
    h, w = profile.measure.input_size
    notes = [MACS_NOTE.format(h=h, w=w)]
    notes += [note for note in dict.fromkeys(row_notes) if not note.startswith("LPIPS")]
    seen: set[str] = set()
    for row in rows:
        if row.paper_label and row.paper_label not in seen:
            seen.add(row.paper_label)
            caveat = f"; {row.paper_note}" if row.paper_note else ""
            notes.append(f"Paper numbers for {row.model} are those of {row.paper_label}: {row.paper_source}{caveat}.")
        elif not row.paper_label and row.model not in seen:
            seen.add(row.model)
            notes.append(f"{row.model}: no published results in {PAPER_RESULTS.name} (no published number).")
    if any(result.lpips is None for row in rows for result in row.sets.values()):
        reasons = [note for note in dict.fromkeys(row_notes) if note.startswith("LPIPS")]
        notes.append(f"LPIPS column: {' '.join(reasons) or 'sisr.eval reported no LPIPS for these rows.'}")
    trained_on = sorted({row.train_machine for row in rows if row.train_machine})
    if trained_on:
        notes.append(f"Training ran on: {'; '.join(trained_on)}.")
    return notes


def build_leaderboard(
    profile: Profile,
    runs: list[TrainedRun],
    work_dir: Path,
    external: list[ExternalOutputs] | None = None,
    published: list[PublishedWeights] | None = None,
) -> Leaderboard:
    """Score and measure the baseline at every scale of `runs` and every run; compare with the papers.

    Args:
        profile: the suite (test sets, measurement settings).
        runs: the trained runs, in leaderboard order (a two-stage job's PSNR run before its GAN run).
        work_dir: scratch folder for the evaluations and measurements.
        external: SR images computed elsewhere, each scored as a row labelled external (after the runs).
        published: published weight files, each run, scored and measured as a row labelled published weights.
    """
    entries = load_paper_entries()
    external, published = external or [], published or []
    rows: list[Row] = []
    notes: list[str] = []
    for scale in sorted({run.scale for run in runs} | {o.scale for o in external} | {w.scale for w in published}):
        row, row_notes = baseline_row(profile, entries, scale, work_dir)
        rows.append(row)
        notes += row_notes
    for run in runs:
        row, row_notes = run_row(profile, entries, run, work_dir)
        rows.append(row)
        notes += row_notes
    for weights in published:
        row, row_notes = published_row(profile, entries, weights, work_dir)
        rows.append(row)
        notes += row_notes
    rows += [external_row(profile, entries, outputs, work_dir) for outputs in external]
    if published:
        notes.append(
            "Rows marked (published weights) run weights trained elsewhere, scored and measured here by the same "
            "protocol and code as the trained rows; their training columns say \"not trained here\"."
        )
    if external:
        notes.append(
            "Rows marked (external) score SR images computed elsewhere with the same protocol (sisr.eval sr_dir=); "
            "nothing about them was trained or measured here, and they are not in the visual comparison."
        )
    names = [*(run.model for run in runs), *(w.name for w in published), *(o.name for o in external)]
    ordered = sort_rows(rows, list(dict.fromkeys(names)))
    return Leaderboard(
        profile=profile.name,
        description=profile.description,
        test_sets=profile.test_sets,
        input_size=profile.measure.input_size,
        rows=ordered,
        notes=leaderboard_notes(profile, ordered, notes),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        plot_set=profile.test_sets[0],
    )
