"""Per-batch wall time of sisr's training against a plain PyTorch loop doing the same work on the same batches, and
a counter of the calls that read a tensor's value on the host (each one a host-device sync on a GPU).

The sisr side is what `python -m sisr.train` runs: the composed `conf/train.yaml` (default loggers, callbacks and
progress bar) built with `sisr.core.training`'s own functions; only the datamodule is replaced by a replay of fixed
batches, so that both sides train on identical tensors. The plain side runs the same networks, losses, optimizers
and schedulers: pixel models one optimizer step per batch, the GAN models a generator step (discriminator frozen)
then a discriminator step, as `AdversarialSRModule` does. Used by `benchmarks.speed.train_speed` and
`benchmarks.speed.gpu_check`.
"""

from __future__ import annotations

import collections
import copy
import statistics
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from pytorch_lightning.callbacks import Callback
from torch import Tensor
from torch.nn import functional as F
from torch.utils.data import DataLoader

import sisr
from sisr.lit.adversarial import AdversarialSRModule
from sisr.lit.base import SRModule
from sisr.core.training import build_callbacks_and_loggers, build_model, build_trainer

CONF_DIR = Path(sisr.__file__).parent / "conf"
MODELS = ("srcnn", "srresnet", "rrdb", "srgan", "esrgan")
SCALE = 4
RANDOM_VGG = "model.perceptual_loss.weights=random-init-for-tests"  # timing does not depend on VGG's values

# Paper size: the model configs as shipped, with the papers' batches (SRGAN Sec. 3.2: 16 x 96 px HR crops;
# ESRGAN Sec. 4.1: 16 x 128 px; SRCNN and SRResNet use the sisr default, 16 x 96).
PAPER_DATA = {"srcnn": (16, 96), "srresnet": (16, 96), "rrdb": (16, 128), "srgan": (16, 96), "esrgan": (16, 128)}
# Reduced size for a CPU: narrower, shallower networks and 8 HR crops of 48 px (32 px for the GANs, whose VGG19
# loss dominates and whose ESRGAN discriminator takes multiples of 32), so that all five models are timed in a few
# minutes on 2 cores.
REDUCED_DATA = {"srcnn": (8, 48), "srresnet": (8, 48), "rrdb": (8, 48), "srgan": (8, 32), "esrgan": (8, 32)}
REDUCED_WIDTHS: dict[str, list[str]] = {
    "srcnn": [],  # 57,281 parameters at paper width: already cheap
    "srresnet": ["model.generator.num_features=32", "model.generator.num_blocks=4"],
    "rrdb": ["model.generator.num_features=32", "model.generator.num_blocks=2", "model.generator.growth_channels=16"],
    "srgan": ["model.generator.num_features=32", "model.generator.num_blocks=4", "model.discriminator.num_features=16"],
    "esrgan": [
        "model.generator.num_features=32",
        "model.generator.num_blocks=2",
        "model.generator.growth_channels=16",
        "model.discriminator.num_features=16",
    ],
}


def size_overrides(model: str, paper_size: bool) -> list[str]:
    """The overrides that set `model`'s widths and batch shape at paper size or reduced size."""
    batch_size, patch = (PAPER_DATA if paper_size else REDUCED_DATA)[model]
    widths = [] if paper_size else REDUCED_WIDTHS[model]
    gan = [RANDOM_VGG] if model in ("srgan", "esrgan") else []
    return [*widths, *gan, f"data.batch_size={batch_size}", f"data.patch_size={patch}", f"data.scale={SCALE}"]


