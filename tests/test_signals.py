"""Failure injection: every stop signal at every phase of a run, for every model config, and kill -9.

Each case checks what a scheduler and a person see: the exit status (128 + the signal number, as the entry points
exit), `metrics.json` (`interrupted`, the phase, the batches), the checkpoint's batch, and that resuming with
`ckpt_path=auto` ends with final weights bitwise identical to an uninterrupted run.

In-process cases send the signal to this process from a callback (or from data preparation) at a chosen batch, so
the phase is exact; the subprocess cases are the real thing: a terminal's Ctrl-C to the whole process group (loader
workers included) and kill -9 of a run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from sisr.core.training import train
from sisr.data.datamodule import SRDataModule
from sisr.plumbing.cli import run_until_stopped
from sisr.weights.checkpoints import read_checkpoint
from tests.configs import tiny_overrides, trainable_models
from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data
from tests.run_states import QUICK_DATA, QUICK_EPOCH, batches_done, differing, final_weights

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("single_thread", "shared_cache")]

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGUSR1]
PHASES = ["data preparation", "training", "validation", "test"]
BUDGET = [*QUICK_EPOCH, "trainer.max_steps=6", "trainer.val_check_interval=3", "logger=none", "model.ema_decay=0.9",
          "callbacks.model_checkpoint.every_n_train_steps=100"]  # fmt: skip
SIGNAL_BATCH = 2  # the training batch (and, for validation, the validation after batch 3) the signal arrives in


class SignalAt(Callback):
    """Sends `signum` to this process once, during `phase` ("training": in batch 2; "validation": in the first
    validation after the sanity check; "test": in the test loop)."""

    def __init__(self, phase: str, signum: int) -> None:
        self.phase, self.signum, self.sent = phase, int(signum), False

    def _send(self) -> None:
        if not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if self.phase == "training" and batches_done(trainer) == SIGNAL_BATCH - 1:
            self._send()

    def on_validation_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if self.phase == "validation" and not trainer.sanity_checking:
            self._send()

    def on_test_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if self.phase == "test":
            self._send()


def exit_status(task, *args) -> int:
    """The status the entry point exits with (`run_until_stopped`), or 0."""
    try:
        run_until_stopped(task, *args)
    except SystemExit as stop:
        return int(stop.code or 0)
    return 0


_STRAIGHT: dict[str, dict] = {}


def straight_run(compose_train, model: str, overrides: list[str]) -> dict:
    """The uninterrupted run of `model` (once per test session)."""
    if model not in _STRAIGHT:
        _STRAIGHT[model] = train(compose_train(overrides, run=f"straight-{model}"))
    return _STRAIGHT[model]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("model", trainable_models())
def test_a_stop_signal_at_any_phase_is_recorded_and_resumes_bitwise(
    compose_train, monkeypatch: pytest.MonkeyPatch, model: str, signum: int, phase: str
) -> None:
    overrides = [f"model={model}", *tiny_overrides(model), *QUICK_DATA, *BUDGET]
    straight = straight_run(compose_train, model, overrides)
    assert straight["status"] == "completed" and straight["batches"] == 6

    if phase == "data preparation":
        prepare = SRDataModule.prepare_data

        def prepare_then_signal(self: SRDataModule) -> None:
            prepare(self)
            os.kill(os.getpid(), signum)

        monkeypatch.setattr(SRDataModule, "prepare_data", prepare_then_signal)
    stopped = [*overrides, "+callbacks.signal._target_=tests.test_signals.SignalAt", f"+callbacks.signal.phase={phase}",
               f"+callbacks.signal.signum={int(signum)}"]  # fmt: skip
    cfg = compose_train(stopped, run="run")
    assert exit_status(train, cfg) == 128 + signum
    monkeypatch.undo()

    run_dir = Path(cfg.paths.output_dir)
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "interrupted", record
    assert signal.Signals(signum).name in record["error"]
    last = run_dir / "checkpoints" / "last.ckpt"
    if phase == "data preparation":
        assert record["phase"] == "data preparation" and record["batches"] == 0
        assert not last.exists()  # nothing was trained, nothing saved
        return
    saved = read_checkpoint(str(last))["sisr_batches"]
    assert record["last_checkpoint"] == str(last) and saved == record["batches"]
    if phase == "test":
        assert record["phase"] == "test" and saved == 6 and record["test"] == {}
        assert not differing(final_weights(straight["last_checkpoint"]), final_weights(last))  # the final state
    else:
        assert record["phase"] == "fit"
        # Training: saved after the batch the signal arrived in. Validation (after batch 3): SIGTERM ends the
        # fit there (Lightning's check), the others at the end of the next batch.
        expected = {"training": SIGNAL_BATCH, "validation": 3 if signum == signal.SIGTERM else 4}[phase]
        assert saved == expected

    resumed = train(compose_train([*overrides, "ckpt_path=auto"], run="run"))
    assert resumed["status"] == "completed" and resumed["batches"] == 6 and resumed["resumed_from"] == str(last)
    assert set(resumed["test"]) == set(straight["test"])  # the test the signal cut short has run
    different = differing(final_weights(straight["last_checkpoint"]), final_weights(resumed["last_checkpoint"]))
    assert not different, f"{len(different)} tensors differ after the resume, e.g. {different[:3]}"


# ------------------------------------------------------------------------------------------ real processes
def _command(model: str, run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sisr.train", f"model={model}", *tiny_overrides(model), *QUICK_DATA, *QUICK_EPOCH,
            "logger=none", "test_after_fit=false", "trainer.val_check_interval=4",
            f"hydra.run.dir={run_dir}", *extra]  # fmt: skip


def _environment(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}


def _start_and_wait_for_a_checkpoint(command: list[str], env: dict[str, str], run_dir: Path, batches: int) -> subprocess.Popen:
    """Start a run in its own process group (as a terminal would) and wait until `last.ckpt` holds `batches`."""
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)  # fmt: skip
    last, deadline = run_dir / "checkpoints" / "last.ckpt", time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline and process.poll() is None:
        if last.is_file() and read_checkpoint(str(last))["sisr_batches"] >= batches:
            return process
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"no checkpoint of batch {batches} in time: {process.communicate()[0][-2000:]}")


def _finish(command: list[str], env: dict[str, str]) -> None:
    finished = subprocess.run([*command, "ckpt_path=auto"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert finished.returncode == 0, finished.stderr[-2000:]


@pytest.mark.parametrize("model", trainable_models())
def test_ctrl_c_and_kill_9_in_real_processes_resume_bitwise(tmp_path: Path, model: str) -> None:
    env = _environment(tmp_path)
    budget = ["trainer.max_steps=2000", "callbacks.model_checkpoint.every_n_train_steps=2", "data.num_workers=2"]
    straight_dir, ctrl_c_dir, killed_dir = tmp_path / "straight", tmp_path / "ctrl_c", tmp_path / "killed"

    # A person's Ctrl-C: SIGINT to the whole foreground process group, the two loader workers included.
    command = _command(model, ctrl_c_dir, *budget)
    process = _start_and_wait_for_a_checkpoint(command, env, ctrl_c_dir, 2)
    os.killpg(process.pid, signal.SIGINT)
    output = process.communicate(timeout=HANG_GUARD)[0]
    assert process.returncode == 130, output[-3000:]
    record = json.loads((ctrl_c_dir / "metrics.json").read_text())
    assert record["status"] == "interrupted" and "SIGINT" in record["error"], record
    stopped_at = read_checkpoint(str(ctrl_c_dir / "checkpoints" / "last.ckpt"))["sisr_batches"]
    assert stopped_at == record["batches"] >= 2
    assert "Traceback" not in output and "resume with ckpt_path=auto" in output

    # kill -9 after a periodic checkpoint: nothing else is written.
    killed_command = _command(model, killed_dir, *budget)
    process = _start_and_wait_for_a_checkpoint(killed_command, env, killed_dir, 4)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=HANG_GUARD)

    # Both resume to the same budget and end where an uninterrupted run ends.
    total = max(stopped_at, read_checkpoint(str(killed_dir / "checkpoints" / "last.ckpt"))["sisr_batches"]) + 3
    with_total = [f"trainer.max_steps={total}" if c == "trainer.max_steps=2000" else c for c in budget]
    subprocess.run(_command(model, straight_dir, *with_total), cwd=REPO_ROOT, env=env, check=True, capture_output=True, timeout=HANG_GUARD)
    expected = final_weights(straight_dir / "checkpoints" / "last.ckpt")
    for run_dir in (ctrl_c_dir, killed_dir):
        _finish(_command(model, run_dir, *with_total), env)
        record = json.loads((run_dir / "metrics.json").read_text())
        assert record["status"] == "completed" and record["batches"] == total
        different = differing(expected, final_weights(run_dir / "checkpoints" / "last.ckpt"))
        assert not different, f"{run_dir.name}: {len(different)} tensors differ, e.g. {different[:3]}"
