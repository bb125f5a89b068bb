"""Multi-process training decisions that depend on where the processes run."""

from __future__ import annotations

import logging
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn
from pytorch_lightning.utilities import rank_zero_only

log = logging.getLogger(__name__)


def trains_on_cpu(accelerator: str) -> bool:
    """Whether `trainer.accelerator` puts the processes on CPUs (auto: when no CUDA GPU is visible)."""
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def has_batchnorm(model: nn.Module) -> bool:
    """Whether `model` holds BatchNorm layers (SRResNet, the SRGAN and ESRGAN discriminators)."""
    return any(isinstance(module, nn.modules.batchnorm._BatchNorm) for module in model.modules())


def sync_batchnorm(trainer: DictConfig, model: nn.Module) -> bool:
    """`trainer.sync_batchnorm` where the backend supports it: PyTorch's SyncBatchNorm runs on GPUs only, so on CPU
    (gloo) it is off and rank 0 says in one line what happens instead (when `model` has BatchNorm layers)."""
    requested = bool(trainer.get("sync_batchnorm", False))
    if not requested or not trains_on_cpu(str(trainer.get("accelerator", "auto"))):
        return requested
    if rank_zero_only.rank == 0 and has_batchnorm(model):
        log.warning(
            "trainer.sync_batchnorm: SyncBatchNorm runs on GPUs only, so on CPU each process normalises with its own "
            "batch's statistics, and the running statistics (used to evaluate) are rank 0's, broadcast by DDP."
        )
    return False


def ddp_strategy(trainer: DictConfig, optimizer_steps_per_batch: int) -> Any:
    """`trainer.strategy`, with DDP's unused-parameter detection on for modules that step several optimizers per
    batch (the GANs: the generator's step leaves the discriminator without gradients and the other way round)."""
    strategy = trainer.get("strategy", "auto")
    return "ddp_find_unused_parameters_true" if strategy == "ddp" and optimizer_steps_per_batch > 1 else strategy
