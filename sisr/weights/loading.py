"""Generator weights from files: sisr checkpoints, sisr exports, and the RRDBNet files of the ESRGAN ecosystem.

ESRGAN (Wang et al., ECCV-W 2018) weights circulate in three key layouts of one network, all read here into the
layout of `sisr.models.rrdbnet.RRDBNet` (and BasicSR's written back on export, `to_basicsr`):

* ESRGAN's original release: `model.0` (first conv), `model.1.sub.N.RDB1.conv1.0` (dense blocks),
  `model.1.sub.<num_blocks>` (trunk conv), then `model.3`, `model.6`, ... (one per x2 stage), HR conv, last conv;
* ESRGAN's repository after its 2019 rewrite (also BSRGAN, RealSR): `conv_first`, `RRDB_trunk.N.RDB1.conv1`,
  `trunk_conv`, `upconv1`, `upconv2`, `HRconv`, `conv_last`;
* BasicSR / Real-ESRGAN: `conv_first`, `body.N.rdb1.conv1`, `conv_body`, `conv_up1`, `conv_up2`, `conv_hr`,
  `conv_last`, usually wrapped in `params` or `params_ema` (the EMA copy, preferred as Real-ESRGAN does).

Width, depth, growth, channels and scale are read from the keys and shapes. A file with no upsampling stage info
beyond its count is read as x2 per stage (x2, x4, x8), as spandrel does; sisr's own exports carry their scale in
their metadata: inside a `.safetensors` file's header, or in `<file>.json` beside a state dict (`sisr.export`);
a `metadata.json` beside the file that names it (`weights_file`), how exports were described before, is still read.
Every reader takes `.safetensors` files (`sisr.weights.safetensors_files`) as well as `torch.save` files. RRDBNets saved as
ncnn models (`<model>.param` with its `.bin` beside it, e.g. Real-ESRGAN's realesrgan-ncnn-vulkan files) are read by
`sisr.weights.ncnn`. Nothing here imports Lightning or Hydra at import time.
"""

from __future__ import annotations

import importlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import Tensor, nn

from sisr.plumbing.errors import SISRError
from sisr.weights import ncnn
from sisr.weights.safetensors_files import is_safetensors, read_safetensors, read_safetensors_metadata
from sisr.weights.torch_files import read_torch_file

METADATA_FILE = "metadata.json"  # the folder-wide file older exports wrote (weights/srcnn_x3_t91/ ships one)
METADATA_SUFFIX = ".json"  # a state dict export's metadata: <file>.json beside it (rrdb.pth -> rrdb.pth.json)
RRDBNET_TARGET = "sisr.models.rrdbnet.RRDBNet"
_WRAPPERS = ("state_dict", "model", "net", "model_state_dict")  # other containers spandrel unwraps too
_RDB = r"(\d+)\.(?:rdb|RDB)([123])\.conv([1-5])(?:\.0)?\.(weight|bias)"
StateDict = dict[str, Tensor]


# ----------------------------------------------------------------------------------------------- layouts
def layout_of(state: StateDict) -> str | None:
    """The RRDBNet key layout of `state`: "sisr", "basicsr", "esrgan" (2019 rewrite), "esrgan-old" or None."""
    if "model.1.sub.0.RDB1.conv1x1.weight" in state:
        raise SISRError("the weights are ESRGAN+ (dense blocks with conv1x1), which sisr does not implement.")
    markers = {
        "sisr": "body.0.body.0.convs.0.weight",
        "basicsr": "body.0.rdb1.conv1.weight",
        "esrgan": "RRDB_trunk.0.RDB1.conv1.weight",
        "esrgan-old": "model.1.sub.0.RDB1.conv1.0.weight",
    }
    return next((name for name, key in markers.items() if key in state), None)


def _dense_key(block: str, rdb: str, conv: str, kind: str) -> str:
    """Our key of conv `conv` (1-5) of dense block `rdb` (1-3) of RRDB `block`."""
    layer = f"convs.{int(conv) - 1}" if conv != "5" else "fuse"
    return f"body.{block}.body.{int(rdb) - 1}.{layer}.{kind}"


