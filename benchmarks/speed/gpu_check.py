"""One prepared check for a borrowed GPU: speed options, memory, host syncs, data starvation, multirun and DDP.

In one run that fits in 8 minutes on one GPU it measures and writes to a JSON report:

* per model at paper size (`step_timing.PAPER_DATA`), images/s and peak memory of sisr's training in fp32 and
  bf16-mixed, eager, eager with `model.channels_last=true` (bf16) and with `model.compile=true` (compiled runs
  come last and are skipped, with a note, when the time budget would not hold them);
* the host-device syncs between log intervals of steady-state training (`torch.cuda.set_sync_debug_mode`);
* `train/data_wait` with the real loader (data=sample, the shipped worker count);
* a 2-job multirun (`python -m sisr.train -m model=srcnn,srresnet debug=smoke`), and DDP over every visible GPU
  (`trainer=ddp debug=smoke` moved to the GPUs);
* the largest square LR image the full RRDBNet x4 upscales under `torch.no_grad` in fp32 (binary search).

Without a GPU it runs a reduced mode (tiny widths, a few steps, host reads counted instead of CUDA syncs), skips
the GPU-only parts and says so in the report's `skipped`; `tests/test_gpu_check.py` runs it so the script stays
working. VGG19 is randomly initialised (offline machines): timing does not depend on its weights.

Usage::

    python -m benchmarks.speed.gpu_check [--budget-s 420] [--output FILE]

Writes ``logs/benchmarks/speed/gpu_check.json`` under the project root after every part (a run cut short keeps
what it measured); ``--output benchmarks/results/gpu_check.json`` updates a checkout's reference copy on purpose.
"""

from __future__ import annotations

import argparse
import json
import os
import traceback
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from benchmarks.speed.machine import machine_info
from benchmarks.speed.step_timing import (
    MODELS, RANDOM_VGG, BatchClock, CudaSyncs, HostReads, ReadsPerBatch, build_sisr, compose_train, make_batches,
    replay, size_overrides,
)  # fmt: skip
from sisr.plumbing.files import write_json
from sisr.lit.data_wait import DataWait
from sisr.models.rrdbnet import RRDBNet
from sisr.plumbing.paths import log_dir
from sisr.plumbing.provenance import machine_name

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = {  # CPU mode: every network a few thousand parameters
    "srcnn": ["model.generator.num_features=8", "model.generator.mid_features=4"],
    "srresnet": ["model.generator.num_features=8", "model.generator.num_blocks=1"],
    "rrdb": ["model.generator.num_features=8", "model.generator.num_blocks=1", "model.generator.growth_channels=4"],
    "srgan": ["model.generator.num_features=8", "model.generator.num_blocks=1", "model.discriminator.num_features=4"],
    "esrgan": ["model.generator.num_features=8", "model.generator.num_blocks=1", "model.generator.growth_channels=4",
               "model.discriminator.num_features=4"],
}  # fmt: skip
TINY_DATA = ["data.batch_size=2", "data.patch_size=32", "data.scale=4"]


class Check:
    """The run's settings, time budget and report."""

    def __init__(self, budget_s: float, work: Path) -> None:
        self.gpu = torch.cuda.is_available()
        self.device = torch.device("cuda" if self.gpu else "cpu")
        self.budget_s, self.started, self.work = budget_s, time.monotonic(), work
        self.report: dict[str, Any] = {
            "benchmark": "gpu_check",
            "mode": "gpu" if self.gpu else "cpu-reduced",
            "machine": machine_info(),
            "device": machine_name(self.device),
            "budget_s": budget_s,
            "skipped": {},
            "notes": ["VGG19 randomly initialised (offline): timing and memory do not depend on its weights."],
        }

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def skip(self, part: str, reason: str) -> None:
        self.report["skipped"][part] = reason

    def sizes(self, model: str) -> list[str]:
        """Paper size on a GPU, tiny widths on a CPU."""
        if self.gpu:
            return size_overrides(model, paper_size=True)
        return [*TINY[model], *TINY_DATA, *([RANDOM_VGG] if model in ("srgan", "esrgan") else [])]

    def trainer(self, batches: int, log_every: int = 50) -> list[str]:
        accelerator = ["trainer.accelerator=gpu", "trainer.benchmark=true"] if self.gpu else ["trainer.accelerator=cpu"]
        return [*accelerator, "trainer.devices=1", f"trainer.max_steps={batches}",
                f"trainer.val_check_interval={batches + 1}", f"trainer.log_every_n_steps={log_every}",
                "trainer.enable_model_summary=false", "trainer.enable_progress_bar=false"]  # fmt: skip


