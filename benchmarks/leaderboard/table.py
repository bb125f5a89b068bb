"""Leaderboard rows: a run's scores, compute and provenance next to the paper's number for the same cell.

The row data is plain (JSON-ready); `quality_columns` and `cost_columns` turn rows into the text cells every
output format (Markdown, HTML, CSV) shares, so a cell reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from benchmarks.leaderboard.papers import NO_PUBLISHED_NUMBER, PaperCell, PaperEntry, lookup

NOT_AVAILABLE = "n/a"
EXTERNAL = "n/a (external outputs)"
NOT_TRAINED_HERE = "not trained here"
BASELINE = "bicubic"


@dataclass
class SetResult:
    """One test set's scores for a row, and the published number it compares with.

    Args:
        psnr: PSNR on Y (dB).
        ssim: SSIM on Y.
        psnr_rgb: PSNR on RGB (dB).
        count: images scored.
        lpips: LPIPS-Alex, None when it could not be computed.
        paper_psnr: the paper's PSNR for this cell, None when unpublished.
        paper_ssim: the paper's SSIM for this cell, None when unpublished.
        not_compared: why there is no delta although the paper has a number (the row's network differs).
        data_mismatch: the row was trained on other data than the paper ("trained on t91, paper on imagenet").
    """

    psnr: float
    ssim: float
    psnr_rgb: float
    count: int
    lpips: float | None = None
    paper_psnr: float | None = None
    paper_ssim: float | None = None
    not_compared: str | None = None
    data_mismatch: str | None = None

    @property
    def delta_psnr(self) -> float | None:
        return None if self.paper_psnr is None or self.not_compared else self.psnr - self.paper_psnr

    @property
    def delta_ssim(self) -> float | None:
        return None if self.paper_ssim is None or self.not_compared else self.ssim - self.paper_ssim


@dataclass
class Row:
    """One leaderboard row: a model at a scale.

    Args:
        model: leaderboard model name ("bicubic" for the baseline).
        scale: upscaling factor.
        sets: test set name -> results, in the profile's order.
        parameters: generator parameters (None for external outputs: no model to count).
        macs: multiply-adds of one forward pass at the leaderboard's LR input size (None for external outputs).
        latency_ms: median batch-1 latency at that size (None for external outputs).
        peak_memory_bytes: peak memory of one forward pass at that size (method in the leaderboard notes; None for
            external outputs).
        machine: where latency and memory were measured (None for external outputs).
        train_set: training data (None for the baseline).
        batches: training batches (None for the baseline).
        train_seconds: training wall time (None for the baseline).
        config_hash: sisr.plumbing.provenance.config_hash of the run (of the evaluation config for the baseline).
        git_commit: commit the run was trained (or the baseline scored) at.
        seed: training seed (None for the baseline).
        paper_label: the paper's name for the compared network, e.g. "SRCNN 9-5-5".
        paper_source: where the paper numbers come from.
        paper_note: caveat about the paper numbers.
        checkpoint: the scored checkpoint.
        run_dir: the training run folder.
        train_machine: where it was trained.
        architecture: the generator's widths and depth ("num_features=48, num_blocks=6"; "MATLAB bicubic").
        curve: (wall minutes since the run's first logged batch, mean validation PSNR) at every validation.
        curve_sets: the validation sets the curve's PSNR is the mean of.
        external: SR images computed elsewhere (`--external`), scored by the same protocol; nothing was trained or
            measured here.
        published: published weights (`--weights`), run, scored and measured here like a trained row; trained
            elsewhere (`checkpoint` is the weight file).
    """

    model: str
    scale: int
    sets: dict[str, SetResult]
    parameters: int | None
    macs: int | None
    latency_ms: float | None
    peak_memory_bytes: int | None
    machine: str | None
    train_set: str | None = None
    batches: int | None = None
    train_seconds: float | None = None
    config_hash: str | None = None
    git_commit: str | None = None
    seed: int | None = None
    paper_label: str | None = None
    paper_source: str | None = None
    paper_note: str | None = None
    checkpoint: str | None = None
    run_dir: str | None = None
    train_machine: str | None = None
    architecture: str | None = None
    curve: list[tuple[float, float]] = field(default_factory=list)
    curve_sets: list[str] = field(default_factory=list)
    external: bool = False
    published: bool = False

    @property
    def is_baseline(self) -> bool:
        return self.model == BASELINE

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the per-set deltas spelled out."""
        data = asdict(self)
        for name, result in self.sets.items():
            data["sets"][name]["delta_psnr"] = result.delta_psnr
            data["sets"][name]["delta_ssim"] = result.delta_ssim
        return data


def set_results(
    sets: dict[str, dict[str, Any]],
    test_sets: list[str],
    entries: list[PaperEntry],
    model: str,
    scale: int,
    config: dict[str, Any] | None,
) -> tuple[dict[str, SetResult], PaperEntry | None]:
    """Per-set results of sisr.eval's `results["sets"]`, each with the paper's number for the same cell.

    Args:
        sets: sisr.eval results per set (psnr, ssim, psnr_rgb, count, lpips).
        test_sets: the sets to report, in order.
        entries: published results.
        model: leaderboard model name.
        scale: upscaling factor.
        config: the run's resolved config (variant matching), None for the baseline.
    """
    results: dict[str, SetResult] = {}
    entry = None
    for name in test_sets:
        scores = sets[name]
        cell: PaperCell = lookup(entries, model, scale, name, config)
        entry = cell.entry or entry
        results[name] = SetResult(
            psnr=float(scores["psnr"]),
            ssim=float(scores["ssim"]),
            psnr_rgb=float(scores["psnr_rgb"]),
            count=int(scores["count"]),
            lpips=None if scores.get("lpips") is None else float(scores["lpips"]),
            paper_psnr=cell.psnr,
            paper_ssim=cell.ssim,
            not_compared=cell.not_compared,
            data_mismatch=cell.data_mismatch,
        )
    return results, entry


def sort_rows(rows: list[Row], model_order: list[str]) -> list[Row]:
    """By scale, then the baseline, then `model_order` (the order runs were collected in: profile jobs, a two-stage
    job's PSNR model before its GAN); unknown models last, by name."""
    rank = {name: index for index, name in enumerate([BASELINE, *model_order])}
    return sorted(rows, key=lambda r: (r.scale, rank.get(r.model, len(rank)), r.model))


# ------------------------------------------------------------------------------------------------ cell text
def fmt_paper(result: SetResult) -> str:
    """"30.48 / 0.8628", "32.39 / SSIM not published" or "no published number"."""
    if result.paper_psnr is None:
        return NO_PUBLISHED_NUMBER
    ssim = f"{result.paper_ssim:.4f}" if result.paper_ssim is not None else "SSIM not published"
    return f"{result.paper_psnr:.2f} / {ssim}"


def fmt_delta(result: SetResult) -> str:
    """Our minus the paper's PSNR / SSIM, e.g. "-0.36 / -0.0116", labelled when the training data differ
    ("+0.11 / +0.0010 (trained on t91, paper on imagenet)"); "not compared (network differs: ...)" for a
    different network."""
    if result.paper_psnr is None:
        return NO_PUBLISHED_NUMBER
    if result.not_compared:
        return f"not compared ({result.not_compared})"
    assert result.delta_psnr is not None
    ssim = f"{_signed(result.delta_ssim, 4)}" if result.delta_ssim is not None else "SSIM not published"
    label = f" ({result.data_mismatch})" if result.data_mismatch else ""
    return f"{_signed(result.delta_psnr, 2)} / {ssim}{label}"


def _signed(value: float, digits: int) -> str:
    """+0.12 / -0.12, and +0.00 rather than -0.00 for a difference that rounds to zero."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"


def fmt_count(value: float, unit: str = "") -> str:
    """1234567 -> "1.23 M" (k, M, G, T)."""
    for threshold, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / threshold:.2f} {prefix}{unit}"
    return f"{value:.0f} {unit}".rstrip()


def fmt_bytes(value: int) -> str:
    """Bytes in MiB (KiB below 1 MiB)."""
    if value < 1024**2:
        return f"{value / 1024:.1f} KiB"
    return f"{value / 1024**2:.1f} MiB"


def fmt_duration(seconds: float | None) -> str:
    """Training wall time, "none (not trained)" for the baseline."""
    if seconds is None:
        return "none (not trained)"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_commit(commit: str | None) -> str:
    """The short commit, keeping the "-dirty" mark of uncommitted changes."""
    if not commit:
        return NOT_AVAILABLE
    return commit[:12] + ("-dirty" if commit.endswith("-dirty") else "")


def _or(value: Any, missing: str) -> str:
    return missing if value is None else str(value)


Column = tuple[str, Callable[[Row], str]]


def model_label(row: Row) -> str:
    """The model name with the paper's name of the compared network, e.g. "srcnn, paper: SRCNN 9-5-5"; external
    outputs are marked "(external)"."""
    name = f"{row.model} (external)" if row.external else f"{row.model} (published weights)" if row.published else row.model
    return f"{name}, paper: {row.paper_label}" if row.paper_label and not row.is_baseline else name


def _measured(value: Any, text: Callable[[Any], str]) -> str:
    """A measured cost as text; "n/a (external outputs)" for a row that has no model to measure."""
    return EXTERNAL if value is None else text(value)


def fmt_budget(row: Row) -> str:
    """"24,000 batches, 18.0 min": batches and the training wall time (its validations included)."""
    if row.external:
        return EXTERNAL
    if row.published:
        return NOT_TRAINED_HERE
    if row.batches is None:
        return "none (not trained)"
    return f"{row.batches:,} batches, {fmt_duration(row.train_seconds)}"


def fmt_protocol(row: Row) -> str:
    """The scoring protocol of the row's cells: Y channel of BT.601, `scale` border pixels cropped."""
    return f"Y (BT.601), crop {row.scale}"


def identity_columns() -> list[Column]:
    """Model, scale, network, training data, budget and protocol: the columns every table starts with."""
    return [
        ("Model", model_label),
        ("Scale", lambda r: f"x{r.scale}"),
        ("Network", lambda r: _or(r.architecture, NOT_AVAILABLE)),
        ("Parameters", lambda r: _measured(r.parameters, "{:,}".format)),
        ("Training data", lambda r: NOT_TRAINED_HERE if r.published else _or(r.train_set, "none (not trained)")),
        ("Budget", fmt_budget),
        ("Protocol", fmt_protocol),
    ]


def quality_columns(test_sets: list[str]) -> list[Column]:
    """Per set: our PSNR / SSIM (Y), the paper's, the delta, RGB PSNR and LPIPS."""
    columns = identity_columns()
    for name in test_sets:
        columns += [
            (f"{name} PSNR / SSIM (Y)", lambda r, n=name: f"{r.sets[n].psnr:.2f} / {r.sets[n].ssim:.4f}"),
            (f"{name} paper", lambda r, n=name: fmt_paper(r.sets[n])),
            (f"{name} delta", lambda r, n=name: fmt_delta(r.sets[n])),
            (f"{name} PSNR (RGB)", lambda r, n=name: f"{r.sets[n].psnr_rgb:.2f}"),
            (f"{name} LPIPS", lambda r, n=name: NOT_AVAILABLE if r.sets[n].lpips is None else f"{r.sets[n].lpips:.4f}"),
        ]
    return columns


def cost_columns(input_size: tuple[int, int]) -> list[Column]:
    """Parameters, multiply-adds, latency and memory at the stated LR size, training time and provenance."""
    size = f"{input_size[0]}x{input_size[1]} LR"
    return [
        ("Model", model_label),
        ("Scale", lambda r: f"x{r.scale}"),
        ("Parameters", lambda r: _measured(r.parameters, "{:,}".format)),
        (f"MACs ({size})", lambda r: _measured(r.macs, fmt_count)),
        (f"Latency ({size}, batch 1)", lambda r: _measured(r.latency_ms, "{:.1f} ms".format)),
        (f"Peak memory ({size})", lambda r: _measured(r.peak_memory_bytes, fmt_bytes)),
        ("Measured on", lambda r: _measured(r.machine, str)),
        ("Training time", lambda r: EXTERNAL if r.external else NOT_TRAINED_HERE if r.published else fmt_duration(r.train_seconds)),
        ("Config hash", lambda r: _or(r.config_hash, NOT_AVAILABLE)),
        ("Git commit", lambda r: fmt_commit(r.git_commit)),
        ("Seed", lambda r: NOT_TRAINED_HERE if r.published else _or(r.seed, "none (deterministic)")),
    ]


def render_cells(rows: list[Row], columns: list[Column]) -> tuple[list[str], list[list[str]]]:
    """Headers and the text cells of `rows` under `columns`."""
    return [header for header, _ in columns], [[cell(row) for _, cell in columns] for row in rows]


@dataclass
class Leaderboard:
    """Everything a report shows.

    Args:
        profile: profile name.
        description: profile description.
        test_sets: test sets, in column order.
        input_size: LR (height, width) of the compute columns.
        rows: sorted rows.
        notes: footnotes (measurement methods, LPIPS availability, paper caveats).
        created: ISO timestamp.
        plot_set: the test set whose PSNR the scatter plot shows.
        skipped: (job name, reason) of the profile's jobs that were not trained here (e.g. no VGG19 weights).
    """

    profile: str
    description: str
    test_sets: list[str]
    input_size: tuple[int, int]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    created: str = ""
    plot_set: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "description": self.description,
            "test_sets": self.test_sets,
            "input_size": list(self.input_size),
            "notes": self.notes,
            "created": self.created,
            "rows": [row.to_dict() for row in self.rows],
            "skipped": [{"job": name, "reason": reason} for name, reason in self.skipped],
        }