def _rename(state: StateDict, rules: list[tuple[str, Callable[[re.Match[str]], str]]], what: str) -> StateDict:
    """Rename every key by the first matching rule; a key no rule knows is an error naming it."""
    out: StateDict = {}
    for key, value in state.items():
        match = next(((m, make) for pattern, make in rules if (m := re.fullmatch(pattern, key))), None)
        if match is None:
            raise SISRError(f"the {what} weights hold a key sisr's RRDBNet has no place for: {key!r}.")
        out[match[1](match[0])] = value
    return out


def _old_layout_rules(state: StateDict) -> list[tuple[str, Callable[[re.Match[str]], str]]]:
    """Rules for ESRGAN's original `model.N` layout: after `model.1`, the convs are the upsampling stages in
    order, then the HR conv, then the last conv."""
    tail = sorted({int(m[1]) for k in state if (m := re.fullmatch(r"model\.(\d+)\.weight", k)) and int(m[1]) >= 2})
    if len(tail) < 3:
        raise SISRError("the ESRGAN (original layout) weights lack the upsampling, HR and last convolutions.")
    names = {index: f"conv_up.{i}" for i, index in enumerate(tail[:-2])} | {tail[-2]: "conv_hr", tail[-1]: "conv_last"}
    blocks = [int(m[1]) for k in state if (m := re.fullmatch(r"model\.1\.sub\.(\d+)\.weight", k))]
    trunk = str(max(blocks, default=-1))
    return [
        (r"model\.0\.(weight|bias)", lambda m: f"conv_first.{m[1]}"),
        (rf"model\.1\.sub\.{trunk}\.(weight|bias)", lambda m: f"conv_body.{m[1]}"),
        (rf"model\.1\.sub\.{_RDB}", lambda m: _dense_key(*m.groups())),
        (rf"model\.({'|'.join(map(str, names))})\.(weight|bias)", lambda m: f"{names[int(m[1])]}.{m[2]}"),
    ]


_NAMED_RULES: dict[str, list[tuple[str, Callable[[re.Match[str]], str]]]] = {
    "basicsr": [
        (rf"body\.{_RDB}", lambda m: _dense_key(*m.groups())),
        (r"conv_up(\d)\.(weight|bias)", lambda m: f"conv_up.{int(m[1]) - 1}.{m[2]}"),
        (r"(conv_first|conv_body|conv_hr|conv_last)\.(weight|bias)", lambda m: m[0]),
    ],
    "esrgan": [
        (rf"RRDB_trunk\.{_RDB}", lambda m: _dense_key(*m.groups())),
        (r"upconv(\d)\.(weight|bias)", lambda m: f"conv_up.{int(m[1]) - 1}.{m[2]}"),
        (r"trunk_conv\.(weight|bias)", lambda m: f"conv_body.{m[1]}"),
        (r"HRconv\.(weight|bias)", lambda m: f"conv_hr.{m[1]}"),
        (r"(conv_first|conv_last)\.(weight|bias)", lambda m: m[0]),
    ],
}
_LAYOUT_NAMES = {"basicsr": "BasicSR", "esrgan": "ESRGAN", "esrgan-old": "ESRGAN (original layout)", "sisr": "sisr"}


def to_sisr(state: StateDict) -> StateDict:
    """An RRDBNet state dict in any of the ESRGAN layouts (or ours) in `sisr.models.rrdbnet.RRDBNet`'s keys."""
    layout = layout_of(state)
    if layout is None:
        raise SISRError("the weights are not an RRDBNet in a layout sisr knows (ESRGAN, BasicSR or sisr).")
    if layout == "sisr":
        return dict(state)
    rules = _old_layout_rules(state) if layout == "esrgan-old" else _NAMED_RULES[layout]
    return _rename(state, rules, _LAYOUT_NAMES[layout])


