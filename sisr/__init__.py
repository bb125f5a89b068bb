"""sisr: a PyTorch Lightning + Hydra benchmark suite for single-image super-resolution."""

import logging
import warnings

from sisr.plumbing.paths import register_resolver

register_resolver()


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
