"""Adversarial SR training: SRGAN (Ledig et al., CVPR 2017) and ESRGAN (Wang et al., ECCV-W 2018).

One module serves both papers; they differ only in configuration (generator, discriminator, loss kinds and
weights). Each batch makes one generator step then one discriminator step with manual optimization, so
Lightning's `global_step` advances twice per batch; learning-rate schedulers step once per batch, counted
in batches like every sisr budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler

from sisr.lit.base import OptimizerFactory, SchedulerFactory, SRModule
from sisr.lit.speed import channels_last_batch, compile_networks, use_channels_last
from sisr.losses import AdversarialLoss
from sisr.plumbing.errors import SISRError
from sisr.weights.loading import generator_weights, load_weights
from sisr.weights.shapes import shape_mismatch

log = logging.getLogger(__name__)


class AdversarialSRModule(SRModule):
    """Train a generator against a discriminator with pixel + perceptual + adversarial losses.

    The generator loss is `pixel_weight * pixel + perceptual_weight * perceptual + adversarial_weight * adversarial`;
    a term whose loss is null or whose weight is 0 is skipped. Logged every batch: train/g_loss, train/d_loss,
    train/g_<term>, and train/d_real / train/d_fake, the discriminator's mean logits on HR and SR patches.

    Args:
        generator: the SR network.
        discriminator: maps HR-sized patches (N, 3, S, S) to (N, 1) logits; S is the HR training patch size.
        scale: the upscaling factor.
        adversarial_loss: `sisr.losses.AdversarialLoss` (vanilla for SRGAN, relativistic_average for ESRGAN).
        optimizer_g: partial optimizer for the generator's parameters.
        optimizer_d: partial optimizer for the discriminator's parameters.
        adversarial_weight: weight of the generator's adversarial loss (SRGAN 1e-3, ESRGAN 5e-3).
        pixel_loss: pixel loss module, or None.
        pixel_weight: its weight (SRGAN 0, ESRGAN 1e-2).
        perceptual_loss: VGG feature loss module, or None.
        perceptual_weight: its weight (1 in both papers).
        scheduler_g: partial LR scheduler for `optimizer_g`, stepped once per batch.
        scheduler_d: partial LR scheduler for `optimizer_d`, stepped once per batch.
        pretrained_generator: path of a sisr checkpoint (e.g. the PSNR-oriented stage) whose generator weights
            are loaded before training starts; None starts from the initialisation.
        pretrained_from_ema: load that checkpoint's EMA generator weights when it has them.
        compile: run the training forward passes of both networks through `torch.compile` (`sisr.lit.speed`).
        channels_last: keep weights and batches in channels_last memory order (`sisr.lit.speed`).
        **kwargs: passed to `SRModule` (ema_decay, gradient_clip_val, self_ensemble, tile_size, tile_overlap).
    """

    optimizer_steps_per_batch = 2  # one generator step and one discriminator step

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        scale: int,
        adversarial_loss: AdversarialLoss,
        optimizer_g: OptimizerFactory,
        optimizer_d: OptimizerFactory,
        adversarial_weight: float = 1e-3,
        pixel_loss: nn.Module | None = None,
        pixel_weight: float = 0.0,
        perceptual_loss: nn.Module | None = None,
        perceptual_weight: float = 1.0,
        scheduler_g: SchedulerFactory | None = None,
        scheduler_d: SchedulerFactory | None = None,
        pretrained_generator: str | None = None,
        pretrained_from_ema: bool = True,
        compile: bool = False,  # noqa: A002 - the config key, model.compile
        channels_last: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(generator, scale, **kwargs)
        self.save_hyperparameters(
            ignore=[
                "generator",
                "discriminator",
                "adversarial_loss",
                "pixel_loss",
                "perceptual_loss",
                "optimizer_g",
                "optimizer_d",
                "scheduler_g",
                "scheduler_d",
            ]
        )
        self.automatic_optimization = False
        self.discriminator = discriminator
        self.adversarial_loss = adversarial_loss
        self.pixel_loss = pixel_loss
        self.perceptual_loss = perceptual_loss
        self.loss_weights = {"pixel": pixel_weight, "perceptual": perceptual_weight, "adversarial": adversarial_weight}
        self.optimizer_g_factory, self.optimizer_d_factory = optimizer_g, optimizer_d
        self.scheduler_g_factory, self.scheduler_d_factory = scheduler_g, scheduler_d
        self.pretrained_generator = pretrained_generator
        self.pretrained_from_ema = pretrained_from_ema
        self._pretrained_loaded = False
        self.compile_training, self.channels_last = compile, channels_last
        self._compiled: dict[str, Callable[..., Any]] = {}  # not submodules: checkpoints keep the eager keys
        if channels_last:
            use_channels_last(self)

    # ----------------------------------------------------------------------------------------------- start
    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit" and self.pretrained_generator and not self._pretrained_loaded:
            # Runs before Lightning restores a resumed run's checkpoint, which then takes precedence.
            self.load_pretrained_generator(self.pretrained_generator)

    def load_pretrained_generator(self, path: str | Path) -> None:
        """Load the generator weights of `path`: a sisr checkpoint (its EMA copy if present and asked for), a sisr
        export, or an ESRGAN / BasicSR RRDBNet file (see `sisr.weights.loading`)."""
        key = "model.pretrained_generator"
        weights = generator_weights(path, key=key, use_ema=self.pretrained_from_ema)
        if not weights:
            raise SISRError(f"{key} {path} holds no generator weights; use a sisr training checkpoint or export.")
        try:
            self.generator.load_state_dict(weights)
        except RuntimeError as exc:
            own = (self.run_config or {}).get("model", {}).get("generator") or {"scale": self.scale}
            ours = _describe(type(self.generator).__name__, own)
            raise SISRError(
                f"{key} {path} holds {_describe_file(path)} but model.generator is {ours} "
                f"({shape_mismatch(self.generator.state_dict(), weights) or _first_problem(exc)}); give the generator "
                "that run's settings (num_features, num_blocks, scale)."
            ) from exc
        if self.ema is not None:
            self.ema.module.load_state_dict(weights)
        self._pretrained_loaded = True
        log.info("generator initialised from %s", path)

    # ----------------------------------------------------------------------------------------------- training
    def on_fit_start(self) -> None:
        self._compiled = compile_networks(self, ["generator", "discriminator"]) if self.compile_training else {}

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        optimizer_g, optimizer_d = self.optimizers()
        batch = channels_last_batch(batch) if self.channels_last else batch
        lr, hr = batch["lr"], batch["hr"]
        batch_index = self.trainer.global_step // self.optimizer_steps_per_batch
        generator = self._compiled.get("generator", self.generator)
        discriminator = self._compiled.get("discriminator", self.discriminator)

        # Generator step: the discriminator's parameters take no gradient.
        self.toggle_optimizer(optimizer_g)
        sr = generator(lr)
        fake_logits = discriminator(sr)
        real_logits = discriminator(hr) if self.adversarial_loss.relativistic else None
        terms: dict[str, Tensor] = {}
        if self.pixel_loss is not None and self.loss_weights["pixel"]:
            terms["pixel"] = self.pixel_loss(sr, hr)
        if self.perceptual_loss is not None and self.loss_weights["perceptual"]:
            terms["perceptual"] = self.perceptual_loss(sr, hr)
        terms["adversarial"] = self.adversarial_loss.generator_loss(fake_logits, real_logits)
        g_loss = sum(self.loss_weights[name] * value for name, value in terms.items())
        self.check_finite(**{f"g_{name}": value for name, value in terms.items()}, g_loss=g_loss)
        self._step(optimizer_g, g_loss)
        self.untoggle_optimizer(optimizer_g)
        self.update_ema()

        # Discriminator step: the generator's output is detached, its parameters take no gradient.
        self.toggle_optimizer(optimizer_d)
        real_logits = discriminator(hr)
        fake_logits = discriminator(sr.detach())
        d_loss = self.adversarial_loss.discriminator_loss(real_logits, fake_logits)
        self.check_finite(d_loss=d_loss)  # recorded on the device; read at log intervals and before saves
        self._step(optimizer_d, d_loss)
        self.untoggle_optimizer(optimizer_d)

        for scheduler in self._schedulers():
            scheduler.step()

        logged = {f"train/g_{name}": value for name, value in terms.items()}
        logged |= {
            "train/g_loss": g_loss,
            "train/d_loss": d_loss,
            "train/d_real": real_logits.detach().mean(),  # mean discriminator logit on HR patches
            "train/d_fake": fake_logits.detach().mean(),  # ... and on SR patches
            "train/loss": g_loss,
        }
        self.log_training(logged, batch_index, lr.shape[0])

    def _step(self, optimizer: Any, loss: Tensor) -> None:
        """Backward, step (clipping happens in `on_before_optimizer_step`), then clear this network's gradients."""
        self.manual_backward(loss)  # scales the loss under 16-mixed
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        """Clip the gradient norm here: under 16-mixed, Lightning unscales the gradients just before this hook."""
        if self.gradient_clip_val is not None:
            self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val, gradient_clip_algorithm="norm")

    def _schedulers(self) -> list[LRScheduler]:
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return []
        return schedulers if isinstance(schedulers, list) else [schedulers]

    def configure_optimizers(self) -> Any:
        optimizer_g = self.optimizer_g_factory(self.generator.parameters())
        optimizer_d = self.optimizer_d_factory(self.discriminator.parameters())
        configs: list[dict[str, Any]] = []
        for optimizer, factory in ((optimizer_g, self.scheduler_g_factory), (optimizer_d, self.scheduler_d_factory)):
            config: dict[str, Any] = {"optimizer": optimizer}
            if factory is not None:
                # "step" lets LearningRateMonitor log it every batch; with manual optimization we step it ourselves.
                config["lr_scheduler"] = {"scheduler": factory(optimizer), "interval": "step"}
            configs.append(config)
        return configs


def _describe(target: str, settings: dict[str, Any]) -> str:
    """"SRResNet x4 (num_features=64, num_blocks=16)" from a class path or name and its settings."""
    keys = ("num_features", "num_blocks", "growth_channels")
    details = ", ".join(f"{key}={settings[key]}" for key in keys if key in settings)
    scale = f" x{settings['scale']}" if "scale" in settings else ""
    return f"{str(target).rsplit('.', 1)[-1]}{scale}" + (f" ({details})" if details else "")


def _describe_file(path: str | Path) -> str:
    """What generator a weight file holds, as far as the file says."""
    try:
        config = load_weights(path).generator_config
    except SISRError:
        return "a generator of another shape"
    return _describe(config.get("_target_", "a generator"), config)


def _first_problem(exc: RuntimeError) -> str:
    """The first specific line of a load_state_dict error (missing keys or a size mismatch)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[1] if len(lines) > 1 else lines[0]
