"""Benchmark profiles (benchmarks/profiles/<name>.yaml): which models, scales and test sets a suite runs, and how."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from sisr.errors import SISRError
from sisr.paths import shared_data_root

REPO_ROOT = Path(__file__).resolve().parents[1]
PROFILES_DIR = Path(__file__).with_name("profiles")


@dataclass(frozen=True)
class ModelSpec:
    """One trained model of a suite.

    Args:
        name: leaderboard name, also the key of its published numbers (srcnn, srresnet, srgan, esrgan, rrdb).
        overrides: `python -m sisr.train` overrides for this model (model=..., widths, budget).
        scales: scales to train it at; None means the profile's scales.
    """

    name: str
    overrides: list[str]
    scales: list[int] | None = None


@dataclass(frozen=True)
class MeasureSpec:
    """How compute is measured.

    Args:
        input_size: LR input (height, width) for multiply-adds, latency and memory.
        warmup: untimed forward passes before timing.
        repeats: timed forward passes; the median is reported.
        device: "auto" (CUDA when available), "cpu" or "cuda".
    """

    input_size: tuple[int, int] = (64, 64)
    warmup: int = 3
    repeats: int = 10
    device: str = "auto"


@dataclass(frozen=True)
class VisualSpec:
    """The zoomed crop shown side by side for HR, bicubic and every model.

    Args:
        set: test set holding the image.
        image: image name (or its prefix, e.g. "img_003").
        scale: the scale of the comparison; None means the profile's first scale.
        top: crop top edge in HR pixels.
        left: crop left edge in HR pixels.
        size: crop side in HR pixels.
        zoom: nearest-neighbour magnification of the crop.
    """

    set: str = "Set5"
    image: str = "img_003"
    scale: int | None = None
    top: int = 100
    left: int = 60
    size: int = 64
    zoom: int = 4


@dataclass(frozen=True)
class Profile:
    """A benchmark suite.

    Args:
        name: profile name (also the default output folder name).
        description: one line shown in the report.
        scales: default scales of every model.
        test_sets: sets every row is scored on.
        train_overrides: overrides shared by every training run.
        models: the trained models, in leaderboard order.
        data_root: folder holding benchmark/; None means $SISR_DATA_DIR, else ../shared/data beside the repository.
        measure: compute measurement settings.
        visual: visual comparison settings.
        source: the file it was read from.
    """

    name: str
    description: str
    scales: list[int]
    test_sets: list[str]
    train_overrides: list[str]
    models: list[ModelSpec]
    data_root: str | None = None
    measure: MeasureSpec = field(default_factory=MeasureSpec)
    visual: VisualSpec = field(default_factory=VisualSpec)
    source: Path | None = None

    def scales_of(self, model: ModelSpec) -> list[int]:
        """The scales `model` is trained at."""
        return list(model.scales or self.scales)

    def resolved_data_root(self) -> Path:
        """The data root the test sets are read from."""
        if self.data_root:
            return Path(os.path.expandvars(self.data_root)).expanduser()
        return shared_data_root()

    def restricted(self, models: list[str] | None = None, scales: list[int] | None = None) -> Profile:
        """A copy limited to some models and/or scales (for quick runs and tests)."""
        chosen = self.models
        if models:
            unknown = sorted(set(models) - {m.name for m in self.models})
            if unknown:
                raise SISRError(
                    f"profile {self.name} has no model {', '.join(unknown)}; "
                    f"choose from {', '.join(m.name for m in self.models)}."
                )
            chosen = [m for m in self.models if m.name in models]
        if scales:
            chosen = [
                ModelSpec(m.name, m.overrides, [s for s in self.scales_of(m) if s in scales]) for m in chosen
            ]
            chosen = [m for m in chosen if m.scales]
        return Profile(
            name=self.name,
            description=self.description,
            scales=[s for s in self.scales if not scales or s in scales] or list(scales or []),
            test_sets=self.test_sets,
            train_overrides=self.train_overrides,
            models=chosen,
            data_root=self.data_root,
            measure=self.measure,
            visual=self.visual,
            source=self.source,
        )


def profile_path(name_or_path: str) -> Path:
    """The YAML file of a profile given by name (benchmarks/profiles/<name>.yaml) or by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        path = candidate
    else:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise SISRError(f"benchmark profile {name_or_path!r} not found at {path}; use one of: {known}, or a YAML path.")
    return path


def _require(raw: dict[str, Any], key: str, path: Path) -> Any:
    if key not in raw or raw[key] in (None, [], ""):
        raise SISRError(f"{path}: key '{key}' is missing or empty; see benchmarks/profiles/tiny.yaml for the format.")
    return raw[key]


def load_profile(name_or_path: str) -> Profile:
    """Read and check a benchmark profile.

    Args:
        name_or_path: "tiny", "full", or a path to a profile YAML.
    """
    path = profile_path(name_or_path)
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert isinstance(raw, dict)
    models = []
    for index, item in enumerate(_require(raw, "models", path)):
        if not isinstance(item, dict) or "name" not in item:
            raise SISRError(f"{path}: models[{index}] needs a 'name' and a list of 'overrides'.")
        overrides = [str(o) for o in item.get("overrides") or []]
        if not any(o.startswith("model=") for o in overrides):
            raise SISRError(f"{path}: models[{index}] ({item['name']}) needs a 'model=<config>' override.")
        scales = item.get("scales")
        models.append(ModelSpec(str(item["name"]), overrides, [int(s) for s in scales] if scales else None))
    names = [m.name for m in models]
    if len(set(names)) != len(names) or "bicubic" in names:
        raise SISRError(f"{path}: model names must be unique and not 'bicubic' (the baseline row is always added).")
    measure = dict(raw.get("measure") or {})
    if "input_size" in measure:
        measure["input_size"] = tuple(int(v) for v in measure["input_size"])
    try:
        measure_spec = MeasureSpec(**measure)
        visual_spec = VisualSpec(**(raw.get("visual") or {}))
    except TypeError as exc:
        raise SISRError(f"{path}: unknown key in 'measure' or 'visual' ({exc}); see benchmarks/profile.py.") from exc
    return Profile(
        name=str(raw.get("name") or path.stem),
        description=str(raw.get("description") or ""),
        scales=[int(s) for s in _require(raw, "scales", path)],
        test_sets=[str(s) for s in _require(raw, "test_sets", path)],
        train_overrides=[str(o) for o in raw.get("train_overrides") or []],
        models=models,
        data_root=raw.get("data_root"),
        measure=measure_spec,
        visual=visual_spec,
        source=path,
    )