# ----------------------------------------------------------------------------------------------- speed
def train_speed(check: Check, model: str, precision: str, compiled: bool, channels_last: bool = False) -> dict[str, Any]:
    """Images/s and peak memory of sisr's training of `model` on fixed device-resident batches."""
    warmup, timed = (3, 20) if check.gpu else (1, 3)
    total = warmup + timed + 1
    options = [f"trainer.precision={precision}", f"model.compile={compiled}", f"model.channels_last={channels_last}"]
    cfg = compose_train(model, [*check.sizes(model), *check.trainer(total), *options], check.work / "speed")
    batches = make_batches(cfg, total, check.device)
    if check.gpu:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    trainer, module = build_sisr(cfg, [clock := BatchClock(marks=(warmup, total - 1))])
    trainer.fit(module, train_dataloaders=replay(batches))
    s_per_batch = (clock.starts[-1] - clock.starts[warmup]) / timed
    return {
        "images_per_s": int(cfg.data.batch_size) / s_per_batch,
        "s_per_batch": s_per_batch,
        "warmup_s": clock.starts[warmup] - started,  # building, first batches and, compiled, the compilation
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if check.gpu else None,
    }


# Seconds a compiled run needs (compilation of the forward and backward graphs dominates); cheapest-informative first.
COMPILE_ORDER = {"srresnet": 60, "rrdb": 120, "esrgan": 180, "srgan": 120, "srcnn": 40}


def speed_table(check: Check, compiled: bool) -> None:
    """`train_speed` for every model and precision, eager or compiled, as the time budget allows."""
    precisions = ["bf16-mixed", "32-true"] if check.gpu else ["32-true"]
    if not check.gpu:
        check.skip("bf16-mixed", "CPU: bf16 autocast made RRDBNet 8x slower on the reference CPU; GPU only")
    if compiled and not check.gpu:
        check.skip("compile", "CPU: inductor's C++ compilation takes minutes; measured on a GPU only")
        return
    table = check.report.setdefault("speed", {})
    key = "compiled" if compiled else "eager"
    for precision in precisions:
        for model in COMPILE_ORDER if compiled else MODELS:
            needed = COMPILE_ORDER[model] if compiled else 20
            if check.left() < needed:
                check.skip(f"speed {model} {precision} {key}", f"time budget: {check.left():.0f} s left")
                continue
            table.setdefault(model, {}).setdefault(precision, {})[key] = train_speed(check, model, precision, compiled)


def channels_last_table(check: Check) -> None:
    """Eager bf16-mixed training in channels_last order, next to the eager rows (CPU: SRResNet in fp32 only)."""
    precision, models = ("bf16-mixed", MODELS) if check.gpu else ("32-true", ("srresnet",))
    for model in models:
        if check.left() < 20:
            check.skip(f"speed {model} {precision} channels_last", f"time budget: {check.left():.0f} s left")
            continue
        row = check.report["speed"][model][precision]
        row["eager_channels_last"] = train_speed(check, model, precision, compiled=False, channels_last=True)