def compose_train(model: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """`conf/train.yaml` composed with `model` and `overrides`, writing to `output_dir` (no Hydra run needed)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("train", overrides=[f"model={model}", f"paths.output_dir={output_dir}", *overrides])


def make_batches(cfg: DictConfig, count: int, device: torch.device | str = "cpu") -> list[dict[str, Tensor]]:
    """`count` fixed batches of random HR patches and their average-pooled LR versions, shaped as `cfg.data`."""
    generator = torch.Generator().manual_seed(0)
    size, patch, scale = int(cfg.data.batch_size), int(cfg.data.patch_size), int(cfg.data.scale)
    batches = []
    for _ in range(count):
        hr = torch.rand(size, 3, patch, patch, generator=generator)
        batches.append({"lr": F.avg_pool2d(hr, scale).to(device), "hr": hr.to(device)})
    return batches


def replay(batches: list[dict[str, Tensor]]) -> DataLoader:
    """A loader that yields `batches` as they are, in order."""
    return DataLoader(batches, batch_size=None, shuffle=False, num_workers=0)  # type: ignore[arg-type]


def synchronize(device: torch.device) -> None:
    """Wait for the device (only at the ends of a timed window, never inside it)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class BatchClock(Callback):
    """Records the wall time at the start of every training batch (synchronising the device at `marks` only)."""

    def __init__(self, marks: tuple[int, ...] = ()) -> None:
        self.starts: list[float] = []
        self.marks = set(marks)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if len(self.starts) in self.marks:
            synchronize(pl_module.device)
        self.starts.append(time.perf_counter())


def build_sisr(cfg: DictConfig, extra_callbacks: list[Callback] = ()) -> tuple[pl.Trainer, SRModule]:
    """The Trainer and LightningModule `sisr.core.training.train` would build from `cfg` (callbacks, loggers, budget);
    `extra_callbacks` run before the configured ones in every hook."""
    model = build_model(cfg)
    callbacks, loggers = build_callbacks_and_loggers(cfg)
    return build_trainer(cfg, model, [*extra_callbacks, *callbacks], loggers), model


def time_sisr(cfg: DictConfig, batches: list[dict[str, Tensor]], warmup: int) -> float:
    """Seconds per batch of a sisr fit over `batches`, measured between the starts of batch `warmup` and the last."""
    trainer, model = build_sisr(cfg, [clock := BatchClock(marks=(warmup, len(batches) - 1))])
    torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark", False))
    trainer.fit(model, train_dataloaders=replay(batches))
    timed = clock.starts[warmup:]
    return (timed[-1] - timed[0]) / (len(timed) - 1)


# ----------------------------------------------------------------------------------------------- the plain loop
class PlainStep:
    """One training batch of `module`'s networks, losses, optimizers and schedulers in plain PyTorch (copies of
    them, so the sisr side's are untouched): what a hand-written training loop would do."""

    def __init__(self, module: SRModule, device: torch.device) -> None:
        module = copy.deepcopy(module).to(device).train()
        self.module, self.gan = module, isinstance(module, AdversarialSRModule)
        if self.gan:
            self.optimizers = [module.optimizer_g_factory(module.generator.parameters()),
                               module.optimizer_d_factory(module.discriminator.parameters())]  # fmt: skip
            factories = [module.scheduler_g_factory, module.scheduler_d_factory]
        else:
            self.optimizers = [module.optimizer_factory(module.generator.parameters())]
            factories = [module.scheduler_factory]
        self.schedulers = [f(o) for f, o in zip(factories, self.optimizers) if f is not None]

    def __call__(self, lr: Tensor, hr: Tensor) -> None:
        if self.gan:
            self._gan_step(lr, hr)
        else:
            loss = self.module.loss(self.module.generator(lr), hr)
            self.optimizers[0].zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers[0].step()
        for scheduler in self.schedulers:
            scheduler.step()

    def _gan_step(self, lr: Tensor, hr: Tensor) -> None:
        m, (optimizer_g, optimizer_d) = self.module, self.optimizers
        generator, discriminator, adversarial = m.generator, m.discriminator, m.adversarial_loss
        discriminator.requires_grad_(False)
        sr = generator(lr)
        fake, real = discriminator(sr), discriminator(hr) if adversarial.relativistic else None
        terms = [adversarial.generator_loss(fake, real) * m.loss_weights["adversarial"]]
        if m.pixel_loss is not None and m.loss_weights["pixel"]:
            terms.append(m.pixel_loss(sr, hr) * m.loss_weights["pixel"])
        if m.perceptual_loss is not None and m.loss_weights["perceptual"]:
            terms.append(m.perceptual_loss(sr, hr) * m.loss_weights["perceptual"])
        sum(terms).backward()
        optimizer_g.step()
        optimizer_g.zero_grad(set_to_none=True)
        discriminator.requires_grad_(True)
        generator.requires_grad_(False)
        adversarial.discriminator_loss(discriminator(hr), discriminator(sr.detach())).backward()
        optimizer_d.step()
        optimizer_d.zero_grad(set_to_none=True)
        generator.requires_grad_(True)


def time_plain(step: PlainStep, batches: list[dict[str, Tensor]], warmup: int, device: torch.device) -> float:
    """Seconds per batch of `step` over `batches`, between the starts of batch `warmup` and the last batch."""
    starts = []
    for index, batch in enumerate(batches):
        lr, hr = batch["lr"].to(device, non_blocking=True), batch["hr"].to(device, non_blocking=True)
        if index in (warmup, len(batches) - 1):
            synchronize(device)
        starts.append(time.perf_counter())
        if index < len(batches) - 1:
            step(lr, hr)
    timed = starts[warmup:]
    return (timed[-1] - timed[0]) / (len(timed) - 1)


class Interleaved(Callback):
    """Runs the plain loop's step for batch k at the start of sisr's batch k and times both, alternating every
    batch, so that both sides meet the same machine load (on a shared CPU it changes by the second). sisr's batch k
    lasts from the end of plain step k to the start of plain step k + 1."""

    def __init__(self, step: PlainStep, batches: list[dict[str, Tensor]], device: torch.device) -> None:
        self.step, self.batches, self.device = step, batches, device
        self.plain: list[float] = []
        self.sisr: list[float] = []
        self._resumed: float | None = None

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        started = time.perf_counter()
        if self._resumed is not None:
            self.sisr.append(started - self._resumed)
        plain = self.batches[len(self.plain)]
        self.step(plain["lr"].to(self.device), plain["hr"].to(self.device))
        synchronize(self.device)
        self._resumed = time.perf_counter()
        self.plain.append(self._resumed - started)


def time_interleaved(cfg: DictConfig, batches: list[dict[str, Tensor]], warmup: int) -> tuple[float, float]:
    """(sisr, plain) seconds per batch over batches `warmup` .. len(batches) - 2, alternating every batch."""
    device = torch.device("cuda" if cfg.trainer.accelerator in ("gpu", "cuda") else "cpu")
    torch.manual_seed(0)
    step = PlainStep(build_model(cfg), device)
    torch.manual_seed(0)
    trainer, model = build_sisr(cfg, [clock := Interleaved(step, batches, device)])
    trainer.fit(model, train_dataloaders=replay(batches))
    timed = slice(warmup, len(batches) - 1)
    return statistics.fmean(clock.sisr[timed]), statistics.fmean(clock.plain[timed])


def compare(cfg: DictConfig, batches: list[dict[str, Tensor]], warmup: int, rounds: int) -> dict[str, Any]:
    """sisr and the plain loop on the same batches from the same initial weights, `rounds` times.

    On a CPU the two sides alternate every batch (`Interleaved`); on a GPU, where a step is not over until the
    device is, they alternate every round and the device is synchronised only at the ends of the timed window.
    Returns seconds per batch (medians over rounds) and the per-round sisr / plain ratios.
    """
    device = torch.device("cuda" if cfg.trainer.accelerator in ("gpu", "cuda") else "cpu")
    times: dict[str, list[float]] = {"sisr": [], "plain": []}
    for index in range(rounds):
        if device.type == "cpu":
            sisr_time, plain_time = time_interleaved(cfg, batches, warmup)
            times["sisr"].append(sisr_time)
            times["plain"].append(plain_time)
            continue
        for side in ("plain", "sisr") if index % 2 == 0 else ("sisr", "plain"):
            torch.manual_seed(0)
            if side == "sisr":
                times["sisr"].append(time_sisr(cfg, batches, warmup))
            else:
                step = PlainStep(build_model(cfg), device)
                torch.backends.cudnn.benchmark = bool(cfg.trainer.get("benchmark", False))
                times["plain"].append(time_plain(step, batches, warmup, device))
    ratios = [s / p for s, p in zip(times["sisr"], times["plain"])]
    return {
        "interleaved": "every batch" if device.type == "cpu" else "every round",
        "sisr_s_per_batch": statistics.median(times["sisr"]),
        "plain_s_per_batch": statistics.median(times["plain"]),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
    }


# ----------------------------------------------------------------------------------------------- host reads
HOST_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu", "nonzero")
"""Tensor methods that hand a value to Python or the host; on a GPU each waits until the device catches up."""


class HostReads:
    """Counts, while `counting` is true, calls of the `HOST_READS` methods and host data placed on a device with
    `torch.tensor(..., device=...)` / `torch.as_tensor(..., device=...)` (a blocking copy on a GPU), with the call
    sites. Patches torch on `__enter__` and restores it on `__exit__`.

    Args:
        skip: tensors whose reads are not syncs (e.g. optimizer step counters, which torch.optim keeps on the host).
    """

    def __init__(self, skip: Callable[[Tensor], bool] | None = None) -> None:
        self.sites: collections.Counter[str] = collections.Counter()  # "<call> at <file:line < caller ...>"
        self.counting = False
        self.skip = skip or (lambda tensor: False)
        self._saved: dict[Any, dict[str, Any]] = {}

    @property
    def total(self) -> int:
        return sum(self.sites.values())

    def _record(self, name: str) -> None:
        frames = traceback.extract_stack(limit=8)[:-3]
        self.sites[f"{name} at " + " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))] += 1

    def _method(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(tensor: Tensor, *args: Any, **kwargs: Any) -> Any:
            if self.counting and not self.skip(tensor):
                self._record(name)
            return original(tensor, *args, **kwargs)

        return counted

    def _factory(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(data: Any, *args: Any, **kwargs: Any) -> Any:
            if self.counting and kwargs.get("device") is not None and not isinstance(data, Tensor):
                self._record(f"torch.{name}(..., device=)")
            return original(data, *args, **kwargs)

        return counted

    def __enter__(self) -> HostReads:
        self._saved = {torch.Tensor: {n: torch.Tensor.__dict__.get(n) for n in HOST_READS},
                       torch: {n: getattr(torch, n) for n in ("tensor", "as_tensor")}}  # fmt: skip
        for name in HOST_READS:
            setattr(torch.Tensor, name, self._method(name, getattr(torch.Tensor, name)))
        for name, original in self._saved[torch].items():
            setattr(torch, name, self._factory(name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, saved in self._saved.items():
            for name, original in saved.items():
                if original is None:
                    delattr(owner, name)  # inherited from torch._C.TensorBase: uncover it again
                else:
                    setattr(owner, name, original)


def optimizer_step_counters(trainer: pl.Trainer) -> set[int]:
    """ids of the optimizers' `step` tensors: torch.optim keeps them on the host unless `capturable` or `fused`."""
    return {id(s["step"]) for o in trainer.optimizers for s in o.state.values() if isinstance(s.get("step"), Tensor)}


class ReadsPerBatch(Callback):
    """Attributes counted reads to training batches: those between the start of batch k and the start of batch k+1
    (its step, the batch-end callbacks, logging, the next fetch) count for batch k. Counting starts at batch
    `first`, once optimizer state exists.

    Args:
        counter: a `HostReads` (CPU) or anything with `total` and a settable `counting`.
        first: the first batch (0-based) to count.
    """

    def __init__(self, counter: Any, first: int) -> None:
        self.counter, self.first = counter, first
        self.per_batch: dict[int, int] = {}
        self._batch: int | None = None
        self._at = 0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._batch is not None:
            self.per_batch[self._batch] = self.counter.total - self._at
        done = trainer.global_step // getattr(pl_module, "optimizer_steps_per_batch", 1)
        if done >= self.first and not self.counter.counting:
            if isinstance(self.counter, HostReads):
                counters = optimizer_step_counters(trainer)
                self.counter.skip = lambda tensor: id(tensor) in counters
            self.counter.counting = True
        self._batch, self._at = (done, self.counter.total) if self.counter.counting else (None, 0)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.counter.counting = False  # the last batch's reads mix with the end of training: not attributed


class CudaSyncs:
    """On a CUDA device: counts the calls that synchronise the host with the device, as
    `torch.cuda.set_sync_debug_mode("warn")` reports them, while `counting` is true (a context manager)."""

    def __init__(self) -> None:
        self.sites: collections.Counter[str] = collections.Counter()
        self._counting = False
        self._catcher = warnings.catch_warnings(record=True)
        self._records: list[warnings.WarningMessage] = []

    @property
    def total(self) -> int:
        self._collect()
        return sum(self.sites.values())

    @property
    def counting(self) -> bool:
        return self._counting

    @counting.setter
    def counting(self, value: bool) -> None:
        self._collect()
        self._counting = value
        torch.cuda.set_sync_debug_mode("warn" if value else "default")

    def _collect(self) -> None:
        for record in self._records:
            if "synchroniz" in str(record.message):
                self.sites[f"{Path(record.filename).name}:{record.lineno}"] += 1
        self._records.clear()

    def __enter__(self) -> CudaSyncs:
        self._records = self._catcher.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: object) -> None:
        self.counting = False
        self._catcher.__exit__(*exc)
