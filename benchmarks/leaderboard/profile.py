"""Benchmark profiles (profiles/<name>.yaml, package data beside this module): which training jobs, scales and test
sets a suite runs, and how.

A job is one `python -m sisr.train` recipe, given by reference: a model config (`model=srcnn`) or an experiment
(`experiment=srgan_x4`, a two-stage run whose PSNR stage and GAN stage each become a leaderboard row).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from sisr.plumbing.errors import SISRError
from sisr.plumbing.paths import shared_data_root
from sisr.losses.vgg import IMAGENET, weights_unavailable

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
RECIPE_KEYS = ("model=", "experiment=")


def job_name(job: str, scale: int) -> str:
    """The run folder name of `job` at `scale` inside a suite's sweep folder."""
    return f"{job}_x{scale}"


@dataclass(frozen=True)
class JobSpec:
    """One training job of a suite.

    Args:
        name: the job's name (its run folder is `<name>_x<scale>`); `--models` selects jobs by it.
        overrides: `python -m sisr.train` overrides: the recipe (model=... or experiment=...), widths, budget.
        scales: scales to train it at; None means the profile's scales.
        requires: what the job needs besides the data (`vgg19`: VGG19 weights for the perceptual loss); a job whose
            requirement is not met is skipped, and the leaderboard says so and why.
    """

    name: str
    overrides: list[str]
    scales: list[int] | None = None
    requires: list[str] = field(default_factory=list)


REQUIREMENTS = ("vgg19",)
VGG19_WEIGHTS_OVERRIDE = "model.perceptual_loss.weights="


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
        scales: default scales of every job.
        test_sets: sets every row is scored on.
        train_overrides: overrides shared by every training job, before the job's own.
        jobs: the training jobs, in leaderboard order (a two-stage job's PSNR row comes before its GAN row).
        data_root: folder holding benchmark/; None means sisr.plumbing.paths.shared_data_root() ($SISR_DATA_DIR, else
            <project root>/../shared/data).
        measure: compute measurement settings.
        visual: visual comparison settings.
        source: the file it was read from.
    """

    name: str
    description: str
    scales: list[int]
    test_sets: list[str]
    train_overrides: list[str]
    jobs: list[JobSpec]
    data_root: str | None = None
    measure: MeasureSpec = field(default_factory=MeasureSpec)
    visual: VisualSpec = field(default_factory=VisualSpec)
    source: Path | None = None

    def scales_of(self, job: JobSpec) -> list[int]:
        """The scales `job` is trained at."""
        return list(job.scales or self.scales)

    def resolved_data_root(self) -> Path:
        """The data root the test sets are read from."""
        if self.data_root:
            return Path(os.path.expandvars(self.data_root)).expanduser()
        return shared_data_root()

    def restricted(self, jobs: list[str] | None = None, scales: list[int] | None = None) -> Profile:
        """A copy limited to some jobs (by name) and/or scales (for quick runs and tests)."""
        chosen = self.jobs
        if jobs:
            unknown = sorted(set(jobs) - {j.name for j in self.jobs})
            if unknown:
                raise SISRError(
                    f"profile {self.name} has no job {', '.join(unknown)}; choose from "
                    f"{', '.join(j.name for j in self.jobs)} (a two-stage job also trains its PSNR model)."
                )
            chosen = [j for j in self.jobs if j.name in jobs]
        if scales:
            chosen = [replace(j, scales=[s for s in self.scales_of(j) if s in scales]) for j in chosen]
            chosen = [j for j in chosen if j.scales]
        kept_scales = [s for s in self.scales if not scales or s in scales] or list(scales or [])
        return replace(self, scales=kept_scales, jobs=chosen)


def profile_path(name_or_path: str) -> Path:
    """The YAML file of a profile given by name (the package's profiles/<name>.yaml) or by path."""
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
        example = PROFILES_DIR / "tiny.yaml"
        raise SISRError(f"{path}: key '{key}' is missing or empty; see the tiny profile ({example}) for the format.")
    return raw[key]


def _jobs(raw: dict[str, Any], path: Path) -> list[JobSpec]:
    """The `jobs` list, checked: each names a recipe, names are unique and not the baseline's."""
    jobs = []
    for index, item in enumerate(_require(raw, "jobs", path)):
        if not isinstance(item, dict) or "name" not in item:
            raise SISRError(f"{path}: jobs[{index}] needs a 'name' and a list of 'overrides'.")
        overrides = [str(o) for o in item.get("overrides") or []]
        if not any(o.startswith(RECIPE_KEYS) for o in overrides):
            raise SISRError(
                f"{path}: jobs[{index}] ({item['name']}) needs a 'model=<config>' or 'experiment=<config>' override."
            )
        scales = item.get("scales")
        requires = [str(r) for r in item.get("requires") or []]
        unknown = sorted(set(requires) - set(REQUIREMENTS))
        if unknown:
            raise SISRError(
                f"{path}: jobs[{index}] ({item['name']}) requires {', '.join(unknown)}, which is not a known "
                f"requirement; use one of: {', '.join(REQUIREMENTS)}."
            )
        jobs.append(JobSpec(str(item["name"]), overrides, [int(s) for s in scales] if scales else None, requires))
    names = [j.name for j in jobs]
    if len(set(names)) != len(names) or "bicubic" in names:
        raise SISRError(f"{path}: job names must be unique and not 'bicubic' (the baseline row is always added).")
    return jobs


def load_profile(name_or_path: str) -> Profile:
    """Read and check a benchmark profile.

    Args:
        name_or_path: "tiny", "full", or a path to a profile YAML.
    """
    path = profile_path(name_or_path)
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert isinstance(raw, dict)
    measure = dict(raw.get("measure") or {})
    if "input_size" in measure:
        measure["input_size"] = tuple(int(v) for v in measure["input_size"])
    try:
        measure_spec = MeasureSpec(**measure)
        visual_spec = VisualSpec(**(raw.get("visual") or {}))
    except TypeError as exc:
        raise SISRError(f"{path}: unknown key in 'measure' or 'visual' ({exc}); see {Path(__file__).name}.") from exc
    return Profile(
        name=str(raw.get("name") or path.stem),
        description=str(raw.get("description") or ""),
        scales=[int(s) for s in _require(raw, "scales", path)],
        test_sets=[str(s) for s in _require(raw, "test_sets", path)],
        train_overrides=[str(o) for o in raw.get("train_overrides") or []],
        jobs=_jobs(raw, path),
        data_root=raw.get("data_root"),
        measure=measure_spec,
        visual=visual_spec,
        source=path,
    )


def unmet_requirement(profile: Profile, job: JobSpec) -> str | None:
    """Why `job` cannot run here (one sentence), or None when all it requires is present."""
    if "vgg19" in job.requires:
        chosen = [o for o in [*profile.train_overrides, *job.overrides] if o.startswith(VGG19_WEIGHTS_OVERRIDE)]
        weights = chosen[-1].removeprefix(VGG19_WEIGHTS_OVERRIDE) if chosen else IMAGENET
        reason = weights_unavailable(weights)
        if reason:
            return f"skipped: {reason}."
    return None


def runnable_jobs(profile: Profile) -> tuple[Profile, list[tuple[str, str]]]:
    """`profile` without the jobs whose requirements are not met here, and (job name, reason) for each of those."""
    skipped = [(job.name, reason) for job in profile.jobs if (reason := unmet_requirement(profile, job))]
    names = {name for name, _ in skipped}
    return replace(profile, jobs=[job for job in profile.jobs if job.name not in names]), skipped
