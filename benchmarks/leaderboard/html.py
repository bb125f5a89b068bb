"""A self-contained HTML page of the leaderboard: inline CSS, images embedded as base64 data URIs, no scripts,
no external resources (it opens from a file, an e-mail or a CI artifact alike)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from benchmarks.leaderboard.report import CURVES_ALT, scoring_note
from benchmarks.leaderboard.table import Leaderboard, cost_columns, quality_columns, render_cells

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.baseline td { background: #fbf8e9; }
figure { display: inline-block; margin: 0 10px 10px 0; text-align: center; }
figure img { image-rendering: pixelated; border: 1px solid #999; display: block; }
figcaption { font-size: 12px; margin-top: 3px; }
img.plot { max-width: 100%; }
.note { color: #555; font-size: 12.5px; }
"""


def data_uri(path: Path) -> str:
    """A PNG file as a base64 data URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def html_table(board: Leaderboard, table_id: str, headers: list[str], cells: list[list[str]]) -> str:
    """A table whose rows carry the model and scale (baseline rows are highlighted)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for row, row_cells in zip(board.rows, cells):
        css = ' class="baseline"' if row.is_baseline else ""
        tds = "".join(f"<td>{escape(c)}</td>" for c in row_cells)
        body.append(f'<tr{css} data-model="{escape(row.model)}" data-scale="{row.scale}">{tds}</tr>')
    return (
        f'<div class="scroll"><table id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def to_html(
    board: Leaderboard,
    plot: Path | None = None,
    visual: list[tuple[str, Path]] | None = None,
    curves: Path | None = None,
) -> str:
    """The leaderboard page.

    Args:
        board: the leaderboard.
        plot: the PSNR-versus-compute PNG, embedded if given.
        visual: (caption, PNG) of the zoomed crops, HR first, embedded if given.
        curves: the learning-curves PNG (validation PSNR against training minutes), embedded if given.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sisr leaderboard: {escape(board.profile)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Leaderboard: <code>{escape(board.profile)}</code> profile</h1>",
    ]
    if board.description:
        parts.append(f"<p>{escape(board.description)}</p>")
    parts.append(f'<p class="note">{escape(scoring_note(board.test_sets))}</p>')
    parts.append("<h2>Quality</h2>")
    parts.append(html_table(board, "quality", *render_cells(board.rows, quality_columns(board.test_sets))))
    parts.append("<h2>Compute and provenance</h2>")
    parts.append(html_table(board, "cost", *render_cells(board.rows, cost_columns(board.input_size))))
    if board.skipped:
        parts.append("<h2>Skipped rows</h2>")
        items = "".join(f"<li><b>{escape(name)}</b>: {escape(reason)}</li>" for name, reason in board.skipped)
        parts.append(f'<ul id="skipped">{items}</ul>')
    if curves is not None:
        parts.append("<h2>Learning curves</h2>")
        parts.append(f'<img class="plot" id="curves" alt="{escape(CURVES_ALT)}" src="{data_uri(curves)}">')
    if plot is not None:
        alt = f"PSNR on {board.plot_set} versus multiply-adds and latency"
        parts.append("<h2>PSNR versus compute</h2>")
        parts.append(f'<img class="plot" id="plot" alt="{escape(alt)}" src="{data_uri(plot)}">')
    if visual:
        parts.append("<h2>Visual comparison</h2>")
        parts.append('<p class="note">The same crop from every output, zoomed with nearest-neighbour.</p>')
        parts.append('<div id="visual">')
        for caption, path in visual:
            image = f'<img alt="{escape(caption)}" src="{data_uri(path)}">'
            parts.append(f"<figure>{image}<figcaption>{escape(caption)}</figcaption></figure>")
        parts.append("</div>")
    if board.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(note)}</li>" for note in board.notes) + "</ul>")
    if board.created:
        parts.append(f'<p class="note">Generated {escape(board.created)} by <code>python -m benchmarks.run</code>.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)