def to_basicsr(state: StateDict) -> StateDict:
    """Our RRDBNet state dict in BasicSR's keys (what BasicSR, Real-ESRGAN and spandrel load)."""
    rules: list[tuple[str, Callable[[re.Match[str]], str]]] = [
        (r"body\.(\d+)\.body\.(\d)\.convs\.(\d)\.(weight|bias)",
         lambda m: f"body.{m[1]}.rdb{int(m[2]) + 1}.conv{int(m[3]) + 1}.{m[4]}"),
        (r"body\.(\d+)\.body\.(\d)\.fuse\.(weight|bias)", lambda m: f"body.{m[1]}.rdb{int(m[2]) + 1}.conv5.{m[3]}"),
        (r"conv_up\.(\d)\.(weight|bias)", lambda m: f"conv_up{int(m[1]) + 1}.{m[2]}"),
        (r"(conv_first|conv_body|conv_hr|conv_last)\.(weight|bias)", lambda m: m[0]),
    ]
    return _rename(state, rules, "sisr RRDBNet")


def rrdbnet_config(state: StateDict, scale: int | None = None) -> dict[str, Any]:
    """RRDBNet constructor arguments read from a state dict in our layout.

    Args:
        state: weights in `sisr.models.rrdbnet.RRDBNet`'s keys.
        scale: the scale when known (metadata); otherwise 2 ** (number of upsampling convs).
    """
    in_channels, out_channels = state["conv_first.weight"].shape[1], state["conv_last.weight"].shape[0]
    if in_channels in (4 * out_channels, 16 * out_channels):
        raise SISRError(
            "the weights take pixel-unshuffled input (Real-ESRGAN's x2/x1 RRDBNet), which sisr's RRDBNet does not "
            "implement; use an x4 model such as RealESRGAN_x4plus.pth."
        )
    stages = len({k.split(".")[1] for k in state if k.startswith("conv_up.")})
    return {
        "_target_": RRDBNET_TARGET,
        "in_channels": int(in_channels),
        "out_channels": int(out_channels),
        "num_features": int(state["conv_first.weight"].shape[0]),
        "num_blocks": len({k.split(".")[1] for k in state if k.startswith("body.")}),
        "growth_channels": int(state["body.0.body.0.convs.0.weight"].shape[0]),
        "scale": int(scale) if scale else 2**stages,
    }


# ----------------------------------------------------------------------------------------------- files
def read_weight_file(path: str | Path, key: str) -> dict[str, Any]:
    """The tensors of a `.safetensors` file, or a `torch.save` file loaded safely (tensors and containers only),
    with one-sentence errors."""
    if is_safetensors(path):
        return read_safetensors(path, key)
    return read_torch_file(path, key, "PyTorch weight file", "<weights .pth/.ckpt/.safetensors file>")


def is_sisr_checkpoint(loaded: dict[str, Any]) -> bool:
    """Whether a loaded file is a `sisr.train` checkpoint (a LightningModule state dict with a generator)."""
    state = loaded.get("state_dict")
    return isinstance(state, dict) and any(str(k).startswith("generator.") for k in state)


def unwrap(loaded: dict[str, Any], use_ema: bool = True) -> tuple[StateDict, bool]:
    """The tensors of a weight file: `params_ema` (when `use_ema`, or when it is the only copy) or `params` as
    BasicSR wraps them, other common containers, and a `module.` prefix removed. Returns the state dict and whether
    it is an EMA copy."""
    has_ema, has_plain = isinstance(loaded.get("params_ema"), dict), isinstance(loaded.get("params"), dict)
    from_ema = has_ema and (use_ema or not has_plain)
    state: Any = loaded["params_ema"] if from_ema else loaded.get("params", loaded)
    for wrapper in _WRAPPERS:
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise SISRError("the file holds no flat state dict of tensors (looked inside params_ema, params, state_dict).")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state), from_ema


def metadata_path(path: str | Path) -> Path:
    """Where the metadata of an export that cannot hold it goes: `<file>.json` beside the file."""
    path = Path(path)
    return path.with_name(path.name + METADATA_SUFFIX)


