"""Stop signals (SIGTERM, SIGINT, SIGUSR1) outside the training loop: the run ends at once with a true record.

Inside `trainer.fit`, `sisr.lit.checkpointing.RunCheckpoint` defers a stop signal to the end of the current batch,
saves `last.ckpt` and raises `TrainingInterrupted`. Everywhere else a run can be (data preparation, building the
model, testing the final weights, between the stages of an experiment, the leaderboard's scoring) there is no
state worth a save, so `StopSignals` turns the signal into `StopRequested`, raised in the main thread like
Ctrl-C's KeyboardInterrupt. The entry point records the run as `interrupted` and exits with 128 + the signal
number, as a scheduler expects. Only the first signal raises; repeats are recorded and ignored, so the record
itself is written in peace.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class TrainingInterrupted(Exception):
    """A stop signal ended the run; `checkpoint` (None when the run saved none) holds the state to resume from."""

    def __init__(self, signum: int, batches: int, checkpoint: Path | None, phase: str = "fit") -> None:
        self.signum, self.batches, self.checkpoint, self.phase = signum, batches, checkpoint, phase
        name = signal.Signals(signum).name
        saved = f"state saved to {checkpoint}" if checkpoint else "no checkpoint saved by this run"
        where = f"after batch {batches}" if phase == "fit" else f"during {phase}, after batch {batches}"
        super().__init__(f"{name} received: stopped {where}, {saved}")


class StopRequested(BaseException):
    """A stop signal arrived outside the training loop. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` on the way up swallows it."""

    def __init__(self, signum: int, phase: str = "") -> None:
        self.signum, self.phase = int(signum), phase
        super().__init__(f"{signal.Signals(signum).name} received" + (f" during {phase}" if phase else ""))


class StopSignals:
    """While active (a context manager), the first stop signal raises `StopRequested` in the main thread.

    `phase` names what the process is doing, for the record (`data preparation`, `test`, ...). Lightning's
    signal connector chains to this handler for SIGTERM during its loops, and leaves SIGUSR1 to it.
    """

    active: StopSignals | None = None  # the innermost active guard, for `enter_phase`

    def __init__(self, phase: str = "") -> None:
        self.phase = phase
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._outer: StopSignals | None = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping; let the record be written
        self.received = signum
        raise StopRequested(signum, self.phase)

    def install(self) -> None:
        """Make this guard's handler the handler of every stop signal (main thread only; a no-op elsewhere)."""
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                signal.signal(signum, self._handle)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
            self.install()
        self._outer, StopSignals.active = StopSignals.active, self
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        StopSignals.active = self._outer
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @classmethod
    def enter_phase(cls, phase: str) -> None:
        """Name what the process does now, for the record of a stop during it."""
        if cls.active is not None:
            cls.active.phase = phase


def is_guard_handler(handler: Any) -> bool:
    """Whether `handler` is a `StopSignals` guard's (RunCheckpoint must not chain to it after its own save)."""
    return isinstance(getattr(handler, "__self__", None), StopSignals)


def ignore_stop_signals() -> None:
    """For helper processes (DataLoader workers): leave stop signals to the main process. A terminal's Ctrl-C and
    SLURM's SIGTERM reach the whole process group; a worker that died of it would make the main process fail with
    "DataLoader worker exited unexpectedly" before it could save and record the stop."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
