"""The best checkpoint is named by training batches, the unit budgets are counted in, also for the GANs (two
optimizer steps per batch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sisr.core.training import train
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import adversarial_models, tiny_overrides

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("name", adversarial_models())
def test_best_checkpoint_of_a_gan_is_named_by_batches(compose_train, name: str) -> None:
    overrides = [f"model={name}", *SMOKE_OVERRIDES, *tiny_overrides(name), "logger=none", "test_after_fit=false",
                 "trainer.val_check_interval=2"]
    summary = train(compose_train(overrides))
    assert summary["batches"] == 2 and summary["global_step"] == 4
    assert Path(summary["best_checkpoint"]).name == "best-batch0000002.ckpt"
