"""Run a benchmark suite and write its leaderboard: `python -m benchmarks.run --profile tiny|full [--collect DIR]`.

Trains every job of the profile (one `sisr.train` subprocess each; a two-stage experiment gives its PSNR model's
row and its GAN's row), or reads an existing sweep with `--collect DIR` without retraining; scores every run's
final weights and the bicubic baseline on the profile's test sets with sisr.eval, measures compute, and writes
leaderboard.{md,csv,json,html}, the PSNR-versus-compute plot and the visual comparison into the work folder,
`logs/benchmarks/<profile>/<time>/` under the project root (or `--output DIR`, e.g. `benchmarks/results/tiny` to
update a checkout's reference copy on purpose). `--external NAME:SCALE=FOLDER` adds SR images computed elsewhere
(another paper's released outputs) as a row labelled external, scored by the same protocol; `--weights
NAME:SCALE=FILE` adds published weights (any file sisr reads, ncnn included) as a row labelled published weights,
run, scored and measured like a trained row; `--no-training` leaves the profile's jobs out and scores only those
rows, next to bicubic. The pipeline itself
is benchmarks.leaderboard.suite.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.leaderboard.assemble import ExternalOutputs, PublishedWeights
from benchmarks.leaderboard.profile import load_profile
from benchmarks.leaderboard.suite import default_work_dir, run_suite
from sisr.plumbing.cli import run_until_stopped
from sisr.plumbing.errors import SISRError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="tiny", help="a packaged profile name (tiny, full) or a YAML path")
    parser.add_argument("--collect", type=Path, help="read this finished sweep folder instead of training")
    parser.add_argument(
        "--no-training", action="store_true", help="train and collect nothing: score only the --weights and "
        "--external rows, with bicubic at their scales (published weights on their own leaderboard)"
    )  # fmt: skip
    parser.add_argument(
        "--output", type=Path, help="leaderboard folder (default: the work folder; benchmarks/results/<profile> "
        "updates the committed reference copy)"
    )  # fmt: skip
    parser.add_argument("--work-dir", type=Path, help="runs and scratch (default: logs/benchmarks/<profile>/<time>)")
    parser.add_argument(
        "--models", help="comma-separated profile jobs to train, by job name (a two-stage job such as srgan trains "
        "and reports both its stages, srresnet and srgan); with --collect, the rows to keep, by model name"
    )  # fmt: skip
    parser.add_argument("--scales", help="comma-separated subset of scales, e.g. 4")
    parser.add_argument(
        "--launcher", help="submit every job at once through this Hydra launcher (slurm, local; conf/hydra/launcher/) "
        "instead of training them one after another here"
    )  # fmt: skip
    parser.add_argument(
        "--external", action="append", default=[], metavar="NAME:SCALE=FOLDER",
        help="add SR images computed elsewhere as a row labelled external, e.g. srcnn:3=released/srcnn_x3 (one "
        "subfolder per test set, images matched to HR by name; repeatable)"
    )  # fmt: skip
    parser.add_argument(
        "--weights", action="append", default=[], metavar="NAME:SCALE=FILE",
        help="add published weights (any file sisr reads: .pth, ncnn .param, a sisr export) as a row labelled "
        "published weights, e.g. realesrgan_x4plus:4=realesrgan-x4plus.param (repeatable)"
    )  # fmt: skip
    return parser.parse_args(argv)


def _parse_spec(text: str, flag: str, what: str, example: str) -> tuple[str, int, Path]:
    """`NAME:SCALE=<what>` as (name, scale, expanded path), or one sentence saying what is wrong."""
    spec, _, target = text.partition("=")
    name, _, scale = spec.partition(":")
    if not (name and scale.isdigit() and target):
        raise SISRError(f"{flag} {text!r} is not NAME:SCALE={what}; write e.g. {flag} {example}.")
    return name, int(scale), Path(target).expanduser()


def parse_external(text: str) -> ExternalOutputs:
    """`NAME:SCALE=FOLDER` as ExternalOutputs, or one sentence saying what is wrong."""
    name, scale, path = _parse_spec(text, "--external", "FOLDER", "srcnn:3=released/x3")
    if not path.is_dir():
        raise SISRError(f"--external folder {path} does not exist; give a folder with one subfolder per test set.")
    return ExternalOutputs(name=name, scale=scale, folder=path.resolve())


def parse_weights(text: str) -> PublishedWeights:
    """`NAME:SCALE=FILE` as PublishedWeights, or one sentence saying what is wrong."""
    name, scale, path = _parse_spec(text, "--weights", "FILE", "esrgan:4=RRDB_ESRGAN_x4.pth")
    if not path.is_file():
        raise SISRError(f"--weights file {path} does not exist; give a weight file sisr reads (.pth, ncnn .param).")
    return PublishedWeights(name=name, scale=scale, file=path.resolve())


def _csv_list(text: str | None, kind: type = str) -> list:
    return [kind(item) for item in text.split(",") if item.strip()] if text else []


def run(args: argparse.Namespace) -> dict[str, Path]:
    """The whole suite for parsed arguments; returns the written leaderboard files."""
    started = time.perf_counter()
    models, scales = _csv_list(args.models), _csv_list(args.scales, int)
    profile = load_profile(args.profile)
    profile = profile.restricted(scales=scales) if args.collect else profile.restricted(models, scales)
    work_dir = (args.work_dir or default_work_dir(profile)).resolve()
    out_dir = args.output.resolve() if args.output else None
    external = [parse_external(text) for text in args.external]
    published = [parse_weights(text) for text in args.weights]
    if args.no_training and (args.collect or not (external or published)):
        raise SISRError("--no-training scores only --weights and --external rows; give one of them, and no --collect.")
    paths = run_suite(
        profile,
        work_dir,
        out_dir,
        collect=args.collect,
        models=models,
        scales=scales,
        launcher=args.launcher,
        external=external,
        published=published,
        train=not args.no_training,
    )
    print(f"\n[benchmarks] leaderboard in {time.perf_counter() - started:.0f} s; runs and scratch files: {work_dir}")
    for path in paths.values():
        print(f"[benchmarks] wrote {path}")
    return paths


def main(argv: list[str] | None = None) -> None:
    """Command-line entry; a user error prints one line and exits with status 2, a stop signal exits 128 + its
    number after the running job saved its state (`suite.json` in the work folder says where it stopped)."""
    hint = "the work folder's suite.json says where; --collect <work folder>/train scores the jobs that finished"
    run_until_stopped(run, parse_args(argv), hint=hint)


if __name__ == "__main__":
    main()
