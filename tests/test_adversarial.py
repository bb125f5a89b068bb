"""AdversarialSRModule: manual optimization done right (toggling, clipping, schedulers, step counting, EMA),
loading a pretrained generator, and stopping cleanly on a non-finite loss. Tiny models, CPU."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from sisr.plumbing.errors import SISRError
from sisr.lit.adversarial import AdversarialSRModule
from sisr.lit.base import NonFiniteLossError
from sisr.lit.pixel import PixelSRModule
from sisr.losses import AdversarialLoss, PerceptualLoss, PixelLoss
from sisr.models.discriminators import SRGANDiscriminator, VGGStyleDiscriminator
from sisr.models.srresnet import SRResNet
from sisr.core.training import build_trainer
from sisr.losses.vgg import RANDOM_INIT_FOR_TESTS

SCALE, PATCH = 2, 32


pytestmark = pytest.mark.usefixtures("single_thread")


class RandomPairs(Dataset):
    """HR noise images and their 2x average-pooled LR versions."""

    def __init__(self, count: int, size: int) -> None:
        generator = torch.Generator().manual_seed(count)
        self.hr = torch.rand(count, 3, size, size, generator=generator)

    def __len__(self) -> int:
        return len(self.hr)

    def __getitem__(self, index: int) -> dict[str, Any]:
        hr = self.hr[index]
        return {"lr": F.avg_pool2d(hr, SCALE), "hr": hr, "name": f"img{index}"}


class TinyData(pl.LightningDataModule):
    val_set_names = ["Tiny"]
    test_set_names: list[str] = []

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RandomPairs(16, PATCH), batch_size=2, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(RandomPairs(1, PATCH), batch_size=1)


def make_module(kind: str = "vanilla", **overrides: Any) -> AdversarialSRModule:
    torch.manual_seed(0)
    discriminator = (
        SRGANDiscriminator(num_features=4, input_size=PATCH, dense_features=8)
        if kind == "vanilla"
        else VGGStyleDiscriminator(num_features=4, input_size=PATCH, dense_features=8)
    )
    arguments: dict[str, Any] = dict(
        generator=SRResNet(num_features=8, num_blocks=1, scale=SCALE),
        discriminator=discriminator,
        scale=SCALE,
        adversarial_loss=AdversarialLoss(kind),
        adversarial_weight=5e-3,
        pixel_loss=PixelLoss("l1"),
        pixel_weight=1e-2,
        optimizer_g=functools.partial(torch.optim.Adam, lr=1e-3),
        optimizer_d=functools.partial(torch.optim.Adam, lr=1e-3),
    )
    arguments.update(overrides)
    return AdversarialSRModule(**arguments)


def make_trainer(model: AdversarialSRModule, max_batches: int, root: Path | None = None, **trainer: Any) -> pl.Trainer:
    """A CPU trainer through sisr's own build_trainer, so that the batch budget is converted to optimizer steps."""
    settings = dict(
        _target_="pytorch_lightning.Trainer",
        accelerator="cpu",
        devices=1,
        max_steps=max_batches,
        max_epochs=-1,
        val_check_interval=max_batches,
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=str(root) if root else None,
    )
    settings.update({key: value for key, value in trainer.items() if key != "callbacks"})
    return build_trainer(OmegaConf.create({"trainer": settings}), model, trainer.get("callbacks", []), [])


