"""sisr: a PyTorch Lightning + Hydra benchmark suite for single-image super-resolution."""

import logging

from sisr.plumbing.paths import register_resolver

register_resolver()


def _is_not_an_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


# Lightning advertises its cloud services ("💡 Tip: For seamless cloud logging ... litlogger") from its rank-zero
# console logger whenever a Trainer is built; Lightning offers no switch for it, so a filter on that logger drops
# those lines and keeps its other messages.
for _name in ("pytorch_lightning.utilities.rank_zero", "lightning.pytorch.utilities.rank_zero"):
    logging.getLogger(_name).addFilter(_is_not_an_advert)
