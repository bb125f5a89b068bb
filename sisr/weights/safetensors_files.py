"""`.safetensors` weight files (Hugging Face's format: a JSON header, then raw tensors; no pickle, no code).

ComfyUI, chaiNNer and spandrel exchange upscalers as `.safetensors`, flat state dicts whose keys are the network's
own (RRDBNet in BasicSR's layout, the file `sisr.export format=safetensors` writes). The header's `__metadata__`
is a string-to-string map; sisr stores its export metadata there one key per field (`architecture`, `scale`,
`generator`, `ema`, `config_hash`, `scores`, ...), strings as they are and everything else as JSON, the encoding
ONNX's `metadata_props` get too (`encode_metadata` / `decode_metadata`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import Tensor

from sisr.plumbing.errors import SISRError

SUFFIX = ".safetensors"


def is_safetensors(path: str | Path) -> bool:
    """Whether `path` names a `.safetensors` file (by its suffix, as every tool of the ecosystem decides)."""
    return Path(path).suffix.lower() == SUFFIX


def encode_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """Metadata as the string map a safetensors header (or ONNX `metadata_props`) holds: strings kept, the rest JSON."""
    return {key: value if isinstance(value, str) else json.dumps(value, sort_keys=True) for key, value in metadata.items()}


def decode_metadata(encoded: dict[str, str]) -> dict[str, Any]:
    """The inverse of `encode_metadata`: JSON values decoded, anything that is not JSON kept as the string it is."""
    decoded: dict[str, Any] = {}
    for key, value in encoded.items():
        try:
            decoded[key] = json.loads(value)
        except ValueError:
            decoded[key] = value
    return decoded


def _open(path: Path, key: str) -> Any:
    from safetensors import safe_open

    if not path.is_file():
        raise SISRError(f"{key} {path} does not exist; pass {key}=<weights .safetensors file>.")
    try:
        return safe_open(str(path), framework="pt", device="cpu")
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line report
        raise SISRError(f"{key} {path} is not a readable safetensors file ({type(exc).__name__}); it may be truncated.") from exc


def read_safetensors(path: str | Path, key: str = "weights") -> dict[str, Tensor]:
    """The tensors of a `.safetensors` file, on the CPU.

    Args:
        path: the file.
        key: the config key the path came from (named in errors).
    """
    with _open(Path(path), key) as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}


def read_safetensors_metadata(path: str | Path, key: str = "weights") -> dict[str, Any] | None:
    """The decoded `__metadata__` of a `.safetensors` header (None when the file has none)."""
    with _open(Path(path), key) as handle:
        encoded = handle.metadata()
    return decode_metadata(encoded) if encoded else None


def safetensors_bytes(state: dict[str, Tensor], metadata: dict[str, Any]) -> bytes:
    """A `.safetensors` file's content: `state` (made contiguous, on the CPU) with `metadata` in its header."""
    from safetensors.torch import save

    tensors = {name: value.detach().cpu().contiguous() for name, value in state.items()}
    return save(tensors, metadata=encode_metadata(metadata))
