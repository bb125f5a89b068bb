"""Runs that end with their true final state, survive preemption and resume bit for bit."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback

from sisr.weights.checkpoints import load_generator, read_checkpoint
from sisr.core.evaluation import evaluate
from sisr.plumbing.stop_signals import TrainingInterrupted
from sisr.core.training import train
from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data
from tests.configs import tiny_overrides, trainable_models
from tests.run_states import QUICK_DATA, QUICK_EPOCH, differing, final_weights

pytestmark = pytest.mark.usefixtures("single_thread", "shared_cache")

# --------------------------------------------------------------------------------------------- final state
def test_last_checkpoint_is_the_final_state_even_when_validation_got_worse(compose_train) -> None:
    # The scenario: validation PSNR goes down at a high learning rate; last.ckpt must still be batch 30.
    overrides = [
        "model=srresnet",
        "model.generator.num_blocks=2",
        "model.generator.num_features=16",
        "model.optimizer.lr=1e-2",
        "trainer.max_steps=30",
        "trainer.val_check_interval=10",
        *QUICK_DATA,
        "data.repeat=4",
    ]
    summary = train(compose_train(overrides))
    last = read_checkpoint(summary["last_checkpoint"])
    assert summary["status"] == "completed" and summary["batches"] == 30
    assert last["global_step"] == 30 and last["sisr_batches"] == 30
    assert Path(summary["last_checkpoint"]).name == "last.ckpt"

    results = evaluate(compose_train([f"ckpt_path={summary['last_checkpoint']}", "data.test_sets=[Sample]"], "eval", "eval"))
    assert results["sets"]["Sample"]["psnr"] == pytest.approx(summary["test"]["test/Sample/psnr"], abs=1e-3)


# --------------------------------------------------------------------------------------------- exact resume
def _run(compose_train, overrides: list[str], run: str) -> dict:
    return train(compose_train(overrides, run=run))


# Where a periodic checkpoint can fall, with 5-batch epochs and validations every 4 batches.
CHECKPOINT_POSITIONS = {
    2: "mid-epoch, before any validation",
    4: "on a validation batch, before that validation ran",
    5: "at an epoch end, after a validation",
    6: "mid-epoch, after an epoch end and a validation",
}
RESUME_BUDGET = [
    *QUICK_EPOCH,
    "trainer.max_steps=9",
    "trainer.val_check_interval=4",
    "callbacks.model_checkpoint.every_n_train_steps=1",
    "test_after_fit=false",
    "logger=none",
    "model.ema_decay=0.9",  # every model config has the key; the EMA must resume exactly too
]


@pytest.mark.parametrize("model", trainable_models())
def test_resume_from_any_periodic_checkpoint_is_bitwise_identical(compose_train, tmp_path: Path, model: str) -> None:
    # One uninterrupted run keeps a copy of the periodic checkpoint of every batch; resuming from each position
    # must end with the same final weights, bit for bit (generator, discriminator, EMA).
    overrides = [f"model={model}", *tiny_overrides(model), *QUICK_DATA, *RESUME_BUDGET]
    snapshot = ["+callbacks.snapshot._target_=tests.run_states.SnapshotLast", f"+callbacks.snapshot.folder={tmp_path / 'snapshots'}"]
    straight = _run(compose_train, [*overrides, *snapshot], "straight")
    expected = final_weights(straight["last_checkpoint"])
    for batch, where in CHECKPOINT_POSITIONS.items():
        checkpoint = tmp_path / "snapshots" / f"batch-{batch}.ckpt"
        assert read_checkpoint(str(checkpoint))["sisr_batches"] == batch
        resumed = _run(compose_train, [*overrides, f"ckpt_path={checkpoint}"], f"resumed-{batch}")
        assert resumed["batches"] == 9 and resumed["status"] == "completed"
        different = differing(expected, final_weights(resumed["last_checkpoint"]))
        assert not different, f"resumed from batch {batch} ({where}): {len(different)} tensors differ, e.g. {different[:3]}"


@pytest.mark.slow
def test_resume_with_loader_workers_is_bitwise_identical(compose_train, tmp_path: Path) -> None:
    # Two loader worker processes draw an epoch's indices as soon as an iterator exists: the stream position must
    # neither count the batches they prefetched nor be decided before Lightning sets the resumed epoch (a crash
    # after batch 7 resumes from 6; a stop at an epoch end resumes from 5).
    overrides = ["model=srcnn", *tiny_overrides("srcnn"), *QUICK_DATA, *RESUME_BUDGET, "data.num_workers=2"]
    snapshot = ["+callbacks.snapshot._target_=tests.run_states.SnapshotLast", f"+callbacks.snapshot.folder={tmp_path / 'snap'}"]
    straight = _run(compose_train, [*overrides, *snapshot], "straight")
    crash = [*overrides, "callbacks.model_checkpoint.every_n_train_steps=3", "+callbacks.crash._target_=tests.run_states.CrashAt",
             "+callbacks.crash.batch=7"]  # fmt: skip
    with pytest.raises(SystemError, match="simulated crash"):
        _run(compose_train, crash, "resumed")
    crashed = json.loads((Path(straight["last_checkpoint"]).parents[2] / "resumed" / "metrics.json").read_text())
    assert crashed["status"] == "failed" and "simulated crash" in crashed["error"]
    assert read_checkpoint(crashed["last_checkpoint"])["sisr_batches"] == 6

    resumed = _run(compose_train, [*overrides, "ckpt_path=auto"], "resumed")
    assert resumed["resumed_from"] == crashed["last_checkpoint"] and resumed["seed"] == straight["seed"]
    assert not differing(final_weights(straight["last_checkpoint"]), final_weights(resumed["last_checkpoint"]))
    at_epoch_end = _run(compose_train, [*overrides, f"ckpt_path={tmp_path / 'snap' / 'batch-5.ckpt'}"], "epoch-end")
    assert not differing(final_weights(straight["last_checkpoint"]), final_weights(at_epoch_end["last_checkpoint"]))


def test_resumed_run_appends_to_the_csv_history(compose_train) -> None:
    overrides = ["model=srcnn", *tiny_overrides("srcnn"), *QUICK_DATA, "data.repeat=4", "logger=csv"]
    first = _run(compose_train, [*overrides, "trainer.max_steps=4", "trainer.val_check_interval=2"], "run")
    csv_file = Path(first["last_checkpoint"]).parents[1] / "csv" / "metrics.csv"
    rows_before = csv_file.read_text().splitlines()
    _run(compose_train, [*overrides, "trainer.max_steps=8", "trainer.val_check_interval=2", "ckpt_path=auto"], "run")
    rows_after = csv_file.read_text().splitlines()
    assert rows_after[: len(rows_before)][1:] == rows_before[1:]  # the history written before is kept
    assert len(rows_after) > len(rows_before)


# --------------------------------------------------------------------------------------------- preemption
@pytest.mark.slow
def test_sigterm_saves_the_state_records_interrupted_and_exits_non_zero(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "sisr.train", "model=srcnn", *tiny_overrides("srcnn"), *QUICK_DATA,
        "data.repeat=4", "logger=csv", "trainer.max_steps=1000000", "trainer.val_check_interval=100000",
        "callbacks.model_checkpoint.every_n_train_steps=5", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + HANG_GUARD
    while not last.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert last.is_file(), process.communicate()[0][-2000:]
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=HANG_GUARD)[0]

    assert process.returncode == 128 + signal.SIGTERM, output[-2000:]
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "interrupted" and summary["last_checkpoint"] == str(last)
    assert read_checkpoint(last)["sisr_batches"] == summary["batches"] >= 5
    assert "resume with ckpt_path=auto" in output

    # The requeued command line, unchanged but for ckpt_path=auto, continues from there.
    budget = summary["batches"] + 3
    again = [c if not c.startswith("trainer.max_steps=") else f"trainer.max_steps={budget}" for c in command]
    finished = subprocess.run([*again, "ckpt_path=auto"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["status"] == "completed" and resumed["batches"] == budget and resumed["resumed_from"] == str(last)


# --------------------------------------------------------------------------------------------- atomic saves
def test_a_full_disk_leaves_the_previous_checkpoint_and_no_partial_file(compose_train, monkeypatch) -> None:
    overrides = ["model=srcnn", *tiny_overrides("srcnn"), *QUICK_DATA, "logger=none", "test_after_fit=false"]
    first = _run(compose_train, [*overrides, "trainer.max_steps=2", "trainer.val_check_interval=2"], "run")
    last = Path(first["last_checkpoint"])
    before = last.read_bytes()

    def full_disk(obj: object, handle: object, *args: object, **kwargs: object) -> None:
        handle.write(b"partial")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    resume = [*overrides, "trainer.max_steps=4", "trainer.val_check_interval=4", "ckpt_path=auto"]
    from sisr.plumbing.errors import SISRError

    with pytest.raises(SISRError, match=rf"could not write \S+\.ckpt in {last.parent} \(No space left"):
        _run(compose_train, resume, "run")
    assert last.read_bytes() == before
    assert not [p.name for p in last.parent.iterdir() if p.name.startswith(".")]  # no temp file left behind
    generator, _ = load_generator(last)
    assert type(generator).__name__ == "SRCNN"


# A run long enough for a signal sent from a callback to land mid-training.
SIGNALLED_RUN = ["model=srcnn", *tiny_overrides("srcnn"), *QUICK_DATA, "data.repeat=4", "trainer.max_steps=50",
                 "logger=none", "callbacks.model_checkpoint.every_n_train_steps=100"]  # fmt: skip


def add_callback(monkeypatch: pytest.MonkeyPatch, callback: Callback) -> None:
    """Run `callback` after the configured callbacks of the next `train` (no loggers)."""
    import sisr.core.training as training

    original = training.build_callbacks_and_loggers
    monkeypatch.setattr(training, "build_callbacks_and_loggers", lambda c: (original(c)[0] + [callback], []))


def test_a_handler_installed_before_the_run_is_called_after_the_save(compose_train, monkeypatch) -> None:
    # What submitit does on preemption (SIGUSR2): its handler requeues the job. It must run after last.ckpt is saved.
    cfg = compose_train(SIGNALLED_RUN)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    calls: list[tuple[int, bool]] = []

    class SendSignal(Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
            if trainer.global_step == 3:
                os.kill(os.getpid(), signal.SIGUSR2)

    add_callback(monkeypatch, SendSignal())
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: calls.append((signum, last.is_file())))
    try:
        with pytest.raises(TrainingInterrupted) as stop:
            train(cfg)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert stop.value.signum == signal.SIGUSR2 and calls == [(signal.SIGUSR2, True)]
    assert read_checkpoint(last)["sisr_batches"] == stop.value.batches == 4  # signal came after batch 3's save check


def test_sigterm_after_the_batch_check_is_still_saved_and_interrupted(compose_train, monkeypatch) -> None:
    # The signal can land after RunCheckpoint's check in a batch; Lightning then ends the fit at the end of that
    # batch with its own SIGTERMException (a SystemExit with status 0). It must still save and count as interrupted.
    cfg = compose_train(SIGNALLED_RUN)

    class LateSigterm(Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
            if trainer.global_step == 3:
                os.kill(os.getpid(), signal.SIGTERM)

    add_callback(monkeypatch, LateSigterm())
    with pytest.raises(TrainingInterrupted) as stop:
        train(cfg)
    summary = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert stop.value.signum == signal.SIGTERM and summary["status"] == "interrupted" and summary["batches"] == 3
    assert read_checkpoint(summary["last_checkpoint"])["sisr_batches"] == 3


def test_a_handler_that_exits_after_requeueing_still_ends_as_interrupted(compose_train, monkeypatch) -> None:
    # submitit's preemption handler requeues the job, then calls sys.exit: the run must still record `interrupted`
    # (its state is saved), not `failed`.
    cfg = compose_train(SIGNALLED_RUN)

    class SendSignal(Callback):
        def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
            if trainer.global_step == 3:
                os.kill(os.getpid(), signal.SIGUSR2)

    def requeue_and_exit(signum: int, frame: object) -> None:
        raise SystemExit(-1)

    add_callback(monkeypatch, SendSignal())
    previous = signal.signal(signal.SIGUSR2, requeue_and_exit)
    try:
        with pytest.raises(TrainingInterrupted):
            train(cfg)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    summary = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert summary["status"] == "interrupted" and summary["batches"] == 4
