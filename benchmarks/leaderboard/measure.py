"""Compute cost of a generator: multiply-adds, inference latency and peak memory for a stated LR input size.

Multiply-adds come from `torch.utils.flop_counter.FlopCounterMode`, which counts convolutions and matrix products (2
FLOPs per multiply-add); element-wise work such as bicubic interpolation, activations and normalisation is not
counted. Latency is the median of timed batch-1 forward passes after warm-up. Peak memory is measured in a fresh
process (`python -m benchmarks.leaderboard.measure SPEC.json RESULT.json`), so nothing measured before pollutes it:
on CUDA it is `torch.cuda.max_memory_allocated` above the loaded model and input; on CPU it is the growth of the
process's peak resident set (Linux VmHWM, reset through /proc/self/clear_refs) during the first forward pass above
the resident set with the model and input loaded, so it includes one-time allocations of that pass.
"""

from __future__ import annotations

import gc
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from sisr.plumbing.cli import run_reporting_user_errors
from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import write_json

LATENCY_METHOD = "median of {repeats} batch-1 forward passes after {warmup} warm-up passes, {threads} thread(s)"
CPU_MEMORY_METHOD = "peak resident-set growth during the first forward pass in a fresh process (Linux VmHWM)"
CUDA_MEMORY_METHOD = "torch.cuda.max_memory_allocated above the loaded model and input"
_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_RESET_PEAK_RSS = "5"  # writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)


def resolve_device(device: str) -> torch.device:
    """"auto" -> CUDA when available, else CPU; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SISRError(f"measure.device is {device!r} but no CUDA device is visible; use 'auto' or 'cpu'.")
    return torch.device(device)


def count_macs(model: nn.Module, lr: Tensor) -> int:
    """Multiply-adds of one forward pass of `model` on `lr` (convolutions and matrix products only).

    Args:
        model: the network.
        lr: an input batch.
    """
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(lr)
    return counter.get_total_flops() // 2  # FlopCounterMode counts a multiply-add as 2 FLOPs


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_latency_ms(model: nn.Module, lr: Tensor, warmup: int, repeats: int) -> float:
    """Median wall time in milliseconds of `repeats` forward passes after `warmup` untimed ones.

    Args:
        model: the network, already on `lr`'s device.
        lr: the input batch.
        warmup: untimed passes first (allocator, kernel selection).
        repeats: timed passes.
    """
    if repeats < 1:
        raise SISRError(f"measure.repeats must be at least 1, got {repeats}.")
    timings = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(lr)
        _synchronize(lr.device)
        for _ in range(repeats):
            start = time.perf_counter()
            model(lr)
            _synchronize(lr.device)
            timings.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(timings)


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", _PROC_STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise SISRError(f"{_PROC_STATUS} has no {field} line; peak CPU memory needs Linux.")
    return int(match.group(1))


def peak_memory_bytes(model: nn.Module, lr: Tensor) -> int:
    """Peak memory one forward pass needs beyond the loaded model and input (see the module docstring).

    Args:
        model: the network, already on `lr`'s device.
        lr: the input batch.
    """
    gc.collect()
    with torch.inference_mode():
        if lr.device.type == "cuda":
            torch.cuda.synchronize(lr.device)
            torch.cuda.reset_peak_memory_stats(lr.device)
            before = torch.cuda.memory_allocated(lr.device)
            model(lr)
            torch.cuda.synchronize(lr.device)
            return torch.cuda.max_memory_allocated(lr.device) - before
        if not _CLEAR_REFS.exists():
            raise SISRError("peak CPU memory is measured through /proc/self/clear_refs, which needs Linux.")
        _CLEAR_REFS.write_text(_RESET_PEAK_RSS)
        before = _status_kib("VmRSS")
        model(lr)
        return max(_status_kib("VmHWM") - before, 0) * 1024


def build_generator(spec: dict[str, Any]) -> nn.Module:
    """The generator a measurement spec names: a checkpoint, any weight file sisr reads, or a parameter-free
    generator config."""
    if spec.get("weights"):
        from sisr.weights.loading import load_weights

        return load_weights(spec["weights"]).generator
    if spec.get("checkpoint"):
        from sisr.weights.checkpoints import load_generator  # imported here: it pulls in Lightning, needed only for checkpoints

        return load_generator(spec["checkpoint"], use_ema=spec.get("use_ema", True))[0]
    return instantiate(spec["generator"]).eval()


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Measure a generator in this process; the fields are documented in :func:`measure_in_subprocess`."""
    from sisr.models.common import count_parameters
    from sisr.plumbing.provenance import machine_name

    device = resolve_device(spec.get("device", "auto"))
    height, width = spec["input_size"]
    torch.manual_seed(0)
    model = build_generator(spec).to(device).eval()
    lr = torch.rand(1, 3, height, width, device=device)
    memory = peak_memory_bytes(model, lr)  # first: a fresh process has allocated nothing for forward passes yet
    latency = median_latency_ms(model, lr, spec.get("warmup", 3), spec.get("repeats", 10))
    return {
        "parameters": count_parameters(model),
        "macs": count_macs(model, lr),
        "input_size": [height, width],
        "latency_ms": latency,
        "latency_method": LATENCY_METHOD.format(
            repeats=spec.get("repeats", 10), warmup=spec.get("warmup", 3), threads=torch.get_num_threads()
        ),
        "peak_memory_bytes": memory,
        "memory_method": CUDA_MEMORY_METHOD if device.type == "cuda" else CPU_MEMORY_METHOD,
        "device": device.type,
        "machine": machine_name(device),
    }


def measure_in_subprocess(spec: dict[str, Any], work_dir: Path) -> dict[str, Any]:
    """Measure a generator in a fresh Python process.

    Args:
        spec: {"checkpoint": path}, {"weights": path} (any weight file sisr reads) or {"generator": {_target_:
            ..., ...}} (parameter-free baselines), plus
            "input_size": [h, w] (LR), "warmup", "repeats", "device".
        work_dir: where the spec and the result are written.

    Returns:
        parameters, macs, input_size, latency_ms, latency_method, peak_memory_bytes, memory_method, device, machine.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    spec_path, result_path = work_dir / "measure_spec.json", work_dir / "measure.json"
    write_json(spec_path, spec)
    process = subprocess.run(
        [sys.executable, "-m", "benchmarks.leaderboard.measure", str(spec_path), str(result_path)],
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        tail = (process.stderr or process.stdout).strip().splitlines()[-1:] or ["no output"]
        what = spec.get("checkpoint") or spec.get("weights") or spec.get("generator")
        raise SISRError(f"measuring {what} failed: {tail[0]}")
    return json.loads(result_path.read_text())


def measure_files(spec_path: Path, result_path: Path) -> None:
    """Measure the generator `spec_path` describes; write the result to `result_path`."""
    write_json(result_path, measure(json.loads(spec_path.read_text())))


def main(argv: list[str]) -> None:
    """Worker entry: `python -m benchmarks.leaderboard.measure SPEC.json RESULT.json`; a user error is one line on
    stderr (exit status 2), which the parent reports."""
    run_reporting_user_errors(measure_files, Path(argv[0]), Path(argv[1]))


if __name__ == "__main__":
    main(sys.argv[1:])
