"""What a run shows while it trains: one bar over the whole batch budget, the data-wait share, no cloud adverts."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader, Dataset

import sisr.core.training as training
from sisr.lit.data_wait import DataWait
from sisr.lit.pixel import PixelSRModule
from sisr.lit.progress import BudgetProgressBar
from sisr.losses import PixelLoss
from sisr.models.srcnn import SRCNN
from tests.configs import tiny_overrides
from tests.conftest import HANG_GUARD

pytestmark = pytest.mark.usefixtures("single_thread")

# The embedded images: 5 training photographs, one patch each per epoch, 2 per batch: 2 batches per epoch.
SHORT_EPOCHS = [
    "data=sample",
    "data.patch_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.repeat=1",
    "data.val_max_images=1",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=true",
    "callbacks.progress_bar.plain=false",  # the bars themselves (pytest's output is no terminal)
    "trainer.enable_model_summary=false",
    "trainer.log_every_n_steps=2",
    "logger=none",
    "test_after_fit=false",
]


class BarRecorder(Callback):
    """Reads the progress bar after it has drawn each training batch and at each validation set."""

    def __init__(self) -> None:
        self.train: list[tuple[int, int | None, int]] = []  # (n, total, initial)
        self.val: list[str] = []

    def _bar(self, trainer: pl.Trainer) -> BudgetProgressBar:
        return next(c for c in trainer.callbacks if isinstance(c, BudgetProgressBar))

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        bar = self._bar(trainer).train_progress_bar
        self.train.append((bar.n, bar.total, bar.initial))

    def on_validation_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self.val.append(self._bar(trainer).val_progress_bar.desc.rstrip(": "))


def train_recording(compose_train, overrides: list[str], monkeypatch: pytest.MonkeyPatch, run: str = "run") -> tuple:
    """Train through `sisr.core.training.train` with a `BarRecorder` after the configured callbacks."""
    recorder = BarRecorder()
    original = training.build_callbacks_and_loggers

    def with_recorder(cfg: Any) -> tuple[list[Any], list[Any]]:
        callbacks, loggers = original(cfg)
        return [*callbacks, recorder], loggers

    monkeypatch.setattr(training, "build_callbacks_and_loggers", with_recorder)
    return training.train(compose_train(overrides, run=run)), recorder


def test_the_bar_counts_batches_over_the_whole_budget_across_epochs(compose_train, monkeypatch, capsys) -> None:
    overrides = ["model=srcnn", *tiny_overrides("srcnn"), *SHORT_EPOCHS, "trainer.max_steps=6",
                 "trainer.val_check_interval=3"]  # fmt: skip
    summary, recorder = train_recording(compose_train, overrides, monkeypatch)
    assert summary["batches"] == 6
    # three epochs of two batches, one bar: it never restarts, and its total is the run's budget
    assert [n for n, _, _ in recorder.train] == [1, 2, 3, 4, 5, 6]
    assert {total for _, total, _ in recorder.train} == {6}
    assert recorder.val == ["Validation Sample", "Validation Sample"]  # its own short bar, named by set
    output = capsys.readouterr().out
    assert "Training: 100%" in output and "6/6 batches" in output and "batches/s" in output
    assert "Epoch" not in output


def test_a_gan_bar_counts_batches_not_optimizer_steps(compose_train, monkeypatch) -> None:
    overrides = ["model=srgan", *tiny_overrides("srgan"), *SHORT_EPOCHS, "trainer.max_steps=3",
                 "trainer.val_check_interval=3"]  # fmt: skip
    summary, recorder = train_recording(compose_train, overrides, monkeypatch)
    assert summary["global_step"] == 6
    assert recorder.train == [(1, 3, 0), (2, 3, 0), (3, 3, 0)]


def test_a_resumed_run_starts_the_bar_where_it_stopped(compose_train, monkeypatch) -> None:
    base = ["model=srcnn", *tiny_overrides("srcnn"), *SHORT_EPOCHS, "trainer.val_check_interval=2"]
    first, _ = train_recording(compose_train, [*base, "trainer.max_steps=2"], monkeypatch)
    resume = [*base, "trainer.max_steps=5", f"ckpt_path={first['last_checkpoint']}"]
    _, recorder = train_recording(compose_train, resume, monkeypatch, run="resumed")
    assert recorder.train == [(3, 5, 2), (4, 5, 2), (5, 5, 2)]  # the rate and ETA count this attempt's batches


def test_lightning_cloud_adverts_are_silenced_and_its_other_messages_kept(caplog, tmp_path: Path) -> None:
    import sisr  # noqa: F401 - installs the filter

    with caplog.at_level(logging.INFO, logger="pytorch_lightning"):
        pl.Trainer(accelerator="cpu", default_root_dir=tmp_path, enable_progress_bar=False)
    messages = [record.getMessage() for record in caplog.records]
    assert any(message.startswith("GPU available") for message in messages)
    assert not [message for message in messages if "Tip" in message or "litlogger" in message]


# ----------------------------------------------------------------------------------------------- data wait
class Pairs(Dataset):
    """Random LR/HR pairs; `delay` seconds to produce each."""

    def __init__(self, count: int, delay: float) -> None:
        self.count, self.delay = count, delay

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        time.sleep(self.delay)
        return {"lr": torch.rand(3, 8, 8), "hr": torch.rand(3, 16, 16)}


class SleepyValidation(pl.LightningDataModule):
    val_set_names = ["Slow"]
    test_set_names: list[str] = []

    def __init__(self, train_delay: float) -> None:
        super().__init__()
        self.train_delay = train_delay

    def train_dataloader(self) -> DataLoader:
        return DataLoader(Pairs(64, self.train_delay), batch_size=4)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(Pairs(2, 0.25), batch_size=1)  # slow validation must not count as waiting for data


def data_wait_shares(train_delay: float) -> tuple[list[float], dict[str, Any]]:
    model = PixelSRModule(SRCNN(3, num_features=4, mid_features=4, scale=2), 2, loss=PixelLoss("l1"),
                          optimizer=lambda params: torch.optim.SGD(params, lr=1e-3))  # fmt: skip
    wait = DataWait()
    trainer = pl.Trainer(accelerator="cpu", max_steps=8, val_check_interval=4, log_every_n_steps=4, logger=False,
                         callbacks=[wait], enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    trainer.fit(model, datamodule=SleepyValidation(train_delay))
    return wait.shares, dict(trainer.callback_metrics)


def test_data_wait_shows_a_starving_loader_and_not_validation() -> None:
    starving, metrics = data_wait_shares(train_delay=0.03)  # 4 x 30 ms to load a batch, ~1 ms to train on it
    fed, _ = data_wait_shares(train_delay=0.0)
    assert len(starving) == len(fed) == 2  # logged at the two log intervals
    assert metrics["train/data_wait"] == pytest.approx(starving[-1])
    assert min(starving) > 0.7
    assert max(fed) < 0.5  # the 0.5 s of validation after batch 4 is not counted as waiting


@pytest.mark.slow
def test_a_run_logged_to_a_file_has_plain_lines_and_no_noise(tmp_path: Path) -> None:
    # What a SLURM job's output file or `> train.log` gets: no bar frames (carriage returns), no hints or
    # deprecation warnings about things the run does not do.
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, locate_shared_data

    log_file = tmp_path / "train.log"
    command = [sys.executable, "-m", "sisr.train", "model=srgan", *tiny_overrides("srgan"), *SHORT_EPOCHS[:7],
               "trainer.max_steps=4", "trainer.val_check_interval=2", "trainer.enable_progress_bar=true",
               "logger=none", "test_after_fit=false", f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    with log_file.open("w") as handle:
        subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, check=True, timeout=HANG_GUARD)
    text = log_file.read_text()
    assert "\r" not in text and "\x1b[" not in text  # no bar frames, no cursor movement
    assert [line.split(",")[0] for line in text.splitlines() if line.startswith("Training: ")][-1] == "Training: 4/4 batches (100%)"
    for noise in ("srun", "LeafSpec", "at the start of training", "weights_only", "Tip"):
        assert noise not in text, f"{noise!r} in the log:\n{text}"
