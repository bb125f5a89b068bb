"""Reading sisr training checkpoints: the file checks, the generator's weights, and the generator rebuilt from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from torch import Tensor, nn

from sisr.plumbing.errors import SISRError
from sisr.weights.torch_files import read_torch_file

GENERATOR_PREFIX = "generator."
EMA_PREFIX = "ema.module."


def read_checkpoint(path: str | Path, key: str = "ckpt_path") -> dict[str, Any]:
    """Load a checkpoint written by `sisr.train` (tensors and plain containers only: `weights_only=True`).

    Args:
        path: the checkpoint file.
        key: the config key the path came from, named in error messages.
    """
    checkpoint = read_torch_file(path, key, "sisr checkpoint", "<run>/checkpoints/<file>.ckpt")
    if "state_dict" not in checkpoint:
        raise SISRError(f"{key} {path} holds no state_dict; use a checkpoint written by sisr.train.")
    return checkpoint


def generator_state(state_dict: dict[str, Tensor], use_ema: bool = True) -> tuple[dict[str, Tensor], bool]:
    """The generator's weights from a LightningModule state dict, and whether they are the EMA copy.

    Args:
        state_dict: the checkpoint's `state_dict`.
        use_ema: take the EMA weights when the run kept them.
    """
    from_ema = use_ema and any(key.startswith(EMA_PREFIX) for key in state_dict)
    prefix = EMA_PREFIX if from_ema else GENERATOR_PREFIX
    return {key[len(prefix) :]: value for key, value in state_dict.items() if key.startswith(prefix)}, from_ema

def load_generator(path: str | Path, use_ema: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator of a sisr checkpoint from the config saved inside it, and load its weights.

    Args:
        path: checkpoint written by `sisr.train`.
        use_ema: prefer the EMA weights when the run kept them.

    Returns:
        The generator in eval mode and the run's resolved config.
    """
    checkpoint = read_checkpoint(path)
    if "sisr_config" not in checkpoint:
        raise SISRError(f"checkpoint {path} was not written by sisr.train (no saved config); retrain or re-export it.")
    config = checkpoint["sisr_config"]
    generator = instantiate(config["model"]["generator"])
    generator.load_state_dict(generator_state(checkpoint["state_dict"], use_ema)[0])
    return generator.eval(), config