# ----------------------------------------------------------------------------------------------- syncs
def sync_count(check: Check, model: str) -> dict[str, Any]:
    """Host-device syncs (CPU: host reads) per training batch; none may fall between log intervals."""
    log_every, batches = 4, 13
    cfg = compose_train(model, [*check.sizes(model), *check.trainer(batches, log_every)], check.work / f"sync_{model}")
    counter = CudaSyncs() if check.gpu else HostReads()
    with counter:
        probe = ReadsPerBatch(counter, first=2)
        trainer, module = build_sisr(cfg, [probe])
        trainer.fit(module, train_dataloaders=replay(make_batches(cfg, batches, check.device)))
    between = {batch: count for batch, count in probe.per_batch.items() if (batch + 1) % log_every}
    return {
        "counted": "CUDA syncs (set_sync_debug_mode)" if check.gpu else "host reads (CPU: no device to wait for)",
        "log_every_n_steps": log_every,
        "between_intervals": sum(between.values()),
        "per_batch": probe.per_batch,
        "sites": [f"{count} x {site}" for site, count in counter.sites.most_common(8)],
    }


def syncs(check: Check) -> None:
    check.report["syncs"] = {model: sync_count(check, model) for model in ("srcnn", "srresnet", "srgan")}


# ----------------------------------------------------------------------------------------------- data wait
def data_wait(check: Check) -> None:
    """`train/data_wait` of an SRResNet run on the real loader (data=sample); bf16-mixed on a GPU, the fastest."""
    batches, log_every = (60, 20) if check.gpu else (6, 3)
    overrides = [*check.sizes("srresnet"), *check.trainer(batches, log_every), "data=sample",
                 "trainer.limit_val_batches=0", f"data.cache_dir={check.work / 'cache'}"]  # fmt: skip
    overrides += ["trainer.precision=bf16-mixed"] if check.gpu else ["data.num_workers=0"]
    cfg = compose_train("srresnet", overrides, check.work / "data_wait")
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    trainer, module = build_sisr(cfg)
    trainer.fit(module, datamodule=datamodule)
    wait = next(callback for callback in trainer.callbacks if isinstance(callback, DataWait))
    check.report["data_wait"] = {
        "shares": wait.shares,  # one per log interval; the first includes the workers' start
        "num_workers": int(cfg.data.num_workers),
        "batch_size": int(cfg.data.batch_size),
        "patch_size": int(cfg.data.patch_size),
    }


