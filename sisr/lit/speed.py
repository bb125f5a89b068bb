"""Opt-in speed settings of the training step: `model.channels_last` and `model.compile`.

Both are off by default until measured faster on the GPUs paper-size runs use (`python -m benchmarks.speed.gpu_check`
measures them; README, "Speed"). `channels_last` stores the networks' 4-D weights and the batches in NHWC order,
which cuDNN's tensor-core convolutions prefer. `compile` runs the training forward passes (the generator, and the
discriminator of the GAN models) through `torch.compile`; validation, test and export keep the eager networks, so
images of every size run without recompiling, and checkpoints keep their usual keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


def use_channels_last(module: nn.Module) -> None:
    """Store every 4-D parameter and buffer of `module` in channels_last order (in place)."""
    module.to(memory_format=torch.channels_last)


def channels_last_batch(batch: Any) -> Any:
    """A batch dict with its 4-D tensors in channels_last order; other entries unchanged."""
    if not isinstance(batch, dict):
        return batch
    return {
        key: value.contiguous(memory_format=torch.channels_last) if isinstance(value, Tensor) and value.dim() == 4 else value
        for key, value in batch.items()
    }


def compile_networks(module: nn.Module, names: list[str]) -> dict[str, Callable[..., Any]]:
    """`torch.compile` of each named submodule, sharing its parameters. Keep the result out of the module's
    submodules (a plain dict), so that state_dict keys and checkpoints are those of the eager networks."""
    return {name: torch.compile(getattr(module, name)) for name in names}