def grad_norm(parameters: Any) -> float:
    grads = [p.grad for p in parameters if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


class StepProbe(Callback):
    """Records, at each optimizer step, the gradient state of both networks as the update used it (a post-step hook:
    under Lightning the gradients are clipped, and unscaled under 16-mixed, after the pre-step hooks have run)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def on_train_start(self, trainer: pl.Trainer, module: AdversarialSRModule) -> None:
        optimizer_g, optimizer_d = trainer.optimizers
        for optimizer, name in ((optimizer_g, "g"), (optimizer_d, "d")):
            optimizer.register_step_post_hook(functools.partial(self._record, module, name))

    def _record(self, module: AdversarialSRModule, name: str, optimizer: Any, args: Any, kwargs: Any) -> None:
        networks = (module.generator, module.discriminator)
        own, other = networks if name == "g" else networks[::-1]
        self.records.append(
            {
                "step": name,
                "own_norm": grad_norm(own.parameters()),
                "own_all_have_grad": all(p.grad is not None for p in own.parameters()),
                "other_grads": [p.grad for p in other.parameters() if p.grad is not None and p.grad.abs().sum() > 0],
                "other_requires_grad": any(p.requires_grad for p in other.parameters()),
            }
        )


# ----------------------------------------------------------------------------------------------- manual optimization
@pytest.mark.parametrize("kind", ["vanilla", "relativistic_average"])
def test_each_step_updates_only_its_own_network(kind: str) -> None:
    model = make_module(kind)
    probe = StepProbe()
    before_g = [p.detach().clone() for p in model.generator.parameters()]
    before_d = [p.detach().clone() for p in model.discriminator.parameters()]
    make_trainer(model, 2, callbacks=[probe]).fit(model, datamodule=TinyData())

    assert [r["step"] for r in probe.records] == ["g", "d", "g", "d"]
    for record in probe.records:
        assert record["own_all_have_grad"] and record["own_norm"] > 0
        assert record["other_grads"] == [], f"{record['step']} step: the other network has gradients"
        assert not record["other_requires_grad"], f"{record['step']} step: the other network was not toggled off"
    # untoggled afterwards, and both networks moved
    assert all(p.requires_grad for p in [*model.generator.parameters(), *model.discriminator.parameters()])
    assert all(not torch.equal(a, b) for a, b in zip(before_g, model.generator.parameters()) if a.numel() > 1)
    assert any(not torch.equal(a, b) for a, b in zip(before_d, model.discriminator.parameters()))


def test_gradients_are_clipped_explicitly() -> None:
    unclipped, clipped = StepProbe(), StepProbe()
    model = make_module()
    make_trainer(model, 1, callbacks=[unclipped]).fit(model, datamodule=TinyData())
    clip = 1e-4
    model = make_module(gradient_clip_val=clip)
    make_trainer(model, 1, callbacks=[clipped]).fit(model, datamodule=TinyData())
    assert all(record["own_norm"] > 10 * clip for record in unclipped.records)  # so clipping has work to do
    assert [r["step"] for r in clipped.records] == ["g", "d"]
    assert all(record["own_norm"] <= clip * (1 + 1e-4) for record in clipped.records)


def test_16_mixed_clips_the_unscaled_gradients() -> None:
    # On a CPU Lightning turns precision="16-mixed" into bf16-mixed, so the fp16 plugin and its GradScaler are
    # passed directly. Clipping must see unscaled gradients: clipped while scaled by 2**12, the norm the
    # optimizer used would be clip / 2**12.
    from pytorch_lightning.plugins.precision import MixedPrecision

    clip = 1e-4
    model = make_module(gradient_clip_val=clip)
    probe = StepProbe()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**12)
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=2 * model.optimizer_steps_per_batch, limit_val_batches=0, logger=False,
        plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)], callbacks=[probe], enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=TinyData())
    assert [r["step"] for r in probe.records] == ["g", "d", "g", "d"]  # no step skipped for overflow
    assert all(clip / 2 < record["own_norm"] <= clip * (1 + 1e-4) for record in probe.records)
    assert trainer.global_step == 4


class BatchCounter(Callback):
    def __init__(self) -> None:
        self.batches = 0
        self.lrs: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.batches += 1
        optimizer_g, optimizer_d = trainer.optimizers
        self.lrs.append((optimizer_g.param_groups[0]["lr"], optimizer_d.param_groups[0]["lr"]))


def test_two_optimizer_steps_per_batch_and_max_steps_counts_batches() -> None:
    model = make_module()
    counter = BatchCounter()
    trainer = make_trainer(model, 3, callbacks=[counter])
    assert trainer.max_steps == 6  # 3 batches = 6 optimizer steps
    trainer.fit(model, datamodule=TinyData())
    assert counter.batches == 3
    assert trainer.global_step == 6


def test_schedulers_step_once_per_batch_on_the_milestone_schedule() -> None:
    milestones = functools.partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[2], gamma=0.1)
    halving = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    model = make_module(scheduler_g=milestones, scheduler_d=halving)
    counter = BatchCounter()
    make_trainer(model, 3, callbacks=[counter]).fit(model, datamodule=TinyData())
    # lr after each batch: G drops 10x once 2 batches are done, D halves after every batch
    expected = [(1e-3, 5e-4), (1e-4, 2.5e-4), (1e-4, 1.25e-4)]
    assert counter.lrs == [pytest.approx(pair) for pair in expected]


def test_losses_and_discriminator_outputs_are_logged() -> None:
    perceptual = PerceptualLoss({"conv1_2": 1.0}, weights=RANDOM_INIT_FOR_TESTS)
    model = make_module("relativistic_average", perceptual_loss=perceptual)
    trainer = make_trainer(model, 1)
    trainer.fit(model, datamodule=TinyData())
    logged = trainer.callback_metrics
    for key in ("g_loss", "d_loss", "g_pixel", "g_perceptual", "g_adversarial", "d_real", "d_fake"):
        assert torch.isfinite(logged[f"train/{key}"]), key
    weights = model.loss_weights
    expected = (
        weights["pixel"] * logged["train/g_pixel"]
        + weights["perceptual"] * logged["train/g_perceptual"]
        + weights["adversarial"] * logged["train/g_adversarial"]
    )
    torch.testing.assert_close(logged["train/g_loss"], expected)
    assert "val/psnr" in logged


# ----------------------------------------------------------------------------------------------- EMA
class ForwardCounter(Callback):
    def __init__(self) -> None:
        self.calls = {"ema": 0, "generator": 0}

    def on_validation_start(self, trainer: pl.Trainer, module: AdversarialSRModule) -> None:
        for name, net in (("ema", module.ema.module), ("generator", module.generator)):
            net.register_forward_hook(lambda *args, name=name: self.calls.__setitem__(name, self.calls[name] + 1))


def test_validation_uses_the_ema_generator() -> None:
    model = make_module(ema_decay=0.5)
    counter = ForwardCounter()
    make_trainer(model, 3, callbacks=[counter]).fit(model, datamodule=TinyData())
    assert counter.calls["ema"] > 0 and counter.calls["generator"] == 0
    model.eval()
    lr = torch.rand(1, 3, PATCH // SCALE, PATCH // SCALE)
    with torch.no_grad():
        torch.testing.assert_close(model(lr), model.ema.module(lr), rtol=0, atol=0)
        assert not torch.allclose(model(lr), model.generator(lr))
    # the EMA folds the generator in after each G step: n_averaged counts generator steps (= batches)
    assert int(model.ema.n_averaged) == 3


# ----------------------------------------------------------------------------------------------- non-finite losses
def test_nan_loss_stops_training_names_the_term_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    checkpoints = tmp_path / "checkpoints"
    model = make_module()
    saver = ModelCheckpoint(dirpath=checkpoints, save_last=True)
    make_trainer(model, 2, tmp_path, callbacks=[saver], enable_checkpointing=True).fit(model, datamodule=TinyData())
    last = checkpoints / "last.ckpt"
    snapshot = last.read_bytes()

    class NaNPixel(nn.Module):
        def forward(self, sr: Tensor, hr: Tensor) -> Tensor:
            return (sr - hr).abs().mean() * float("nan")

    model.pixel_loss = NaNPixel()
    saver = ModelCheckpoint(dirpath=checkpoints, save_last=True)
    trainer = make_trainer(model, 4, tmp_path, callbacks=[saver], enable_checkpointing=True, val_check_interval=1)
    with pytest.raises(NonFiniteLossError, match=r"'g_pixel' became nan at batch 2"):
        trainer.fit(model, datamodule=TinyData(), ckpt_path=str(last))
    assert last.read_bytes() == snapshot


def test_a_nan_between_log_intervals_is_caught_before_the_next_save(tmp_path: Path) -> None:
    # The loss terms are checked on the device; the host reads the record at log intervals (every 50 batches
    # here, never reached) and before every save: the save after batch 2 must stop the run, not write NaNs.
    checkpoints = tmp_path / "checkpoints"
    model = make_module()
    saver = ModelCheckpoint(dirpath=checkpoints, save_last=True)
    make_trainer(model, 2, tmp_path, callbacks=[saver], enable_checkpointing=True).fit(model, datamodule=TinyData())
    last = checkpoints / "last.ckpt"
    snapshot = last.read_bytes()

    class InfAdversarial(AdversarialLoss):
        def generator_loss(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
            return super().generator_loss(fake, real) + float("inf")

    model.adversarial_loss = InfAdversarial("vanilla")
    saver = ModelCheckpoint(dirpath=checkpoints, save_last=True, every_n_train_steps=2)  # optimizer steps: each batch
    trainer = make_trainer(model, 6, tmp_path, callbacks=[saver], enable_checkpointing=True, log_every_n_steps=50)
    with pytest.raises(NonFiniteLossError, match=r"'g_adversarial' became inf at batch 2"):
        trainer.fit(model, datamodule=TinyData(), ckpt_path=str(last))
    assert last.read_bytes() == snapshot
    assert trainer.global_step == 6  # batch 2 ran to its end: the save after it was refused


# ----------------------------------------------------------------------------------------------- pretrained generator
@pytest.fixture(scope="module")
def psnr_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint of a PixelSRModule (the PSNR stage) with an EMA copy, after two batches."""
    torch.manual_seed(1)
    model = PixelSRModule(
        SRResNet(num_features=8, num_blocks=1, scale=SCALE),
        SCALE,
        loss=PixelLoss("mse"),
        optimizer=functools.partial(torch.optim.Adam, lr=1e-2),
        ema_decay=0.5,
    )
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=2, limit_val_batches=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, train_dataloaders=TinyData().train_dataloader())
    path = tmp_path_factory.mktemp("psnr") / "last.ckpt"
    trainer.save_checkpoint(path)
    return path


