"""Write a leaderboard as Markdown (README-ready), CSV and JSON."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from benchmarks.leaderboard.papers import NO_PUBLISHED_NUMBER
from benchmarks.leaderboard.table import (
    EXTERNAL,
    NOT_AVAILABLE,
    Leaderboard,
    Row,
    SetResult,
    cost_columns,
    fmt_protocol,
    quality_columns,
    render_cells,
)
from sisr.plumbing.files import write_json

NOT_TRAINED = "none (not trained)"
CURVES_ALT = "Mean validation PSNR against training wall minutes, per row"


def scoring_note(test_sets: list[str]) -> str:
    """How the quality columns are computed."""
    return (
        f"Scores on {', '.join(test_sets)}: PSNR (dB) / SSIM on the BT.601 Y channel with `scale` pixels cropped from "
        "every border, per image then averaged (the papers' protocol); RGB PSNR on all three channels; "
        "delta = ours minus the paper's number for the same model, scale and set."
    )


def markdown_table(headers: list[str], cells: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    escape = lambda text: str(text).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in cells]
    return "\n".join(lines)


def to_markdown(
    board: Leaderboard,
    plot: str | None = None,
    visual: list[tuple[str, str]] | None = None,
    curves: str | None = None,
) -> str:
    """The leaderboard as Markdown.

    Args:
        board: the leaderboard.
        plot: relative path of the PSNR-versus-compute PNG, if made.
        visual: (caption, relative PNG path) of the zoomed crops, HR first, if made.
        curves: relative path of the learning-curves PNG (validation PSNR against training minutes), if made.
    """
    parts = [f"# Leaderboard: `{board.profile}` profile", ""]
    if board.description:
        parts += [board.description, ""]
    parts += [scoring_note(board.test_sets), ""]
    quality = markdown_table(*render_cells(board.rows, quality_columns(board.test_sets)))
    cost = markdown_table(*render_cells(board.rows, cost_columns(board.input_size)))
    parts += ["## Quality", "", quality, "", "## Compute and provenance", "", cost, ""]
    if board.skipped:
        parts += ["## Skipped rows", "", markdown_table(["Job", "Why"], [list(item) for item in board.skipped]), ""]
    if curves:
        parts += ["## Learning curves", "", f"![{CURVES_ALT}]({curves})", ""]
    if plot:
        alt = f"PSNR on {board.plot_set} versus multiply-adds and latency"
        parts += ["## PSNR versus compute", "", f"![{alt}]({plot})", ""]
    if visual:
        parts += ["## Visual comparison", "", visual_caption_line(visual), ""]
        parts += [markdown_table([caption for caption, _ in visual], [[f"![{c}]({p})" for c, p in visual]]), ""]
    if board.notes:
        parts += ["## Notes", ""] + [f"- {note}" for note in board.notes] + [""]
    if board.created:
        parts += [f"Generated {board.created} by `python -m benchmarks.run`.", ""]
    return "\n".join(parts)


def visual_caption_line(visual: list[tuple[str, str]]) -> str:
    return "The same crop, zoomed with nearest-neighbour: " + ", ".join(caption for caption, _ in visual) + "."


def _delta(result: SetResult, delta: float | None, digits: int) -> Any:
    """A delta cell: the rounded number, "not compared" for another network, else "no published number"."""
    if delta is not None:
        return round(delta, digits)
    return "not compared" if result.not_compared else NO_PUBLISHED_NUMBER


def csv_record(row: Row, input_size: tuple[int, int]) -> dict[str, Any]:
    """One flat CSV record; a value that does not exist is a word, never an empty cell."""

    def value(v: Any, missing: str) -> Any:
        return missing if v is None else v

    record: dict[str, Any] = {
        "model": row.model,
        "scale": row.scale,
        "train_set": value(row.train_set, NOT_TRAINED),
        "batches": value(row.batches, NOT_TRAINED),
        "train_seconds": value(row.train_seconds, NOT_TRAINED),
        "network": value(row.architecture, NOT_AVAILABLE),
        "protocol": fmt_protocol(row),
    }
    for name, result in row.sets.items():
        record |= {
            f"{name}_psnr": round(result.psnr, 4),
            f"{name}_ssim": round(result.ssim, 6),
            f"{name}_psnr_rgb": round(result.psnr_rgb, 4),
            f"{name}_lpips": value(result.lpips, NOT_AVAILABLE),
            f"{name}_images": result.count,
            f"{name}_paper_psnr": value(result.paper_psnr, NO_PUBLISHED_NUMBER),
            f"{name}_paper_ssim": value(result.paper_ssim, NO_PUBLISHED_NUMBER),
            f"{name}_delta_psnr": _delta(result, result.delta_psnr, 4),
            f"{name}_delta_ssim": _delta(result, result.delta_ssim, 6),
            f"{name}_delta_label": result.not_compared or result.data_mismatch or "same network and data",
        }
    record |= {
        "parameters": value(row.parameters, EXTERNAL),
        "lr_input": f"{input_size[0]}x{input_size[1]}",
        "macs": value(row.macs, EXTERNAL),
        "latency_ms": EXTERNAL if row.latency_ms is None else round(row.latency_ms, 3),
        "peak_memory_bytes": value(row.peak_memory_bytes, EXTERNAL),
        "measured_on": value(row.machine, EXTERNAL),
        "external": row.external,
        "published": row.published,
        "config_hash": value(row.config_hash, NOT_AVAILABLE),
        "git_commit": value(row.git_commit, NOT_AVAILABLE),
        "seed": value(row.seed, "none (deterministic)"),
        "paper": value(row.paper_label, NO_PUBLISHED_NUMBER),
        "paper_source": value(row.paper_source, NO_PUBLISHED_NUMBER),
    }
    return record


def write_csv(board: Leaderboard, path: Path) -> None:
    """One line per row, every set's columns side by side."""
    records = [csv_record(row, board.input_size) for row in board.rows]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]) if records else ["model"])
        writer.writeheader()
        writer.writerows(records)


def write_leaderboard_json(board: Leaderboard, path: Path) -> None:
    """The full leaderboard data."""
    write_json(path, board.to_dict())
