"""The papers' published numbers (paper_results.yaml, package data beside this module) and the lookup of the cell
a run compares with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from sisr.plumbing.errors import SISRError

PAPER_RESULTS = Path(__file__).resolve().parent / "paper_results.yaml"
NO_PUBLISHED_NUMBER = "no published number"
_MISSING = object()


@dataclass(frozen=True)
class PaperEntry:
    """One published table row family: a model (optionally a variant of it) and its numbers per scale and set.

    Args:
        model: the leaderboard model name it applies to (e.g. "srcnn").
        label: the paper's name for the network, e.g. "SRCNN 9-5-5".
        source: where the numbers come from.
        scales: scale -> set -> {"psnr": float, "ssim": float (optional)}.
        match: dotted resolved-config keys that must equal these values for a run to use this entry.
        note: a caveat printed with the numbers.
        train_data: the paper's training data, in `data.train` words (imagenet, t91, div2k, df2k); a run trained
            on other data keeps its delta, labelled with both.
        architecture: dotted resolved-config keys of the paper's network (widths, depth); a run whose network
            differs gets no delta, only the reason.
    """

    model: str
    label: str
    source: str
    scales: dict[int, dict[str, dict[str, float]]]
    match: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    train_data: str | None = None
    architecture: dict[str, Any] = field(default_factory=dict)

    def architecture_differences(self, config: dict[str, Any] | None) -> str | None:
        """How a run's network differs from the paper's, e.g. "num_blocks 6 vs 16"; None when it is the same."""
        if config is None:
            return None
        differences = [
            f"{key.rsplit('.', 1)[-1]} {_dotted(config, key)} vs {value}"
            for key, value in self.architecture.items()
            if _dotted(config, key) != value
        ]
        return ", ".join(differences) or None

    def data_mismatch(self, config: dict[str, Any] | None) -> str | None:
        """"trained on t91, paper on imagenet" when the run's training data is not the paper's; None otherwise."""
        if config is None or self.train_data is None:
            return None
        trained_on = _dotted(config, "data.train")
        if trained_on is _MISSING or str(trained_on).lower() == self.train_data.lower():
            return None
        return f"trained on {trained_on}, paper on {self.train_data}"

    def matches(self, config: dict[str, Any] | None) -> bool:
        """Whether a run with this resolved config is the variant this entry describes."""
        return all(_dotted(config or {}, key) == value for key, value in self.match.items())


@dataclass(frozen=True)
class PaperCell:
    """The published number for one (model, scale, set) cell, or the reason there is none.

    Args:
        entry: the matching paper entry, None when no paper covers the model.
        psnr: published PSNR (dB), None when not published.
        ssim: published SSIM, None when not published.
        not_compared: why no delta is shown although a number is published (the run's network differs).
        data_mismatch: the run was trained on other data than the paper's ("trained on t91, paper on imagenet").
    """

    entry: PaperEntry | None
    psnr: float | None = None
    ssim: float | None = None
    not_compared: str | None = None
    data_mismatch: str | None = None


def _dotted(config: dict[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def load_paper_entries(path: str | Path = PAPER_RESULTS) -> list[PaperEntry]:
    """Read the published-results file.

    Args:
        path: a YAML file shaped like the package's paper_results.yaml (the default).
    """
    path = Path(path)
    if not path.is_file():
        raise SISRError(f"paper results file {path} does not exist; restore benchmarks/leaderboard/paper_results.yaml.")
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    entries = []
    for index, item in enumerate(raw.get("entries") or []):  # type: ignore[union-attr]
        missing = [key for key in ("model", "label", "source", "scales") if key not in item]
        if missing:
            raise SISRError(
                f"{path}: entry {index} lacks {', '.join(missing)}; every entry needs model, label, source, scales."
            )
        scales = {
            int(scale): {str(s): dict(v) for s, v in sets.items()} for scale, sets in (item["scales"] or {}).items()
        }
        entries.append(
            PaperEntry(
                model=str(item["model"]),
                label=str(item["label"]),
                source=str(item["source"]),
                scales=scales,
                match=dict(item.get("match") or {}),
                note=item.get("note"),
                train_data=item.get("train_data"),
                architecture=dict(item.get("architecture") or {}),
            )
        )
    return entries


def find_entry(entries: list[PaperEntry], model: str, config: dict[str, Any] | None) -> PaperEntry | None:
    """The first entry for `model` whose `match` conditions hold for `config`, or None."""
    return next((entry for entry in entries if entry.model == model and entry.matches(config)), None)


def lookup(
    entries: list[PaperEntry], model: str, scale: int, set_name: str, config: dict[str, Any] | None
) -> PaperCell:
    """The published number a run of `model` at `scale` on `set_name` compares with (unpublished cells say so).

    Args:
        entries: from :func:`load_paper_entries`.
        model: leaderboard model name.
        scale: upscaling factor.
        set_name: test set name, e.g. "Set5".
        config: the run's resolved config (for variant matching); None for baselines.
    """
    entry = find_entry(entries, model, config)
    if entry is None:
        return PaperCell(entry=None)
    cell = entry.scales.get(int(scale), {}).get(set_name)
    if not cell:
        return PaperCell(entry=entry)
    differences = entry.architecture_differences(config)
    return PaperCell(
        entry=entry,
        psnr=cell.get("psnr"),
        ssim=cell.get("ssim"),
        not_compared=f"network differs: {differences}" if differences else None,
        data_mismatch=entry.data_mismatch(config),
    )
