"""The PSNR-versus-compute scatter plot (matplotlib, PNG)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from benchmarks.leaderboard.table import Leaderboard  # noqa: E402

_MARKERS = {2: "o", 3: "s", 4: "^", 8: "D"}


def crowding(placed: dict[tuple[float, float], int], x: float, y: float) -> int:
    """How many labels were already put at about this (log x, y) point, so the next one moves down a line."""
    key = (round(math.log10(x) * 10) / 10, round(y * 2) / 2)  # a tenth of a decade by half a dB
    placed[key] = placed.get(key, -1) + 1
    return placed[key]


def psnr_vs_compute(board: Leaderboard, set_name: str, path: Path) -> Path:
    """Plot each row's Y PSNR on `set_name` against its multiply-adds and its latency (log x axes).

    Args:
        board: the leaderboard.
        set_name: the test set whose PSNR is plotted.
        path: the PNG to write.
    """
    size = f"{board.input_size[0]}x{board.input_size[1]} LR"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    panels = ((axes[0], "macs", f"multiply-adds ({size})"), (axes[1], "latency_ms", f"latency, ms ({size}, batch 1)"))
    scales = sorted({row.scale for row in board.rows})
    for ax, attribute, label in panels:
        placed: dict[tuple[float, float], int] = {}
        for scale in scales:
            rows = [r for r in board.rows if r.scale == scale and (getattr(r, attribute) or 0) > 0]  # external: None
            xs = [getattr(r, attribute) for r in rows]
            ys = [r.sets[set_name].psnr for r in rows]
            ax.scatter(xs, ys, marker=_MARKERS.get(scale, "o"), s=48, label=f"x{scale}")
            for row, x, y in zip(rows, xs, ys):
                offset = (5, 4 - 10 * crowding(placed, x, y))
                ax.annotate(row.model, (x, y), textcoords="offset points", xytext=offset, fontsize=8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels of a log axis overlap
        ax.set_xlabel(label)
        ax.set_ylabel(f"PSNR on {set_name}, Y (dB)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="scale", fontsize=8)
    machine = next((row.machine for row in board.rows if row.machine), "")
    fig.suptitle(f"PSNR versus compute ({board.profile} profile; latency on {machine})", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(board: Leaderboard, path: Path) -> Path | None:
    """Plot every trained row's mean validation PSNR (the mean of its validation sets' means) against its wall
    minutes of training (validations included), one panel per scale, with bicubic's level on the same sets; None
    (nothing written) when no row logged a curve.

    Args:
        board: the leaderboard.
        path: the PNG to write.
    """
    rows = [row for row in board.rows if row.curve]
    if not rows:
        return None
    scales = sorted({row.scale for row in rows})
    fig, axes = plt.subplots(1, len(scales), figsize=(5.5 * len(scales), 4.2), constrained_layout=True, squeeze=False)
    for ax, scale in zip(axes[0], scales):
        for row in (r for r in rows if r.scale == scale):
            minutes, psnr = zip(*row.curve)
            ax.plot(minutes, psnr, marker="o", markersize=3, label=f"{row.model} ({row.train_set})")
        for val_sets in sorted({tuple(r.curve_sets) for r in rows if r.scale == scale}):
            for baseline in (r for r in board.rows if r.is_baseline and r.scale == scale):
                if val_sets and all(name in baseline.sets for name in val_sets):  # same sets, same mean of means
                    level = sum(baseline.sets[name].psnr for name in val_sets) / len(val_sets)
                    ax.axhline(level, color="gray", linestyle="--", linewidth=1,
                               label=f"bicubic (mean of {', '.join(val_sets)})")  # fmt: skip
        ax.set_title(f"x{scale}", fontsize=10)
        ax.set_xlabel("training wall minutes (validations included)")
        ax.set_ylabel("mean validation PSNR, Y (dB)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Validation PSNR during training ({board.profile} profile)", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
