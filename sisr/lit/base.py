"""Evaluation behaviour shared by every SR LightningModule: per-set protocol metrics, EMA weights, config in checkpoints."""

from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from torch.optim.swa_utils import AveragedModel

from sisr.inference.tiling import TILE_OVERLAP, super_resolve
from sisr.lit.progress import at_log_interval
from sisr.plumbing.errors import SISRError
from sisr.protocol.lpips import build_lpips, lpips_unavailable_reason
from sisr.protocol.metrics import SRMetrics

METRIC_NAMES = ("psnr", "ssim", "psnr_rgb")

OptimizerFactory = Callable[..., Optimizer]
"""A partial optimizer (`_partial_: true` in the config), called with the parameters to optimise."""
SchedulerFactory = Callable[[Optimizer], LRScheduler]
"""A partial LR scheduler, called with its optimizer."""


class NonFiniteLossError(SISRError):
    """A loss term became NaN or infinite; training stops before the next checkpoint would be written."""


class SRModule(pl.LightningModule):
    """A generator plus the validation and test loops every SR model shares.

    Validation and test batches come one image at a time from one dataloader per benchmark set; metrics are
    logged as `val/<set>/<metric>` and `test/<set>/<metric>`, plus `val/psnr`, the mean PSNR over the validation
    sets, for checkpoint selection.

    Args:
        generator: the SR network (LR in [0, 1] -> SR).
        scale: the upscaling factor; also the border cropped before scoring.
        ema_decay: keep an exponential moving average of the generator with this decay and use it for
            validation, test and export; None disables it.
        self_ensemble: evaluate with the x8 flip/rotation ensemble.
        tile_size: LR tile side for tiled evaluation of large images; None evaluates whole images.
        tile_overlap: LR context pixels around each tile.
        max_pixels: tile automatically when an LR image has more pixels than this (None: never).
        lpips: also score LPIPS on the test sets when its weights are available offline (see `lpips_note`).
        gradient_clip_val: clip each network's gradient norm to this value before its optimizer step (the one
            clipping key for every model, `model.gradient_clip_val`); None disables it.
    """

    # Lightning's global_step counts optimizer steps; training budgets in sisr are counted in batches.
    optimizer_steps_per_batch: int = 1

    def __init__(
        self,
        generator: nn.Module,
        scale: int,
        ema_decay: float | None = None,
        self_ensemble: bool = False,
        tile_size: int | None = None,
        tile_overlap: int = TILE_OVERLAP,
        max_pixels: int | None = 512 * 512,
        lpips: bool = False,
        gradient_clip_val: float | None = None,
    ) -> None:
        super().__init__()
        if gradient_clip_val is not None and gradient_clip_val <= 0:
            raise SISRError(f"model.gradient_clip_val must be positive, got {gradient_clip_val}; use e.g. 1.0 or null.")
        self.gradient_clip_val = gradient_clip_val
        self.generator = generator
        self.scale = scale
        self.self_ensemble = self_ensemble
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.max_pixels = max_pixels
        self.ema: AveragedModel | None = None
        if ema_decay is not None:
            if not 0.0 < ema_decay < 1.0:
                raise SISRError(f"model.ema_decay must be in (0, 1), got {ema_decay}; use e.g. 0.999 or null.")
            self.ema = AveragedModel(generator, use_buffers=True)  # the container; update_ema averages
        self.ema_decay = ema_decay
        self._ema_started: bool | None = None  # read from ema.n_averaged at the first update (see update_ema)
        self.val_metrics = nn.ModuleDict()
        self.test_metrics = nn.ModuleDict()
        self.test_image_names: dict[str, list[str]] = {}
        self.lpips_note = lpips_unavailable_reason() if lpips else "LPIPS not requested."
        self.test_lpips = nn.ModuleDict()
        self.run_config: dict[str, Any] | None = None
        # loss-term names -> [first non-finite batch (-1: none), the value then], on the device (see check_finite)
        self._non_finite: dict[tuple[str, ...], list[Tensor]] = {}

    # ----------------------------------------------------------------------------------------------- inference
    @property
    def inference_generator(self) -> nn.Module:
        """The weights used for validation, test and export: the EMA copy when enabled."""
        return self.ema.module if self.ema is not None else self.generator

    def forward(self, lr: Tensor) -> Tensor:
        return super_resolve(
            self.inference_generator,
            lr,
            self.scale,
            ensemble=self.self_ensemble,
            tile_size=self.tile_size,
            tile_overlap=self.tile_overlap,
            max_pixels=self.max_pixels,
        )

    def update_ema(self) -> None:
        """Fold the current generator weights into the EMA copy (call after each generator step).

        Does what `AveragedModel.update_parameters` with an EMA function does (the first update copies the weights,
        later ones move `1 - decay` of the way towards them; parameters and buffers alike) without reading
        `n_averaged` on the host at every step, which would wait for the device: whether the average has started is
        read once, at the first update of this process (a resumed run takes it from its checkpoint).
        """
        if self.ema is None:
            return
        if self._ema_started is None:
            self._ema_started = bool(self.ema.n_averaged.item() > 0)  # once per process, not per step
        averaged = [*self.ema.module.parameters(), *self.ema.module.buffers()]
        current = [*self.generator.parameters(), *self.generator.buffers()]
        with torch.no_grad():
            if not self._ema_started:
                torch._foreach_copy_(averaged, current)
                self._ema_started = True
            else:
                floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
                torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - self.ema_decay)
                for a, c in zip(averaged, current):
                    if not a.is_floating_point():  # counters such as BatchNorm's num_batches_tracked
                        a.copy_(c)
            self.ema.n_averaged += 1

    # ----------------------------------------------------------------------------------------------- training
    def check_finite(self, **terms: Tensor) -> None:
        """Record, on the device and without waiting for it, the first batch at which each named loss term was NaN
        or infinite; `stop_if_non_finite` reads the record at log intervals and before every checkpoint save."""
        names = tuple(terms)
        values = torch.stack([value.detach().float() for value in terms.values()])
        record = self._non_finite.get(names)
        if record is None or record[0].device != values.device:
            record = [torch.full(values.shape, -1, dtype=torch.long, device=values.device), torch.zeros_like(values)]
            self._non_finite[names] = record
        first, seen = record
        new = torch.isfinite(values).logical_not_().logical_and_(first < 0)
        record[0] = first.masked_fill(new, self.trainer.global_step // self.optimizer_steps_per_batch)
        record[1] = torch.where(new, values, seen)

    def stop_if_non_finite(self) -> None:
        """Raise `NonFiniteLossError` naming the first loss term that was NaN or infinite and its batch, if any was,
        on any process. Reads the device-side record once (a host sync), so it runs only at log intervals, before
        every checkpoint save and when training ends."""
        found: tuple[str, float, int] | None = None
        if self._non_finite:
            names = [name for group in self._non_finite for name in group]
            firsts = torch.cat([first.double() for first, _ in self._non_finite.values()])
            values = torch.cat([seen.double() for _, seen in self._non_finite.values()])
            batches, seen = torch.stack([firsts, values]).tolist()
            bad = sorted((int(batch), index) for index, batch in enumerate(batches) if batch >= 0)
            found = (names[bad[0][1]], seen[bad[0][1]], bad[0][0]) if bad else None
        trainer = self.trainer
        if trainer.world_size > 1 and not trainer.strategy.reduce_boolean_decision(found is not None, all=False):
            return
        if found is None and trainer.world_size > 1:
            raise NonFiniteLossError(
                "a loss term became NaN or infinite in another process; training stopped before saving, "
                "the last checkpoint is intact; lower the learning rate or clip gradients (model.gradient_clip_val)."
            )
        if found is not None:
            name, value, batch = found
            raise NonFiniteLossError(
                f"loss term '{name}' became {value} at batch {batch}; training stopped before saving, so the last "
                "checkpoint is intact; lower the learning rate or clip gradients (model.gradient_clip_val)."
            )

    def log_training(self, metrics: dict[str, Tensor], batch_index: int, batch_size: int) -> None:
        """Log training scalars when batch `batch_index` (0-based) ends a log interval. Lightning writes step values
        only then, so logging them in between would only cost time; and none goes to Lightning's progress-bar
        metrics, which it turns into Python numbers after every batch (a host sync each): `BudgetProgressBar` reads
        `train/loss` itself, at log intervals."""
        if not at_log_interval(self.trainer, batch_index + 1):
            return
        for name, value in metrics.items():
            self.log(name, value.detach(), batch_size=batch_size)

    def on_train_start(self) -> None:
        self._non_finite = {}  # a new fit may run on another device

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if at_log_interval(self.trainer):
            self.stop_if_non_finite()

    def on_train_end(self) -> None:
        self.stop_if_non_finite()

    # ----------------------------------------------------------------------------------------------- metrics
    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None:
            return
        for names, metrics in (
            (getattr(datamodule, "val_set_names", []), self.val_metrics),
            (getattr(datamodule, "test_set_names", []), self.test_metrics),
        ):
            for name in names:
                if name not in metrics:
                    metrics[name] = SRMetrics(crop_border=self.scale).to(self.device)
        if self.lpips_note is None:
            for name in getattr(datamodule, "test_set_names", []):
                if name not in self.test_lpips:
                    self.test_lpips[name] = build_lpips().to(self.device)

    def _set_name(self, stage: str, dataloader_idx: int) -> str:
        attribute = "val_set_names" if stage == "val" else "test_set_names"
        return getattr(self.trainer.datamodule, attribute)[dataloader_idx]

    def _score_batch(self, stage: str, batch: dict[str, Any], dataloader_idx: int) -> None:
        set_name = self._set_name(stage, dataloader_idx)
        metrics = (self.val_metrics if stage == "val" else self.test_metrics)[set_name]
        if stage == "test":
            self.test_image_names.setdefault(set_name, []).extend(batch["name"])
        sr = self(batch["lr"])
        metrics.update(sr, batch["hr"], is_gray=batch.get("is_gray"))
        if stage == "test" and set_name in self.test_lpips:
            quantised = torch.round(sr.clamp(0, 1) * 255) / 255
            self.test_lpips[set_name].update(quantised, batch["hr"])

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._score_batch("val", batch, dataloader_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._score_batch("test", batch, dataloader_idx)

    def _log_metrics(self, stage: str, metrics: nn.ModuleDict) -> dict[str, float]:
        results: dict[str, float] = {}
        for set_name, metric in metrics.items():
            if not metric.update_called:
                continue
            values = metric.compute()
            for key in METRIC_NAMES:
                results[f"{stage}/{set_name}/{key}"] = float(values[key])
            results[f"{stage}/{set_name}/count"] = float(values["count"])  # images scored, over all processes
            if stage == "test" and set_name in self.test_lpips:
                results[f"test/{set_name}/lpips"] = float(self.test_lpips[set_name].compute())
        if stage == "val" and results:
            psnrs = [value for key, value in results.items() if key.endswith("/psnr")]  # per-set means
            results["val/psnr"] = sum(psnrs) / len(psnrs)
        if results:
            self.log_dict(results, sync_dist=False, add_dataloader_idx=False)
        return results

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics)
        for metric in self.val_metrics.values():
            metric.reset()

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics)

    # ----------------------------------------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.stop_if_non_finite()  # before anything is written: a non-finite run never overwrites a checkpoint
        if self.run_config is not None:
            checkpoint["sisr_config"] = self.run_config
        checkpoint["sisr_batches"] = self.trainer.global_step // self.optimizer_steps_per_batch
