"""Pixel-loss training (L1 or MSE): SRCNN, SRResNet and the PSNR-oriented RRDBNet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.optim import Optimizer

from sisr.lit.base import OptimizerFactory, SchedulerFactory, SRModule
from sisr.lit.speed import channels_last_batch, compile_networks, use_channels_last
from sisr.plumbing.errors import SISRError


class PixelSRModule(SRModule):
    """Train a generator on a pixel loss; one optimizer step per batch.

    Args:
        generator: the SR network.
        scale: the upscaling factor.
        loss: pixel loss module, called as `loss(sr, hr)`; None for models that are evaluated only (bicubic).
        optimizer: partial optimizer, called with the generator's parameters.
        scheduler: partial LR scheduler, called with the optimizer; stepped every batch.
        compile: run the training forward pass of the generator through `torch.compile` (`sisr.lit.speed`).
        channels_last: keep weights and batches in channels_last memory order (`sisr.lit.speed`).
        **kwargs: passed to `SRModule` (ema_decay, gradient_clip_val, self_ensemble, tile_size, tile_overlap).
    """

    def __init__(
        self,
        generator: nn.Module,
        scale: int,
        loss: nn.Module | None = None,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        compile: bool = False,  # noqa: A002 - the config key, model.compile
        channels_last: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(generator, scale, **kwargs)
        self.save_hyperparameters(ignore=["generator", "loss", "optimizer", "scheduler"])
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.compile_training, self.channels_last = compile, channels_last
        self._compiled: dict[str, Callable[..., Any]] = {}  # not submodules: checkpoints keep the eager keys
        if channels_last:
            use_channels_last(self)

    def on_fit_start(self) -> None:
        self._compiled = compile_networks(self, ["generator"]) if self.compile_training else {}

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self.loss is None:
            raise SISRError("this model has no loss to train (model.loss is null); it can only be evaluated.")
        batch = channels_last_batch(batch) if self.channels_last else batch
        sr = self._compiled.get("generator", self.generator)(batch["lr"])
        loss = self.loss(sr, batch["hr"])
        self.check_finite(pixel=loss)  # recorded on the device; read at log intervals and before saves
        batch_index = self.trainer.global_step // self.optimizer_steps_per_batch
        self.log_training({"train/loss": loss}, batch_index, batch["lr"].shape[0])
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The optimizer step, then the EMA update: both before any callback sees the batch's end (RunCheckpoint saves
        there, and a checkpoint must hold the EMA of the same step as the weights, or a resume is not exact)."""
        super().optimizer_step(*args, **kwargs)
        self.update_ema()

    def configure_gradient_clipping(
        self, optimizer: Optimizer, gradient_clip_val: float | None = None, gradient_clip_algorithm: str | None = None
    ) -> None:
        """Clip by `model.gradient_clip_val` (the one clipping key; the Trainer's is not used)."""
        if self.gradient_clip_val is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None or not any(p.requires_grad for p in self.generator.parameters()):
            raise SISRError(
                f"{type(self.generator).__name__} has nothing to train (no optimizer or no parameters); "
                "use sisr.eval for baselines such as model=bicubic."
            )
        optimizer = self.optimizer_factory(self.generator.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer), "interval": "step"},
        }
