"""VGG19 features for perceptual losses (Simonyan & Zisserman, ICLR 2015), as used by SRGAN and ESRGAN.

Layers are named like the papers: `convB_K` is the K-th convolution of block B, so SRGAN's "VGG54" is
`conv5_4`. Features are taken before or after that convolution's ReLU (SRGAN: after, ESRGAN: before).

Weights come from torchvision's weights API (ImageNet, downloaded once into the torch hub cache), from a
local file, or, for tests only, from a random initialisation that must be asked for by name.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterable
from itertools import chain
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchvision.models import VGG19_Weights, vgg19

from sisr.plumbing.errors import SISRError
from sisr.plumbing.paths import display_path

log = logging.getLogger(__name__)

IMAGENET = "imagenet"
RANDOM_INIT_FOR_TESTS = "random-init-for-tests"
IMAGENET_WEIGHTS = VGG19_Weights.IMAGENET1K_V1
# Input normalisation the ImageNet weights were trained with (their own preprocessing preset).
_PRESET = IMAGENET_WEIGHTS.transforms()
IMAGENET_MEAN: tuple[float, ...] = tuple(_PRESET.mean)
IMAGENET_STD: tuple[float, ...] = tuple(_PRESET.std)
WEIGHTS_KEY = "model.perceptual_loss.weights"


def _vgg19_features_on_meta() -> nn.Sequential:
    """torchvision's VGG19 `features` built without memory or initialisation (its classifier alone is 120 M weights)."""
    with torch.device("meta"):
        return vgg19(weights=None).features


def vgg19_layer_indices() -> dict[str, int]:
    """Map paper layer names (conv1_1 ... conv5_4) to their index in torchvision's `vgg19().features`."""
    indices: dict[str, int] = {}
    block, conv = 1, 0
    for index, layer in enumerate(_vgg19_features_on_meta()):
        if isinstance(layer, nn.Conv2d):
            conv += 1
            indices[f"conv{block}_{conv}"] = index
        elif isinstance(layer, nn.MaxPool2d):
            block, conv = block + 1, 0
    return indices


