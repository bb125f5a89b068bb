"""Run a benchmark suite and write its leaderboard: `python -m benchmarks.run --profile tiny|full`.

Trains every model of the profile (one `sisr.train` subprocess each, under logs/benchmarks/), or reads an
existing sweep with `--collect DIR` without retraining; scores every checkpoint and the bicubic baseline on the
profile's test sets with sisr.eval, measures compute, and writes leaderboard.{md,csv,json,html}, the
PSNR-versus-compute plot and the visual comparison to `benchmarks/results/<profile>/` (or `--output`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.collect import TrainedRun, find_runs
from benchmarks.html import to_html
from benchmarks.launch import train_suite
from benchmarks.papers import load_paper_entries
from benchmarks.profile import REPO_ROOT, Profile, load_profile
from benchmarks.report import to_markdown, write_csv, write_leaderboard_json
from benchmarks.table import Leaderboard, Row, sort_rows
from sisr.cli import user_error
from sisr.errors import SISRError

OUTPUTS = ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.html", "psnr_vs_compute.png")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny", help="name (benchmarks/profiles/<name>.yaml) or YAML path")
    parser.add_argument("--collect", type=Path, help="read this finished sweep folder instead of training")
    parser.add_argument("--output", type=Path, help="output folder (default: benchmarks/results/<profile>/)")
    parser.add_argument("--work-dir", type=Path, help="runs and scratch files (default: logs/benchmarks/...)")
    parser.add_argument("--models", help="comma-separated subset of the profile's models")
    parser.add_argument("--scales", help="comma-separated subset of scales, e.g. 4")
    return parser.parse_args(argv)


def _csv_list(text: str | None, kind: type = str) -> list:
    return [kind(item) for item in text.split(",") if item.strip()] if text else []


def select_runs(runs: list[TrainedRun], models: list[str], scales: list[int]) -> list[TrainedRun]:
    """The runs of the chosen models and scales (all when none are chosen)."""
    chosen = [r for r in runs if (not models or r.model in models) and (not scales or r.scale in scales)]
    if not chosen:
        raise SISRError(
            f"no run matches --models {models or 'all'} and --scales {scales or 'all'}; check the sweep folder."
        )
    return chosen


def build_leaderboard(profile: Profile, runs: list[TrainedRun], work_dir: Path) -> Leaderboard:
    """Score and measure the baseline at every scale of `runs` and every run; compare with the papers."""
    from benchmarks.assemble import baseline_row, leaderboard_notes, run_row  # imports Lightning via sisr.eval

    entries = load_paper_entries()
    rows: list[Row] = []
    notes: list[str] = []
    for scale in sorted({run.scale for run in runs}):
        row, row_notes = baseline_row(profile, entries, scale, work_dir)
        rows.append(row)
        notes += row_notes
    for run in runs:
        row, row_notes = run_row(profile, entries, run, work_dir)
        rows.append(row)
        notes += row_notes
    ordered = sort_rows(rows, [m.name for m in profile.models])
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


def make_visual(profile: Profile, board: Leaderboard, out_dir: Path, work_dir: Path) -> list[tuple[str, Path]]:
    """The zoomed crops of HR, bicubic and every model at the comparison scale (HR first)."""
    from benchmarks.visual import load_test_image, visual_comparison
    from sisr.checkpoints import load_generator
    from sisr.models.bicubic import Bicubic

    spec = profile.visual
    scales = sorted({row.scale for row in board.rows})
    scale = spec.scale if spec.scale in scales else scales[0]
    if spec.scale and spec.scale != scale:
        board.notes.append(f"Visual comparison at x{scale}: no row has visual.scale x{spec.scale}.")
    rows = [row for row in board.rows if row.scale == scale]
    sample = load_test_image(profile.resolved_data_root(), spec.set, spec.image, scale, work_dir / "visual")
    generators = [
        (f"{row.model} x{scale}", Bicubic(scale) if row.is_baseline else load_generator(row.checkpoint)[0])
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


def write_outputs(profile: Profile, board: Leaderboard, out_dir: Path, work_dir: Path) -> dict[str, Path]:
    """Write every output format into `out_dir`; returns them by name."""
    from benchmarks.plots import psnr_vs_compute

    out_dir.mkdir(parents=True, exist_ok=True)
    visual = make_visual(profile, board, out_dir, work_dir)
    plot = psnr_vs_compute(board, board.plot_set, out_dir / "psnr_vs_compute.png")
    relative = [(caption, path.relative_to(out_dir).as_posix()) for caption, path in visual]
    paths = {name: out_dir / name for name in OUTPUTS}
    paths["leaderboard.md"].write_text(to_markdown(board, plot.name, relative))
    write_csv(board, paths["leaderboard.csv"])
    write_leaderboard_json(board, paths["leaderboard.json"])
    paths["leaderboard.html"].write_text(to_html(board, plot, visual))
    return paths


def run(args: argparse.Namespace) -> dict[str, Path]:
    """The whole suite; returns the written files."""
    started = time.perf_counter()
    models, scales = _csv_list(args.models), _csv_list(args.scales, int)
    profile = load_profile(args.profile).restricted(models, scales)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    work_dir = (args.work_dir or REPO_ROOT / "logs" / "benchmarks" / profile.name / stamp).resolve()
    if args.collect:
        runs = select_runs(find_runs(args.collect), models, scales)
    else:
        sweep_dir = work_dir / "train"
        train_suite(profile, sweep_dir)
        runs = find_runs(sweep_dir)
    board = build_leaderboard(profile, runs, work_dir / "measure")
    out_dir = (args.output or REPO_ROOT / "benchmarks" / "results" / profile.name).resolve()
    paths = write_outputs(profile, board, out_dir, work_dir)
    elapsed = time.perf_counter() - started
    print(f"\n[benchmarks] {len(board.rows)} rows in {elapsed:.0f} s; runs and scratch files: {work_dir}")
    for path in paths.values():
        print(f"[benchmarks] wrote {path}")
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command-line entry; user errors print one line and exit with status 2."""
    args = parse_args(argv)
    try:
        run(args)
    except Exception as exc:  # noqa: BLE001 - re-raised unless it is the user's to fix
        cause = user_error(exc)
        if cause is None:
            raise
        print(f"error: {str(cause).strip() or type(cause).__name__}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
