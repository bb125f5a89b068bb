"""Running a generator on real hardware: device and precision choice, and tiles sized to a memory budget.

Measured on this project's 2-core CPU (AMD EPYC with AVX-512 BF16), RRDBNet x4 on a 96x96 LR image: fp16
autocast ran about 150x slower than fp32, and bf16 autocast, while faster, changed half of the output pixels by
more than 1/255. Half precision is therefore CUDA-only.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sisr.plumbing.errors import SISRError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
CPU_MEMORY_BUDGET_MB = 1024  # activations of one tile on the CPU, by default
CUDA_FREE_FRACTION = 0.5  # share of the free GPU memory one tile may use, by default
# The largest single activation times this is taken as a forward pass's peak: it covers the layer's input and
# output living together, concatenations and the convolution backend's reordered copies.
PEAK_FACTOR = 4
PROBE_SIDE = 16  # LR side of the probe forward pass that measures activation sizes
MIN_TILE = 32  # never tile finer than this many LR pixels (the overlap would dominate)


def pick_device(name: str) -> torch.device:
    """`auto` (CUDA when available), `cpu` or `cuda`; asking for an absent GPU is an error."""
    if name not in ("auto", "cpu", "cuda"):
        raise SISRError(f"device={name} is not one of auto, cpu, cuda.")
    if name == "cuda" and not torch.cuda.is_available():
        raise SISRError("device=cuda but PyTorch sees no CUDA GPU here; use device=cpu or device=auto.")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def pick_precision(name: str, device: torch.device) -> torch.dtype:
    """The compute dtype of `precision=fp32|bf16|fp16`; half precision only on CUDA."""
    if name not in PRECISIONS:
        raise SISRError(f"precision={name} is not one of {', '.join(PRECISIONS)}.")
    if name != "fp32" and device.type != "cuda":
        raise SISRError(
            f"precision={name} runs only on CUDA: on this project's CPU, fp16 autocast made RRDBNet x4 about 150x "
            "slower than fp32 and bf16 autocast changed half of its output pixels by more than 1/255 (measured); "
            "use precision=fp32 or device=cuda."
        )
    return PRECISIONS[name]


@dataclass
class Runner:
    """A generator placed on a device, called under the chosen precision.

    Args:
        model: the generator, in eval mode, on `device`.
        device: where it runs.
        dtype: the autocast dtype (float32: no autocast).
        channels_last: feed NHWC tensors (faster convolutions on CUDA tensor cores).
    """

    model: nn.Module
    device: torch.device
    dtype: torch.dtype = torch.float32
    channels_last: bool = False

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """No autograd, plus autocast to `dtype` when it is not float32."""
        with torch.no_grad():
            if self.dtype == torch.float32:
                yield
            else:
                with torch.autocast(self.device.type, dtype=self.dtype):
                    yield

    def __call__(self, lr: Tensor) -> Tensor:
        lr = lr.to(self.device)
        if self.channels_last:
            lr = lr.contiguous(memory_format=torch.channels_last)
        return self.model(lr)


def make_runner(model: nn.Module, device: torch.device, dtype: torch.dtype, channels_last: bool | str) -> Runner:
    """Move `model` to `device` (NHWC when `channels_last` is true, or `auto` on CUDA) and wrap it."""
    nhwc = device.type == "cuda" if channels_last == "auto" else bool(channels_last)
    model = model.eval().to(device)
    if nhwc:
        model = model.to(memory_format=torch.channels_last)
    return Runner(model, device, dtype, nhwc)


def image_channels(runner: Runner) -> tuple[int, int]:
    """(input, output) channels of the images the model maps: tries RGB, then gray, on a tiny probe."""
    for channels in (3, 1):
        try:
            with runner.autocast():
                out = runner(torch.zeros(1, channels, PROBE_SIDE, PROBE_SIDE))
        except RuntimeError:
            continue
        return channels, int(out.shape[1])
    raise SISRError(f"{type(runner.model).__name__} takes neither RGB nor gray images; it cannot upscale pictures.")


def bytes_per_lr_pixel(runner: Runner, channels: int) -> float:
    """Estimated peak activation bytes per LR pixel of one forward pass (largest module output x PEAK_FACTOR)."""
    largest = 0

    def record(_module: nn.Module, _inputs: object, output: object) -> None:
        nonlocal largest
        if isinstance(output, Tensor):
            largest = max(largest, output.numel() * output.element_size())

    leaves = [m for m in runner.model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(record) for m in leaves]
    try:
        with runner.autocast():
            runner(torch.zeros(1, channels, PROBE_SIDE, PROBE_SIDE))
    finally:
        for handle in handles:
            handle.remove()
    return PEAK_FACTOR * max(largest, 1) / PROBE_SIDE**2


def memory_budget_bytes(device: torch.device, budget_mb: float | None) -> float:
    """The activation budget: `budget_mb` if given, else half the free GPU memory or CPU_MEMORY_BUDGET_MB."""
    if budget_mb:
        return float(budget_mb) * 2**20
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return CUDA_FREE_FRACTION * free
    return CPU_MEMORY_BUDGET_MB * 2**20


def tile_for_budget(per_pixel: float, budget: float, overlap: int) -> int:
    """The largest LR tile side whose padded tile (side + 2 * overlap) fits `budget` bytes."""
    return max(MIN_TILE, math.isqrt(int(budget / per_pixel)) - 2 * overlap)


def balanced_tile(height: int, width: int, max_tile: int) -> int | None:
    """An LR tile side no larger than `max_tile` that splits the image into equal tiles (None: no tiling)."""
    longest = max(height, width)
    if longest <= max_tile:
        return None
    return math.ceil(longest / math.ceil(longest / max_tile))
