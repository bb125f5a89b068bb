"""The training-speed benchmark and the speed options: the plain loop does sisr's work exactly, the benchmark runs
and reports its ratios, and compile, channels_last and bf16-mixed train (CPU, tiny networks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.speed import train_speed
from benchmarks.speed.step_timing import PlainStep, build_sisr, compose_train, make_batches, replay
from sisr.weights.checkpoints import load_generator
from sisr.core.training import build_model, train
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("model", ["srresnet", "esrgan"])
def test_the_plain_loop_does_the_same_work_as_sisr(model: str, tmp_path: Path) -> None:
    # Same initial weights, same batches: after three batches both sides hold the same generator, bit for bit,
    # so the benchmark compares equal work.
    batches = 3
    overrides = [*tiny_overrides(model), "data.batch_size=2", "data.patch_size=32", "trainer.accelerator=cpu",
                 f"trainer.max_steps={batches}", f"trainer.val_check_interval={batches + 1}", "logger=none",
                 "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]  # fmt: skip
    cfg = compose_train(model, overrides, tmp_path)
    data = make_batches(cfg, batches)
    torch.manual_seed(0)
    plain = PlainStep(build_model(cfg), torch.device("cpu"))
    for batch in data:
        plain(batch["lr"], batch["hr"])
    torch.manual_seed(0)
    trainer, module = build_sisr(cfg)
    trainer.fit(module, train_dataloaders=replay(data))
    ours, theirs = module.generator.state_dict(), plain.module.generator.state_dict()
    assert [key for key in ours if not torch.equal(ours[key], theirs[key])] == []


def test_train_speed_reports_a_ratio_per_model(tmp_path: Path) -> None:
    out = tmp_path / "train_speed.json"
    report = train_speed.main(["--models", "srcnn", "--rounds", "2", "--batches", "2", "--warmup", "1",
                               "--device", "cpu", "--output", str(out)])  # fmt: skip
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["device"] == report["machine"]["machine"] and report["size"] == "reduced"
    row = report["models"]["srcnn"]
    assert len(row["ratios"]) == 2 and row["ratio"] > 0 and row["interleaved"] == "every batch"
    assert row["sisr_s_per_batch"] > 0 and row["plain_s_per_batch"] > 0
    assert row["batch_size"] == 8 and row["patch_size"] == 48 and row["generator_parameters"] == 57_281
    assert report["passed"] == (row["ratio"] <= 1.05)


# ----------------------------------------------------------------------------------------------- speed options
def test_channels_last_trains_and_its_checkpoint_loads_as_usual(compose_train) -> None:
    cfg = compose_train(["model=srresnet", *SMOKE_OVERRIDES, *tiny_overrides("srresnet"), "model.channels_last=true",
                         "test_after_fit=false"])  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "completed" and torch.isfinite(torch.tensor(summary["val"]["val/psnr"]))
    generator, _ = load_generator(summary["last_checkpoint"])
    assert type(generator).__name__ == "SRResNet"


def test_channels_last_keeps_weights_in_nhwc_order(tmp_path: Path) -> None:
    cfg = compose_train("srgan", [*tiny_overrides("srgan"), "model.channels_last=true"], tmp_path)
    module = build_model(cfg)
    convolutions = [p for p in [*module.generator.parameters(), *module.discriminator.parameters()] if p.dim() == 4]
    assert convolutions and all(p.is_contiguous(memory_format=torch.channels_last) for p in convolutions)


@pytest.mark.parametrize("model", ["srcnn", "srgan"])
def test_bf16_mixed_trains_every_step(model: str, compose_train) -> None:
    cfg = compose_train([f"model={model}", *SMOKE_OVERRIDES, *tiny_overrides(model), "trainer.precision=bf16-mixed",
                         "test_after_fit=false"])  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "completed" and summary["batches"] == 2
    assert torch.isfinite(torch.tensor(summary["val"]["val/psnr"]))


@pytest.mark.slow
def test_compiled_training_keeps_the_checkpoint_keys(compose_train) -> None:
    cfg = compose_train(["model=srgan", *SMOKE_OVERRIDES, *tiny_overrides("srgan"), "model.compile=true",
                         "test_after_fit=false"])  # fmt: skip
    summary = train(cfg)
    assert summary["status"] == "completed" and summary["batches"] == 2
    state = torch.load(summary["last_checkpoint"], map_location="cpu", weights_only=False)["state_dict"]
    assert not [key for key in state if "_orig_mod" in key]
    generator, _ = load_generator(summary["last_checkpoint"])
    assert type(generator).__name__ == "SRResNet"