def imagenet_cache_path() -> Path:
    """Where torch.hub keeps the ImageNet VGG19 file: `<torch.hub.get_dir()>/checkpoints/<file name of the URL>`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(IMAGENET_WEIGHTS.url).path).name


def load_problem(exc: BaseException) -> str:
    """Why `torch.load(weights_only=True)` failed, in a few words: its first line, or for a file holding more than
    tensors just that (torch's own text goes on to advise `weights_only=False`, which sisr never does)."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) or "weights_only" in text:
        return "it holds Python objects, not only tensors: not a state_dict"
    return text.splitlines()[0] if text else type(exc).__name__


def _imagenet_fix(cached: Path) -> str:
    """What to do when the ImageNet VGG19 file is not usable at `cached`."""
    return f"download {IMAGENET_WEIGHTS.url} to {display_path(cached)}, or set {WEIGHTS_KEY}=/path/to/{cached.name}"


def weights_unavailable(weights: str) -> str | None:
    """Why VGG19 weights named like `model.perceptual_loss.weights` cannot be loaded without a download, or None.

    Args:
        weights: 'imagenet' (present once in the torch hub cache), a state_dict file, or 'random-init-for-tests'.
    """
    if weights == RANDOM_INIT_FOR_TESTS:
        return None
    if weights == IMAGENET:
        cached = imagenet_cache_path()
        if cached.is_file():
            return None
        return f"VGG19 ImageNet weights are not in the torch hub cache; {_imagenet_fix(cached)}"
    if Path(weights).expanduser().is_file():
        return None
    return f"VGG19 weights file {weights} ({WEIGHTS_KEY}) does not exist"


def _imagenet_state_dict() -> dict[str, Tensor]:
    cached = imagenet_cache_path()
    fix = _imagenet_fix(cached)
    if cached.is_file():
        try:
            return IMAGENET_WEIGHTS.get_state_dict(progress=False, check_hash=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            raise SISRError(
                f"could not read the cached VGG19 weights {cached} ({load_problem(exc)}); delete it and {fix}."
            ) from exc
    log.info("VGG19 ImageNet weights not cached at %s; downloading %s", cached, IMAGENET_WEIGHTS.url)
    try:
        return IMAGENET_WEIGHTS.get_state_dict(progress=True, check_hash=True)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad hash is a RuntimeError
        raise SISRError(
            f"the VGG19 ImageNet weights are not in the torch hub cache and could not be downloaded ({exc}); {fix}."
        ) from exc


def _file_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise SISRError(
            f"VGG19 weights file {path} does not exist; set {WEIGHTS_KEY} to '{IMAGENET}' or to an existing "
            f"torchvision vgg19 state_dict file ('{RANDOM_INIT_FOR_TESTS}' is for tests only)."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise SISRError(
            f"could not read VGG19 weights from {path} ({load_problem(exc)}); save a vgg19 state_dict there."
        ) from exc
    if not isinstance(state, dict):
        raise SISRError(
            f"VGG19 weights file {path} holds a {type(state).__name__}, not a state_dict; save vgg19().state_dict()."
        )
    return state


def _load_features(body: nn.Sequential, state: dict[str, Any], source: str) -> None:
    """Copy the `features.N.*` tensors of a torchvision vgg19 state_dict into the truncated `body`."""
    available = {key.removeprefix("features."): value for key, value in state.items()}
    wanted = list(body.state_dict())
    missing = [key for key in wanted if key not in available]
    if missing:
        raise SISRError(
            f"{source} lacks VGG19 feature weights such as features.{missing[0]}; "
            "it must be a torchvision vgg19 state_dict (keys features.N.weight / features.N.bias)."
        )
    try:
        body.load_state_dict({key: available[key] for key in wanted})
    except RuntimeError as exc:
        detail = str(exc).strip().splitlines()[-1].strip()
        raise SISRError(f"{source} does not fit VGG19 ({detail}); it must be a torchvision vgg19 state_dict.") from exc


class VGG19Features(nn.Module):
    """Frozen VGG19 returning the features of the named layers; only the layers up to the deepest one are built.

    Inputs are RGB in [0, 1], normalised with the ImageNet mean and std inside. The network is always in
    eval mode and never trained. Its weights are not written into state_dicts (and so not into checkpoints):
    they come from `weights` each time the module is built.

    Args:
        layers: paper names of the layers to return, e.g. ["conv5_4"].
        before_activation: take each convolution's output before its ReLU (ESRGAN) instead of after (SRGAN).
        weights: 'imagenet' (torchvision's IMAGENET1K_V1, from the torch hub cache or downloaded into it),
            a path to a saved `vgg19().state_dict()`, or 'random-init-for-tests' (random weights, tests only).
    """

    def __init__(self, layers: Iterable[str], before_activation: bool = False, weights: str = IMAGENET) -> None:
        super().__init__()
        indices = vgg19_layer_indices()
        layers = list(layers)
        unknown = [name for name in layers if name not in indices]
        if unknown or not layers:
            raise SISRError(
                f"unknown VGG19 layer(s) {unknown or '(none given)'} in layer_weights; "
                f"choose from {', '.join(indices)}."
            )
        offset = 0 if before_activation else 1  # every VGG conv is followed by its ReLU
        self.outputs = {indices[name] + offset: name for name in layers}
        self.before_activation = before_activation
        # On the module's device (non-persistent: never in checkpoints), so normalising copies nothing per call.
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.weights = str(weights)

        body = _vgg19_features_on_meta()[: max(self.outputs) + 1].to_empty(device="cpu")
        for layer in body:
            if isinstance(layer, nn.ReLU):
                layer.inplace = False  # an in-place ReLU would overwrite the pre-activation features we return
        self.body = body
        self._init_weights(self.weights)
        self.body.requires_grad_(False)
        self.eval()
        self.register_state_dict_post_hook(_drop_own_entries)
        self.register_load_state_dict_pre_hook(_keep_own_entries)

    @torch.no_grad()
    def _init_weights(self, weights: str) -> None:
        if weights == RANDOM_INIT_FOR_TESTS:
            log.warning(
                "VGG19 features are RANDOMLY initialised (%s=%s): perceptual losses are meaningless, tests only.",
                WEIGHTS_KEY,
                RANDOM_INIT_FOR_TESTS,
            )
            for layer in self.body:
                if isinstance(layer, nn.Conv2d):
                    layer.reset_parameters()
        elif weights == IMAGENET:
            _load_features(self.body, _imagenet_state_dict(), f"the ImageNet VGG19 file {imagenet_cache_path()}")
        else:
            _load_features(self.body, _file_state_dict(Path(weights)), f"VGG19 weights file {weights}")

    def train(self, mode: bool = True) -> VGG19Features:
        """Stay in eval mode whatever the parent module asks."""
        return super().train(False)

    def forward(self, img: Tensor) -> dict[str, Tensor]:
        """Features of `img` (N, 3, H, W) in [0, 1] at each requested layer, keyed by layer name."""
        x = (img - self.mean.to(img.dtype)) / self.std.to(img.dtype)
        features: dict[str, Tensor] = {}
        for index, layer in enumerate(self.body):
            x = layer(x)
            if index in self.outputs:
                features[self.outputs[index]] = x
        return features

    def extra_repr(self) -> str:
        layers = list(self.outputs.values())
        return f"layers={layers}, before_activation={self.before_activation}, weights={self.weights!r}"


def _drop_own_entries(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    for key in [key for key in state_dict if key.startswith(prefix)]:
        del state_dict[key]


def _keep_own_entries(
    module: nn.Module,
    state_dict: dict[str, Any],
    prefix: str,
    local_metadata: Any,
    strict: bool,
    missing_keys: list[str],
    unexpected_keys: list[str],
    error_msgs: list[str],
) -> None:
    """Checkpoints carry no VGG weights: keep the ones loaded at construction (the body's; mean and std are
    non-persistent buffers)."""
    body = module.body  # type: ignore[union-attr]
    for name, tensor in chain(body.named_parameters(), body.named_buffers()):
        state_dict.setdefault(f"{prefix}body.{name}", tensor.detach())
