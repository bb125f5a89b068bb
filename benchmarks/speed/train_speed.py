"""Per-batch wall time of `sisr.train` against a plain PyTorch loop doing the same work, side by side.

For each model both sides train on the same fixed batches from the same initial weights, in alternating order
over several rounds (`benchmarks.speed.step_timing`): the sisr side is the composed `conf/train.yaml` with its
default loggers (CSV, TensorBoard), callbacks (checkpoints, LR monitor, data-wait, progress bar) built by
`sisr.core.training`; the plain side is a hand-written loop over the same networks, losses, optimizers and schedulers.
The ratio sisr / plain is the framework's overhead; the goal is at most 1.05 for every model.

By default the networks are narrowed (`step_timing.REDUCED_WIDTHS`, 8 x 48 px HR patches) so that the five models
run in a few minutes on a CPU; `--paper-size` uses the shipped model configs and the papers' batches (for a GPU).
The timed window is 50 batches, one log interval of the default config, so it holds one write of the logs.

Usage::

    python -m benchmarks.speed.train_speed [--paper-size] [--device auto] [--models srcnn,rrdb] [--rounds 3]
                                           [--threads N] [--output FILE]

Prints a table and writes ``logs/benchmarks/speed/train_speed.json`` under the project root
(``--output benchmarks/results/train_speed.json`` updates a checkout's reference copy on purpose).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from benchmarks.speed.machine import machine_info
from benchmarks.speed.step_timing import MODELS, compare, compose_train, make_batches, size_overrides
from sisr.plumbing.files import write_json
from sisr.models.common import count_parameters
from sisr.plumbing.paths import log_dir
from sisr.plumbing.provenance import machine_name
from sisr.core.training import build_model

GOAL = 1.05


def sisr_overrides(device: str, batches: int) -> list[str]:
    """Trainer settings of the sisr side: one device, a budget of exactly `batches`, no validation in the window."""
    accelerator = "gpu" if device == "cuda" else "cpu"
    return [
        f"trainer.accelerator={accelerator}",
        "trainer.devices=1",
        f"trainer.max_steps={batches}",
        f"trainer.val_check_interval={batches + 1}",
        "trainer.enable_model_summary=false",
    ]


def measure_model(model: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Time one model on both sides; returns its settings, parameter count and `step_timing.compare`'s result."""
    total = args.warmup + args.batches + 1  # batch starts warmup .. warmup + batches are timed
    overrides = [*size_overrides(model, args.paper_size), *sisr_overrides(args.device, total)]
    cfg = compose_train(model, overrides, work / model)
    batches = make_batches(cfg, total, args.device)
    result = compare(cfg, batches, args.warmup, args.rounds)
    return {
        "overrides": size_overrides(model, args.paper_size),
        "batch_size": int(cfg.data.batch_size),
        "patch_size": int(cfg.data.patch_size),
        "generator_parameters": count_parameters(build_model(cfg).generator),
        **result,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--paper-size", action="store_true", help="shipped widths and the papers' batches (GPU)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--rounds", type=int, default=3, help="alternating sisr/plain rounds per model")
    parser.add_argument("--batches", type=int, default=50, help="timed batches per round (one log interval)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches before the timed ones")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--output", "--out", dest="output", type=Path, default=None,
                        help="result file (default: logs/benchmarks/speed/train_speed.json)")
    args = parser.parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    unknown = sorted(set(args.models.split(",")) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}.")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "benchmark": "train_speed",
        "machine": machine_info(),
        "device": machine_name(args.device),
        "size": "paper" if args.paper_size else "reduced",
        "settings": {"rounds": args.rounds, "timed_batches": args.batches, "warmup": args.warmup,
                     "log_every_n_steps": "config default", "precision": "32-true", "goal_ratio": GOAL},  # fmt: skip
        "models": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            report["models"][model] = measure_model(model, args, Path(tmp))
            row = report["models"][model]
            print(f"{model:9s} sisr {row['sisr_s_per_batch']:.4f} s/batch  plain {row['plain_s_per_batch']:.4f} "
                  f"s/batch  ratio {row['ratio']:.3f} (rounds: {', '.join(f'{r:.3f}' for r in row['ratios'])})",
                  file=sys.stderr)  # fmt: skip
    report["passed"] = all(row["ratio"] <= GOAL for row in report["models"].values())
    output = args.output or log_dir() / "benchmarks" / "speed" / "train_speed.json"
    write_json(output, report)
    print(json.dumps({m: round(r["ratio"], 3) for m, r in report["models"].items()}), f"-> {output}")
    return report


if __name__ == "__main__":
    main()
