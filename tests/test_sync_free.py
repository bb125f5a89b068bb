"""The steady-state training step never waits on the host: no tensor value is read between log intervals.

On a GPU every read of a tensor's value (`.item()`, `bool(t)`, `.tolist()`, ...) and every copy of host data onto
the device blocks the host until the GPU has finished all queued work. These tests run sisr's real training stack
(default callbacks, loggers and progress bar, built by `sisr.core.training`) on the CPU with those calls counted, and
find none between log intervals; at each interval the reads are the guard against non-finite losses, the progress
bar and the loggers. (`python -m benchmarks.speed.gpu_check` counts the real syncs on a GPU.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.speed.step_timing import HostReads, ReadsPerBatch, build_sisr, compose_train, make_batches, replay
from tests.configs import tiny_overrides

pytestmark = pytest.mark.usefixtures("single_thread")

LOG_EVERY = 4
BATCHES = 13  # three log intervals (batches 4, 8, 12); counting starts at batch 2, the last batch is not counted


def reads_per_batch(model: str, tmp_path: Path, extra: list[str] = ()) -> tuple[dict[int, int], HostReads]:
    overrides = [
        *tiny_overrides(model),
        "data.batch_size=2",
        "data.patch_size=32",
        "trainer.accelerator=cpu",
        f"trainer.max_steps={BATCHES}",
        f"trainer.val_check_interval={BATCHES + 1}",
        f"trainer.log_every_n_steps={LOG_EVERY}",
        "trainer.enable_model_summary=false",
        *extra,
    ]
    cfg = compose_train(model, overrides, tmp_path / model)
    with HostReads() as reads:
        probe = ReadsPerBatch(reads, first=2)
        trainer, module = build_sisr(cfg, [probe])
        trainer.fit(module, train_dataloaders=replay(make_batches(cfg, BATCHES)))
    return probe.per_batch, reads


def between_intervals(per_batch: dict[int, int]) -> dict[int, int]:
    """Reads of the batches (0-based) that do not end a log interval."""
    return {batch: count for batch, count in per_batch.items() if (batch + 1) % LOG_EVERY}


@pytest.mark.parametrize(
    "model, extra",
    [
        ("srresnet", []),
        ("srcnn", []),
        # The GAN step without the perceptual term (see the next test for VGG19).
        ("esrgan", ["model.perceptual_weight=0"]),
        pytest.param("srresnet", ["model.ema_decay=0.999"], id="srresnet-ema"),  # BatchNorm buffers averaged too
    ],
)
def test_no_host_reads_between_log_intervals(model: str, extra: list[str], tmp_path: Path) -> None:
    per_batch, reads = reads_per_batch(model, tmp_path, extra)
    assert sorted(per_batch) == list(range(2, BATCHES - 1))
    assert between_intervals(per_batch) == {b: 0 for b in between_intervals(per_batch)}, reads.sites.most_common(5)
    assert all(per_batch[b] > 0 for b in (3, 7, 11)), per_batch  # the intervals do read: the counter is live


def test_no_host_reads_between_log_intervals_with_the_perceptual_loss(tmp_path: Path) -> None:
    per_batch, reads = reads_per_batch("srgan", tmp_path)
    assert between_intervals(per_batch) == {b: 0 for b in between_intervals(per_batch)}, reads.sites.most_common(5)


def test_the_counter_sees_reads_and_restores_torch() -> None:
    import torch

    original_bool = torch.Tensor.__bool__
    with HostReads() as reads:
        reads.counting = True
        value = torch.ones(2)
        bool(value.sum() > 0), value.sum().item(), value.tolist(), torch.tensor([1.0], device="cpu")
        reads.counting = False
        value.sum().item()
    assert [site.split(" at ")[0] for site in reads.sites] == ["__bool__", "item", "tolist", "torch.tensor(..., device=)"]
    assert torch.Tensor.__bool__ is original_bool and "item" not in torch.Tensor.__dict__