class FitStartWeights(Callback):
    def on_fit_start(self, trainer: pl.Trainer, module: AdversarialSRModule) -> None:
        self.generator = {k: v.clone() for k, v in module.generator.state_dict().items()}
        self.ema = {k: v.clone() for k, v in module.ema.module.state_dict().items()} if module.ema else None


@pytest.mark.parametrize("from_ema", [True, False])
def test_pretrained_generator_is_loaded_before_training(psnr_checkpoint: Path, from_ema: bool) -> None:
    state = torch.load(psnr_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    prefix = "ema.module." if from_ema else "generator."
    expected = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    fresh = make_module().generator.state_dict()
    assert any(not torch.equal(fresh[key], value) for key, value in expected.items())  # loading has work to do

    model = make_module(pretrained_generator=str(psnr_checkpoint), pretrained_from_ema=from_ema, ema_decay=0.9)
    probe = FitStartWeights()
    make_trainer(model, 1, callbacks=[probe]).fit(model, datamodule=TinyData())
    assert probe.generator.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(probe.generator[key], value), key
        assert torch.equal(probe.ema[key], value), key


def test_pretrained_generator_problems_name_the_path(tmp_path: Path, psnr_checkpoint: Path) -> None:
    missing = tmp_path / "missing.ckpt"
    model = make_module(pretrained_generator=str(missing))
    with pytest.raises(SISRError, match=rf"model.pretrained_generator {missing} does not exist"):
        make_trainer(model, 1).fit(model, datamodule=TinyData())

    wider = make_module(generator=SRResNet(num_features=16, num_blocks=1, scale=SCALE))
    shapes = r"head.0.weight is \(8, 3, 9, 9\) in the file but \(16, 3, 9, 9\) here, and \d+ more keys differ"
    with pytest.raises(SISRError, match=rf"{psnr_checkpoint} holds .* but model.generator is SRResNet x2 \({shapes}\)"):
        wider.load_pretrained_generator(psnr_checkpoint)

    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(SISRError, match=rf"{garbage} is not a readable PyTorch weight file"):
        make_module().load_pretrained_generator(garbage)


def test_resume_keeps_counting_and_checkpoints_hold_no_vgg(tmp_path: Path) -> None:
    """A GAN run with a perceptual loss resumes from its checkpoint; the frozen VGG is not saved in it."""
    perceptual = functools.partial(PerceptualLoss, {"conv1_2": 1.0}, weights=RANDOM_INIT_FOR_TESTS)
    model = make_module("relativistic_average", perceptual_loss=perceptual())
    saver = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    make_trainer(model, 2, tmp_path, callbacks=[saver], enable_checkpointing=True).fit(model, datamodule=TinyData())
    checkpoint = torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)
    assert not any(key.startswith("perceptual_loss.") for key in checkpoint["state_dict"])
    assert any(key.startswith("discriminator.") for key in checkpoint["state_dict"])

    resumed = make_module("relativistic_average", perceptual_loss=perceptual())
    counter = BatchCounter()
    trainer = make_trainer(resumed, 3, tmp_path, callbacks=[counter])
    trainer.fit(resumed, datamodule=TinyData(), ckpt_path=str(tmp_path / "last.ckpt"))
    assert counter.batches == 1 and trainer.global_step == 6