def _read_json(meta_file: Path) -> dict[str, Any]:
    try:
        return json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        raise SISRError(f"{meta_file} is not valid JSON ({exc}); fix or delete it.") from exc


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The export metadata of a weight file, if any: a sisr `.safetensors` header, else `<file>.json` beside it,
    else a `metadata.json` beside it that names this file (or no file). A foreign header (no `generator`) is None."""
    if is_safetensors(path):
        header = read_safetensors_metadata(path)
        if header and "generator" in header:
            return header
    if metadata_path(path).is_file():
        return _read_json(metadata_path(path))
    legacy = Path(path).parent / METADATA_FILE
    if not legacy.is_file():
        return None
    metadata = _read_json(legacy)
    return metadata if metadata.get("weights_file") in (None, Path(path).name) else None


def generator_weights(path: str | Path, key: str = "weights", use_ema: bool = True) -> StateDict:
    """The generator's weights from any file sisr reads, in the key layout of sisr's own generator class.

    Accepts a `sisr.train` checkpoint, a state dict exported by `sisr.export`, an RRDBNet in ESRGAN's original,
    ESRGAN's rewritten or BasicSR's layout (also inside `params` / `params_ema`), or an RRDBNet as an ncnn
    `.param` with its `.bin` beside it (`sisr.weights.ncnn`).

    Args:
        path: the file.
        key: the config key the path came from, named in error messages.
        use_ema: prefer EMA weights (a sisr checkpoint's EMA copy, or BasicSR's `params_ema`).
    """
    if ncnn.is_ncnn_param(path):
        return read_ncnn_file(path, key)[0]
    loaded = read_weight_file(path, key)
    try:
        if is_sisr_checkpoint(loaded):
            from sisr.weights.checkpoints import (
                generator_state,  # imported here: sisr.weights.checkpoints needs Hydra
            )

            return generator_state(loaded["state_dict"], use_ema)[0]
        state, _ = unwrap(loaded, use_ema)
        return to_sisr(state) if layout_of(state) else state
    except SISRError as exc:
        raise SISRError(f"{key} {path}: {exc}") from exc


# ----------------------------------------------------------------------------------------------- generators
@dataclass
class LoadedGenerator:
    """A generator ready for inference and what is known about it.

    Args:
        generator: the network, in eval mode.
        scale: its upscaling factor.
        source: the file it came from.
        kind: what the file was ("sisr checkpoint", "sisr export", "BasicSR", ...).
        generator_config: constructor arguments with `_target_`.
        run_config: the training run's resolved config (sisr checkpoints only).
        from_ema: the weights are an EMA copy.
        metadata: the export's metadata.json, when there is one.
    """

    generator: nn.Module
    scale: int
    source: str
    kind: str
    generator_config: dict[str, Any]
    run_config: dict[str, Any] | None = None
    from_ema: bool = False
    metadata: dict[str, Any] | None = field(default=None)


def build_generator(config: dict[str, Any]) -> nn.Module:
    """Instantiate a generator config (`_target_` + arguments); only classes of `sisr.models` are allowed."""
    target = str(config.get("_target_", ""))
    module_name, _, class_name = target.rpartition(".")
    if not module_name.startswith("sisr.models."):
        raise SISRError(f"generator _target_ {target!r} is not a class of sisr.models; the metadata is not sisr's.")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise SISRError(f"generator _target_ {target!r} names no model class in {module_name}.")
    return cls(**{k: v for k, v in config.items() if k != "_target_"})


def _load_strict(generator: nn.Module, state: StateDict, path: str | Path, key: str) -> None:
    try:
        generator.load_state_dict(state)
    except RuntimeError as exc:
        first = next((line.strip() for line in str(exc).splitlines()[1:] if line.strip()), str(exc))
        raise SISRError(f"{key} {path} does not fit {type(generator).__name__} ({first[:200]}).") from exc


def _from_checkpoint(loaded: dict[str, Any], path: str | Path, key: str, use_ema: bool) -> LoadedGenerator:
    """The generator of a loaded `sisr.train` checkpoint, rebuilt from the config saved inside it."""
    from sisr.weights.checkpoints import (
        generator_state,  # imported here: sisr.weights.checkpoints needs Hydra
    )

    config = loaded.get("sisr_config")
    if not config:
        raise SISRError(f"{key} {path} was not written by sisr.train (no saved config); retrain or re-export it.")
    state, from_ema = generator_state(loaded["state_dict"], use_ema)
    gen_config = dict(config["model"]["generator"])
    generator = build_generator(gen_config)
    _load_strict(generator, state, path, key)
    scale = int(config["data"]["scale"])
    return LoadedGenerator(generator.eval(), scale, str(path), "sisr checkpoint", gen_config, config, from_ema)


def _state_and_config(loaded: dict[str, Any], metadata: dict[str, Any] | None, use_ema: bool):
    """Our-layout state dict, generator config, EMA flag and layout of a weight file that is no checkpoint."""
    state, from_ema = unwrap(loaded, use_ema)
    layout = layout_of(state)
    if metadata is not None:
        config = dict(metadata["generator"])
        if config.get("_target_") == RRDBNET_TARGET:
            state = to_sisr(state)
        return state, config, from_ema or bool(metadata.get("ema")), layout
    if layout is None:
        raise SISRError("it is no RRDBNet and has no sisr metadata (header or <file>.json) naming its architecture")
    state = to_sisr(state)
    return state, rrdbnet_config(state), from_ema, layout


def read_ncnn_file(path: str | Path, key: str) -> tuple[StateDict, int]:
    """The RRDBNet state dict (our layout) and scale of an ncnn `.param` file with its `.bin` beside it."""
    if not Path(path).is_file():
        raise SISRError(f"{key} {path} does not exist; pass an ncnn .param file with its .bin beside it.")
    try:
        return ncnn.read_rrdbnet(path)
    except ncnn.NcnnError as exc:
        raise SISRError(f"{key} {path} is no ncnn model sisr reads: {exc}.") from exc


def _load_ncnn(path: str | Path, key: str) -> LoadedGenerator:
    """The RRDBNet of an ncnn model (fp16 or fp32 weights, widened to fp32)."""
    state, scale = read_ncnn_file(path, key)
    config = rrdbnet_config(state, scale)
    generator = build_generator(config)
    _load_strict(generator, state, path, key)
    return LoadedGenerator(generator.eval(), scale, str(path), "ncnn", config)


def load_weights(path: str | Path, key: str = "weights", use_ema: bool = True) -> LoadedGenerator:
    """Build the generator a weight file describes and load it (see `generator_weights` for what is accepted)."""
    if ncnn.is_ncnn_param(path):
        return _load_ncnn(path, key)
    loaded = read_weight_file(path, key)
    if is_sisr_checkpoint(loaded):
        return _from_checkpoint(loaded, path, key, use_ema)
    metadata = read_metadata(path)
    try:
        state, config, from_ema, layout = _state_and_config(loaded, metadata, use_ema)
        generator = build_generator(config)
    except SISRError as exc:
        raise SISRError(
            f"{key} {path}: {str(exc).rstrip('.')}; sisr reads sisr checkpoints and exports and ESRGAN/BasicSR "
            "RRDBNet files (.pth, or ncnn .param + .bin)."
        ) from exc
    _load_strict(generator, state, path, key)
    kind = "sisr export" if metadata is not None else _LAYOUT_NAMES[layout or "sisr"]
    scale = int(metadata["scale"]) if metadata else int(config["scale"])
    return LoadedGenerator(generator.eval(), scale, str(path), kind, config, None, from_ema, metadata)


def open_generator(ckpt_path: str | None, weights: str | None, use_ema: bool = True) -> LoadedGenerator:
    """The generator named by exactly one of `ckpt_path=` (a sisr checkpoint) or `weights=` (any weight file)."""
    if ckpt_path and weights:
        raise SISRError("pass either ckpt_path=<sisr checkpoint> or weights=<weight file>, not both.")
    if not ckpt_path and not weights:
        raise SISRError("no model given; pass ckpt_path=<sisr checkpoint> or weights=<weight file>.")
    if ckpt_path:
        from sisr.weights.checkpoints import (
            read_checkpoint,  # imported here: sisr.weights.checkpoints needs Hydra
        )

        return _from_checkpoint(read_checkpoint(ckpt_path), ckpt_path, "ckpt_path", use_ema)
    return load_weights(str(weights), key="weights", use_ema=use_ema)
