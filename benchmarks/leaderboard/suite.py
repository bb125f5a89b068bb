"""The leaderboard pipeline in order: profile -> train (or collect an existing sweep) -> score and measure every run
(assemble) -> render the leaderboard files. `python -m benchmarks.run` is its command line.

Everything a suite writes goes to its work folder, by default `<project root>/logs/benchmarks/<profile>/<time>/`
(sisr.plumbing.paths): `train/` (one folder per job), `measure/` (evaluations and measurements) and the leaderboard files.
A checkout's committed reference copy (benchmarks/results/<profile>/) changes only when it is named as the output.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from benchmarks.leaderboard.assemble import ExternalOutputs, PublishedWeights, build_leaderboard
from benchmarks.leaderboard.collect import TrainedRun, find_runs, in_profile_order, select_runs
from benchmarks.leaderboard.html import to_html
from benchmarks.leaderboard.profile import Profile, runnable_jobs
from benchmarks.leaderboard.report import to_markdown, write_csv, write_leaderboard_json
from benchmarks.leaderboard.table import Leaderboard
from benchmarks.leaderboard.train import train_suite
from sisr.plumbing.files import write_json
from sisr.plumbing.paths import log_dir
from sisr.plumbing.stop_signals import StopRequested, StopSignals

SUITE_STATUS = "suite.json"  # in the work folder: completed (with the files written) or interrupted (with the phase)
OUTPUTS = ("leaderboard.md", "leaderboard.csv", "leaderboard.json", "leaderboard.html", "psnr_vs_compute.png")
CURVES = "learning_curves.png"  # written when the runs logged validation PSNR against training minutes


def default_work_dir(profile: Profile) -> Path:
    """`<project root>/logs/benchmarks/<profile>/<time>/`, a fresh folder per suite run."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return log_dir() / "benchmarks" / profile.name / stamp


def trained_runs(profile: Profile, work_dir: Path, launcher: str | None = None) -> list[TrainedRun]:
    """Train every job of `profile` into `<work_dir>/train/` (through `launcher` in parallel, if given); returns its
    runs in profile order."""
    job_dirs = train_suite(profile, work_dir / "train", launcher)
    return [run for job_dir in job_dirs for run in find_runs(job_dir)]


def collected_runs(profile: Profile, sweep_dir: Path, models: list[str], scales: list[int]) -> list[TrainedRun]:
    """The runs of an existing sweep folder (only those of `models`, by row name, and `scales`, when given)."""
    runs = select_runs(find_runs(sweep_dir), models, scales)
    return in_profile_order(runs, profile, sweep_dir)


def write_outputs(profile: Profile, board: Leaderboard, out_dir: Path, work_dir: Path) -> dict[str, Path]:
    """Render the leaderboard into `out_dir` (every format, the plot and the visual comparison); returns the files.

    Args:
        profile: the suite.
        board: the scored leaderboard.
        out_dir: the output folder.
        work_dir: scratch folder.
    """
    from benchmarks.leaderboard.plots import learning_curves, psnr_vs_compute  # matplotlib, only when rendering
    from benchmarks.leaderboard.visual import make_visual

    out_dir.mkdir(parents=True, exist_ok=True)
    visual = make_visual(profile, board, out_dir, work_dir)
    plot = psnr_vs_compute(board, board.plot_set, out_dir / "psnr_vs_compute.png")
    (out_dir / CURVES).unlink(missing_ok=True)  # never leave an older run's curves beside this leaderboard
    curves = learning_curves(board, out_dir / CURVES)
    relative = [(caption, path.relative_to(out_dir).as_posix()) for caption, path in visual]
    paths = {name: out_dir / name for name in OUTPUTS}
    if curves:
        paths[CURVES] = curves
    paths["leaderboard.md"].write_text(to_markdown(board, plot.name, relative, curves.name if curves else None))
    write_csv(board, paths["leaderboard.csv"])
    write_leaderboard_json(board, paths["leaderboard.json"])
    paths["leaderboard.html"].write_text(to_html(board, plot, visual, curves))
    return paths


def run_suite(
    profile: Profile,
    work_dir: Path,
    out_dir: Path | None = None,
    collect: Path | None = None,
    models: list[str] | None = None,
    scales: list[int] | None = None,
    launcher: str | None = None,
    external: list[ExternalOutputs] | None = None,
    published: list[PublishedWeights] | None = None,
    train: bool = True,
) -> dict[str, Path]:
    """Train (or collect), score, measure and render; returns the written leaderboard files.

    Args:
        profile: the suite, already restricted to the chosen jobs and scales.
        work_dir: the suite's work folder.
        out_dir: where the leaderboard files go; None: `work_dir`.
        collect: an existing sweep folder to read instead of training.
        models: with `collect`, the rows to keep (model names); None keeps every run.
        scales: with `collect`, the scales to keep; None keeps every run.
        launcher: a Hydra launcher (conf/hydra/launcher/<name>.yaml) to train all jobs through in parallel.
        external: SR images computed elsewhere, added as rows labelled external.
        published: published weight files, added as rows labelled published weights.
        train: False leaves the profile's jobs out (no training, no collecting): only the published and external
            rows, with bicubic at their scales.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    given_rows_only = not (train or collect)
    with StopSignals("training the jobs"):
        try:
            profile, skipped = (profile, []) if given_rows_only else runnable_jobs(profile)
            for name, reason in skipped:
                print(f"[benchmarks] {name}: {reason}", flush=True)
            if collect:
                StopSignals.enter_phase("collecting the runs")
                runs = collected_runs(profile, collect, models or [], scales or [])
            elif train:
                runs = trained_runs(profile, work_dir, launcher)
            else:
                runs = []
            scratch = work_dir / "measure"
            StopSignals.enter_phase("scoring")
            board = build_leaderboard(profile, runs, scratch, external, published)
            board.skipped = skipped
            if given_rows_only:
                board.description = (
                    f"Published weights and external outputs only (--no-training): none of the {profile.name} "
                    f"profile's jobs were trained or collected; its test sets and measurement settings are used. "
                    f"The profile: {profile.description}"
                )
            StopSignals.enter_phase("rendering")
            paths = write_outputs(profile, board, out_dir or work_dir, scratch)
        except StopRequested as stop:  # the leaderboard files of an earlier run in out_dir are left as they were
            write_json(work_dir / SUITE_STATUS, {"status": "interrupted", "phase": stop.phase, "error": str(stop)})
            raise
    write_json(work_dir / SUITE_STATUS, {"status": "completed", "outputs": {name: str(path) for name, path in paths.items()}})
    return paths
