"""sisr: a PyTorch Lightning + Hydra benchmark suite for single-image super-resolution.

The Python API (see README, "Python API"): `sisr.load(path)` returns an `Upscaler`, `sisr.evaluate(...)` scores a
model or SR images, `sisr.train(overrides)` trains; user errors raise `sisr.SISRError`. The API is imported on
first use, so `import sisr` stays light (no Lightning, no Hydra).
"""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import TYPE_CHECKING, Any

from sisr.plumbing.errors import SISRError
from sisr.plumbing.paths import register_resolver

if TYPE_CHECKING:
    from sisr.api import UpscaleSettings, Upscaler, evaluate, load, train

__all__ = ["SISRError", "UpscaleSettings", "Upscaler", "evaluate", "load", "train"]
_API = {"UpscaleSettings", "Upscaler", "evaluate", "load", "train"}

register_resolver()


def __getattr__(name: str) -> Any:
    """The API's functions, imported from `sisr.api` on first use."""
    if name in _API:
        return getattr(importlib.import_module("sisr.api"), name)
    raise AttributeError(f"module 'sisr' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)


def _is_not_an_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


# Lightning advertises its cloud services ("💡 Tip: For seamless cloud logging ... litlogger") from its rank-zero
# console logger whenever a Trainer is built; Lightning offers no switch for it, so a filter on that logger drops
# those lines and keeps its other messages.
for _name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_is_not_an_advert)


# Lightning and torch warnings that every run would print and that say nothing about this run: the SLURM hint
# (printed wherever `srun` is installed, even when a run is not meant for SLURM), a torch pytree deprecation inside
# Lightning, and the note that the frozen VGG19 of the perceptual losses is in eval mode (it is meant to be).
for _message in (
    r"The `srun` command is available on your system but is not used",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    r"Found \d+ module\(s\) in eval mode at the start of training",
):
    warnings.filterwarnings("ignore", message=_message)
