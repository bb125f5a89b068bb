"""Reading `.pth` / `.ckpt` files safely (`torch.load(weights_only=True)`: tensors and plain containers only), with
one-sentence errors that name the config key the path came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sisr.plumbing.errors import SISRError


def read_torch_file(path: str | Path, key: str, what: str, example: str) -> dict[str, Any]:
    """The dict saved in `path`.

    Args:
        path: the file.
        key: the config key the path came from (named in errors).
        what: what the file should be, e.g. "sisr checkpoint" (named in errors).
        example: what to pass instead, e.g. "<run>/checkpoints/<file>.ckpt".
    """
    path = Path(path)
    if not path.is_file():
        raise SISRError(f"{key} {path} does not exist; pass {key}={example}.")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line report
        raise SISRError(f"{key} {path} is not a readable {what} ({type(exc).__name__}); it may be truncated.") from exc
    if not isinstance(loaded, dict):
        raise SISRError(f"{key} {path} holds a {type(loaded).__name__}, not a state dict.")
    return loaded
