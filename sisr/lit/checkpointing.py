"""The run's state on disk: `last.ckpt` every N batches, every T minutes, on a stop signal and when fit ends.

Lightning's ModelCheckpoint rewrites `last.ckpt` only when it also saves a top-k file, so a run whose validation
score went down ended with a stale `last.ckpt`. `RunCheckpoint` owns `last.ckpt` instead:

* every `every_n_train_steps` batches and every `train_time_interval` minutes (whichever comes first);
* after the batch during which SIGTERM, SIGINT or SIGUSR1 arrived (SLURM and Kubernetes send SIGTERM before a
  kill), after which it raises `TrainingInterrupted` so the run ends with status `interrupted`;
* when fit ends normally (budget reached or early stop): the final weights, optimizers, schedulers, EMA, loop
  counters, the training stream's position and the RNG states, so a resume continues bit for bit.

Under SLURM with Lightning's auto-requeue, SIGUSR1 is left to Lightning, which saves `hpc_ckpt_<n>.ckpt` and
requeues the job. Inside a submitit job (hydra/launcher=slurm), submitit's preemption signal (SIGUSR2) is handled
too: `last.ckpt` is saved after the batch, then submitit's own handler requeues the job, which resumes with
`ckpt_path=auto`. A handler that was installed before the run for a stop signal is called after the save.
Every save goes through `AtomicCheckpointIO`: a temp file beside the target, fsync, rename.
"""

from __future__ import annotations

import logging
import random
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.plugins.environments import SLURMEnvironment
from pytorch_lightning.utilities.exceptions import SIGTERMException

from sisr.data.sampling import ResumableLoader
from sisr.plumbing.files import atomic_write
from sisr.plumbing.stop_signals import TrainingInterrupted, is_guard_handler

log = logging.getLogger(__name__)

LAST_CHECKPOINT = "last.ckpt"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch.save checkpoint IO, written through `sisr.plumbing.files.atomic_write` in the target's folder."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        with atomic_write(path, "wb") as handle:
            torch.save(checkpoint, handle)


def rng_states() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA), numpy and python, as tensors and plain lists (so that
    checkpoints stay loadable with `torch.load(weights_only=True)`)."""
    kind, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached],
        "python": [version, list(python_state), gauss_next],
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` returned."""
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached))
    version, python_state, gauss_next = states["python"]
    random.setstate((version, tuple(python_state), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _chains_to(handler: Any) -> bool:
    """Whether a handler found before the run is called after the save: a foreign one (submitit's requeue) is;
    Python's Ctrl-C handler (it would raise KeyboardInterrupt, which Lightning turns into exit status 1) and sisr's
    own guard (the run is already stopping) are not."""
    return callable(handler) and handler is not signal.default_int_handler and not is_guard_handler(handler)


class RunCheckpoint(Callback):
    """Owns `<dirpath>/last.ckpt` (see the module docstring).

    Args:
        dirpath: the run's checkpoint folder.
        every_n_train_steps: save every this many training batches (None: never by count).
        train_time_interval: save every this many minutes of training (None: never by time).
        handle_signals: stop gracefully on SIGTERM, SIGINT and SIGUSR1.
    """

    def __init__(
        self,
        dirpath: str | Path,
        every_n_train_steps: int | None = 5000,
        train_time_interval: float | None = 30.0,
        handle_signals: bool = True,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_train_steps = every_n_train_steps
        self.train_time_interval = train_time_interval
        self.handle_signals = handle_signals
        self.last_model_path = ""
        self.stop: TrainingInterrupted | None = None  # set when Lightning ended the fit on SIGTERM (on_exception)
        self._signal: int | None = None
        self._previous_handlers: dict[int, Any] = {}
        self._last_save_time = time.monotonic()

    @property
    def last_path(self) -> Path:
        """Where `last.ckpt` goes."""
        return self.dirpath / LAST_CHECKPOINT

    @staticmethod
    def batches(trainer: pl.Trainer) -> int:
        """Training batches done (Lightning counts optimizer steps, two per batch for the GAN models)."""
        return trainer.global_step // getattr(trainer.lightning_module, "optimizer_steps_per_batch", 1)

    # ----------------------------------------------------------------------------------------- signals
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._signal is None:
            log.warning("%s received: finishing the current batch, then saving %s", signal.Signals(signum).name, self.last_path)
        self._signal = signum

    def _signals_to_handle(self, trainer: pl.Trainer) -> list[int]:
        signals = list(STOP_SIGNALS)
        environment = trainer._accelerator_connector.cluster_environment  # noqa: SLF001 - no public accessor
        if isinstance(environment, SLURMEnvironment) and environment.auto_requeue:
            signals.remove(signal.SIGUSR1)  # Lightning saves an hpc checkpoint and requeues
        if callable(signal.getsignal(signal.SIGUSR2)):
            signals.append(signal.SIGUSR2)  # submitit's preemption signal: save first, then let it requeue
        return signals

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._signal = None
        self._last_save_time = time.monotonic()
        if self.handle_signals:
            for signum in self._signals_to_handle(trainer):
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    # ----------------------------------------------------------------------------------------- saving
    def save(self, trainer: pl.Trainer) -> Path:
        """Write `last.ckpt` now (every rank must call this: saving is collective under DDP)."""
        trainer.save_checkpoint(self.last_path, weights_only=False)  # the full state: optimizers, loops, RNGs
        self.last_model_path = str(self.last_path)
        self._last_save_time = time.monotonic()
        return self.last_path

    def _periodic_save_due(self, trainer: pl.Trainer) -> bool:
        batches = self.batches(trainer)
        if self.every_n_train_steps and batches % self.every_n_train_steps == 0:
            return True
        elapsed_minutes = (time.monotonic() - self._last_save_time) / 60.0
        return bool(self.train_time_interval) and elapsed_minutes >= float(self.train_time_interval)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loader = trainer.train_dataloader
        if isinstance(loader, ResumableLoader):
            loader.mark_trained(batch_idx + 1)  # the stream position saved with the next checkpoint
        received = self._signal or (trainer.received_sigterm and signal.SIGTERM)
        if received:
            path = self.save(trainer)
            previous = self._previous_handlers.get(int(received))
            if _chains_to(previous):
                try:
                    previous(int(received), None)  # e.g. submitit's requeue, now that the state is saved
                except SystemExit:
                    pass  # submitit exits once the job is requeued; end as an interrupted run instead
            raise TrainingInterrupted(int(received), self.batches(trainer), path)
        if self._periodic_save_due(trainer):
            self.save(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """SIGTERM that arrived after this batch's check: Lightning stops at the batch's end with its own
        SIGTERMException (a SystemExit with status 0). Save the state and record the stop here instead."""
        if isinstance(exception, SIGTERMException):
            self.stop = TrainingInterrupted(signal.SIGTERM, self.batches(trainer), self.save(trainer))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.save(trainer)  # the final state, whatever the last validation score was

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.last_model_path:  # resumed at its budget: no batch ran, the restored state is the final one
            self.save(trainer)

    # ----------------------------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        return {"rng_states": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "rng_states" in state_dict:
            set_rng_states(state_dict["rng_states"])