# ----------------------------------------------------------------------------------------------- subprocesses
def run_train(check: Check, arguments: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m sisr.train <arguments>` in the repository, caches under the work folder."""
    env = {**os.environ, "SISR_CACHE_DIR": str(check.work / "cache")}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "sisr.train", *arguments], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout)  # fmt: skip
    return result, time.perf_counter() - started


def summaries(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob("**/metrics.json"))]


def multirun(check: Check) -> None:
    """A 2-job sweep through Hydra's launcher, smoke-sized."""
    sweep = check.work / "multirun"
    arguments = ["-m", "model=srcnn,srresnet", "debug=smoke", "data=sample", "data.patch_size=32", "data.batch_size=2",
                 "data.repeat=1", "model.generator.num_features=8", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    result, seconds = run_train(check, arguments, timeout=max(60.0, check.left()))
    jobs = summaries(sweep)
    check.report["multirun"] = {
        "returncode": result.returncode,
        "seconds": seconds,
        "statuses": [job["status"] for job in jobs],
        "error": result.stderr[-1500:] if result.returncode else None,
    }


def ddp(check: Check) -> None:
    """`trainer=ddp debug=smoke` moved onto every visible GPU."""
    if not check.gpu:
        check.skip("ddp", "no GPU: two CPU processes are tested by tests/test_ddp.py")
        return
    run_dir = check.work / "ddp"
    arguments = ["model=srresnet", "model.generator.num_features=16", "trainer=ddp", "debug=smoke", "data=sample",
                 "trainer.accelerator=gpu", "trainer.devices=-1", f"hydra.run.dir={run_dir}"]  # fmt: skip
    result, seconds = run_train(check, arguments, timeout=max(60.0, check.left()))
    runs = summaries(run_dir)
    check.report["ddp"] = {
        "returncode": result.returncode,
        "seconds": seconds,
        "visible_gpus": torch.cuda.device_count(),
        "world_size": runs[0].get("world_size") if runs else None,
        "status": runs[0].get("status") if runs else None,
        "error": result.stderr[-1500:] if result.returncode else None,
    }


# ----------------------------------------------------------------------------------------------- largest upscale
def largest_fitting(
    fits: Callable[[int], bool], start: int, cap: int, tolerance: int, time_left: Callable[[], float]
) -> tuple[int, int | None]:
    """(largest side that fits, smallest that does not; None when `cap` fitted): doubling from `start`, then
    bisection until the two are `tolerance` apart or time runs out."""
    fitted, failed, side = 0, None, start
    while side <= cap and time_left() > 0:
        if not fits(side):
            failed = side
            break
        fitted, side = side, side * 2
    while failed is not None and failed - fitted > tolerance and time_left() > 0:
        middle = (fitted + failed) // 2
        fitted, failed = (middle, failed) if fits(middle) else (fitted, middle)
    return fitted, failed


def largest_upscale(check: Check) -> None:
    """The largest square LR image RRDBNet x4 super-resolves in one forward pass under `torch.no_grad` (fp32)."""
    if check.gpu:
        net, start, cap, tolerance = RRDBNet(scale=4), 512, 16384, 128
    else:
        net, start, cap, tolerance = RRDBNet(num_features=8, num_blocks=1, growth_channels=4, scale=4), 16, 128, 16
        check.report["notes"].append("largest_upscale: CPU mode searches a tiny RRDBNet up to 128 px, not a memory limit")
    net = net.eval().to(check.device)
    peaks: dict[int, float] = {}
    errors: dict[int, str] = {}

    def fits(side: int) -> bool:
        if check.gpu:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        try:
            with torch.no_grad():
                net(torch.zeros(1, 3, side, side, device=check.device))
            if check.gpu:
                torch.cuda.synchronize()
                peaks[side] = torch.cuda.max_memory_allocated() / 2**30
            return True
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            errors[side] = str(exc).strip().splitlines()[0][:200]
            return False

    fitted, failed = largest_fitting(fits, start, cap, tolerance, lambda: check.left() - 20)
    check.report["largest_upscale"] = {
        "generator": "RRDBNet x4" + ("" if check.gpu else " (tiny)"),
        "lr_side": fitted,
        "sr_side": fitted * 4,
        "first_failing_lr_side": failed,
        "failure": errors.get(failed) if failed else None,
        "peak_memory_gib": peaks.get(fitted),
    }


# ----------------------------------------------------------------------------------------------- main
PARTS: list[tuple[str, Callable[[Check], None]]] = [
    ("speed", lambda check: speed_table(check, compiled=False)),
    ("speed_channels_last", channels_last_table),
    ("syncs", syncs),
    ("data_wait", data_wait),
    ("multirun", multirun),
    ("ddp", ddp),
    ("largest_upscale", largest_upscale),
    ("speed_compiled", lambda check: speed_table(check, compiled=True)),
]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop starting new parts after this long")
    parser.add_argument("--output", "--out", dest="output", type=Path, default=None,
                        help="result file (default: logs/benchmarks/speed/gpu_check.json)")
    args = parser.parse_args(argv)
    output = args.output or log_dir() / "benchmarks" / "speed" / "gpu_check.json"
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # as python -m sisr.train does on a GPU
    with tempfile.TemporaryDirectory() as tmp:
        check = Check(args.budget_s, Path(tmp))
        for name, part in PARTS:
            print(f"[gpu_check] {name} ({check.left():.0f} s left)", file=sys.stderr)
            try:
                part(check)
            except Exception as exc:  # noqa: BLE001 - one failing part must not lose the others' results
                check.report.setdefault("errors", {})[name] = "".join(traceback.format_exception(exc)[-3:])[-2000:]
            check.report["elapsed_s"] = time.monotonic() - check.started
            write_json(output, check.report)  # after every part: a killed run keeps what it measured
    print(f"[gpu_check] {check.report['elapsed_s']:.0f} s -> {output}", file=sys.stderr)
    return check.report


if __name__ == "__main__":
    main()
