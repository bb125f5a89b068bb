"""Lightning DataModule tying together acquisition, layouts, the decode-once cache and the datasets.

Dataset names understood by ``train``, ``val_sets`` and ``test_sets`` (case-insensitive), resolved under the
data root (``root``, else ``$SISR_DATA_DIR``, else ``./data``):

* ``sample`` / ``Sample``: the embedded scikit-image photographs (training / validation split), no download;
* ``div2k`` / ``DIV2K``: ``DIV2K/`` (official layout; train split for training, valid split for evaluation);
* ``Set5``, ``Set14``, ``BSD100``: ``benchmark/<Name>/`` (SelfExSR layout);
* ``sun_hays80``: ``train/Sun-Hays80/`` (HR only; LR is generated);
* ``t91``: ``train/T91/`` (the 91 images SRCNN was trained on; HR only);
* anything else: the path of a folder in one of the layouts of :mod:`sisr.data.layouts`.

DIV2K and the benchmark sets are downloaded by ``prepare_data`` when ``download=True``; otherwise missing data
raises one sentence saying which files to put where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from sisr.data import sample
from sisr.data.cache import build_cache, check_cache_dir
from sisr.data.datasets import SREvalDataset, SRTrainDataset, check_patch_size
from sisr.data.download import (
    archive_path,
    is_available,
    offline_message,
    prepare,
    target_path,
)
from sisr.data.layouts import ImagePair, find_pairs, named_set_folder
from sisr.data.sampling import EpochPermutation, EvalShard, ResumableLoader, init_worker
from sisr.data.sources import SOURCES, Source, div2k_sources
from sisr.plumbing.errors import SISRError
from sisr.plumbing.paths import cache_dir as resolve_cache_dir
from sisr.plumbing.paths import data_root


@dataclass
class _SetSpec:
    """A dataset as configured: display name, folder, DIV2K split and the archives that provide it."""

    name: str
    folder: Path
    split: str | None = None  # DIV2K split ("train" / "valid")
    sources: list[Source] = field(default_factory=list)
    required: list[Path] = field(default_factory=list)  # folders that must exist (LR folders may be generated)
    sample_split: str | None = None  # the embedded sample set ("train" / "val"), materialised in the cache


def _as_list(value: list[str] | tuple[str, ...] | str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _is_int_at_least(value: object, minimum: int) -> bool:
    """``value`` is an integer (not a bool or a string) no smaller than ``minimum``."""
    if isinstance(value, (bool, str)):
        return False
    try:
        return int(value) == value and value >= minimum  # type: ignore[call-overload, operator]
    except (TypeError, ValueError, OverflowError):
        return False


def _check_settings(scale: int, patch_size: int, batch_size: int, num_workers: int, repeat: int) -> None:
    """Refuse impossible data settings in one sentence naming the key, before anything is read or cached."""
    if not _is_int_at_least(scale, 1):
        raise SISRError(f"data.scale={scale} must be a positive integer such as 2, 3 or 4.")
    if not _is_int_at_least(patch_size, 1):
        raise SISRError(
            f"data.patch_size={patch_size} must be a positive multiple of data.scale={scale} (the HR training patch "
            f"side, e.g. {24 * int(scale)})."
        )
    check_patch_size(patch_size, scale)
    if not _is_int_at_least(batch_size, 1):
        raise SISRError(
            f"data.batch_size={batch_size} must be a positive integer (patches per training step, e.g. 16)."
        )
    if not _is_int_at_least(num_workers, 0):
        raise SISRError(
            f"data.num_workers={num_workers} must be 0 (load in the main process) or a positive number of DataLoader "
            "worker processes."
        )
    if not _is_int_at_least(repeat, 1):
        raise SISRError(
            f"data.repeat={repeat} must be an integer of at least 1 (visits of each training image per epoch)."
        )


def _check_distinct_names(key: str, specs: list[str], names: list[str]) -> None:
    """Refuse two sets of one name (e.g. `a/Set5` and `b/Set5`): their scores would be merged into one row."""
    seen: dict[str, str] = {}
    for spec, name in zip(specs, names):
        if name in seen:
            raise SISRError(
                f"{key} holds two sets named {name} ({seen[name]} and {spec}), whose scores would be merged into one "
                "row; list each set once, or rename one folder."
            )
        seen[name] = spec


class SRDataModule(pl.LightningDataModule):
    """Training patches and evaluation images for single-image super-resolution.

    Args:
        scale: SR factor (2, 3, 4, ...).
        train: training set name ("div2k", "sample", "sun_hays80") or folder path; None for evaluation only.
        val_sets: validation set names (Set5, Set14, BSD100, DIV2K, Sample) or folder paths, in loader order.
        test_sets: test set names or folder paths, in loader order.
        root: data root (None: ``$SISR_DATA_DIR``, else ``./data``; see :mod:`sisr.plumbing.paths`).
        cache_dir: where decoded images are cached (None: ``$SISR_CACHE_DIR``, else ``./.cache``; see :mod:`sisr.plumbing.paths`).
        patch_size: HR training patch side; must be divisible by ``scale``.
        batch_size: training batch size (evaluation uses 1).
        num_workers: DataLoader worker processes.
        repeat: visits of each training image per epoch (epoch length = images x repeat).
        augment: random flips and 90-degree rotations of training patches.
        download: let ``prepare_data`` download missing DIV2K / benchmark archives.
        skip_bad: skip unreadable images with a warning instead of failing.
        pin_memory: DataLoader ``pin_memory``.
        persistent_workers: keep workers alive between epochs (only with ``num_workers > 0``).
        val_max_images: use only the first N images of each validation set (smoke runs); None for all.
        subimage_size: cache training images as HR sub-images of this side (e.g. 480); None for whole images.
        subimage_step: stride between sub-images (default ``subimage_size // 2``).
        seed: seeds the training stream: each patch is a pure function of (seed, epoch, index), and each
            process of a multi-process run draws its own shard (see :mod:`sisr.data.sampling`).
    """

    def __init__(
        self,
        scale: int = 4,
        train: str | None = "sample",
        val_sets: list[str] | None = ("Sample",),  # type: ignore[assignment]
        test_sets: list[str] | None = ("Set5", "Set14", "BSD100"),  # type: ignore[assignment]
        root: str | None = None,
        cache_dir: str | None = None,
        patch_size: int = 96,
        batch_size: int = 16,
        num_workers: int = 0,
        repeat: int = 1,
        augment: bool = True,
        download: bool = False,
        skip_bad: bool = False,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        val_max_images: int | None = None,
        subimage_size: int | None = None,
        subimage_step: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _check_settings(scale, patch_size, batch_size, num_workers, repeat)  # at config time, before any caching
        self.save_hyperparameters()
        self.scale = int(scale)
        self.train = train
        self.root = data_root(root)
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.repeat = repeat
        self.augment = augment
        self.download = download
        self.skip_bad = skip_bad
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.val_max_images = val_max_images
        self.subimage_size = subimage_size
        self.subimage_step = subimage_step
        self.seed = int(seed)
        self.val_sets = _as_list(val_sets)
        self.test_sets = _as_list(test_sets)
        self.val_set_names = [self._spec(s, evaluation=True).name for s in self.val_sets]
        self.test_set_names = [self._spec(s, evaluation=True).name for s in self.test_sets]
        _check_distinct_names("data.val_sets", self.val_sets, self.val_set_names)
        _check_distinct_names("data.test_sets", self.test_sets, self.test_set_names)
        self.train_dataset: SRTrainDataset | None = None
        self.val_datasets: list[SREvalDataset] | None = None
        self.test_datasets: list[SREvalDataset] | None = None

    # --- resolving names --------------------------------------------------------------------------------------
    def _spec(self, spec: str, evaluation: bool) -> _SetSpec:
        """Resolve a configured dataset (name or path) without touching the disk."""
        key = spec.lower()
        if key == "sample":
            name = sample.VAL_NAME if evaluation else sample.TRAIN_NAME
            return _SetSpec(name, Path(), sample_split="val" if evaluation else "train")
        if key == "div2k":
            split = "valid" if evaluation else "train"
            sources = div2k_sources(split, self.scale)
            return _SetSpec("DIV2K", self.root / "DIV2K", split, sources, [target_path(sources[0], self.root)])
        named = named_set_folder(spec, self.root)
        if named is not None:
            name, folder = named
            source = SOURCES.get(name.lower())
            return _SetSpec(name, folder, None, [source] if source else [], [folder])
        folder = Path(spec).expanduser()
        return _SetSpec(folder.name, folder, None, [], [folder])

    def _all_specs(self, stage: str | None) -> list[_SetSpec]:
        specs = []
        if stage in (None, "fit") and self.train is not None:
            specs.append(self._spec(self.train, evaluation=False))
        if stage in (None, "fit", "validate"):
            specs += [self._spec(s, evaluation=True) for s in self.val_sets]
        if stage in (None, "test"):
            specs += [self._spec(s, evaluation=True) for s in self.test_sets]
        return specs

    def _missing(self, specs: list[_SetSpec]) -> tuple[list[Source], list[Source], list[Path]]:
        """Archives needed (their data is absent), optional archives not fetched yet, and absent folders that
        no archive provides."""
        needed, optional, folders = [], [], []
        for spec in specs:
            absent = [f for f in spec.required if not f.is_dir()]
            if not spec.sources:
                folders += absent
                continue
            todo = [s for s in spec.sources if not is_available(s, self.root)]
            # e.g. DIV2K's official LR: without it LR is generated from HR, so it is fetched only when downloading
            (needed if absent else optional).extend(todo)
        return list(dict.fromkeys(needed)), list(dict.fromkeys(optional)), folders

    def _folder_error(self, folder: Path) -> SISRError:
        return SISRError(
            f"Dataset folder {folder} does not exist; put the images there or fix the dataset name/path "
            f"(data root: {self.root}, set by data.root or $SISR_DATA_DIR)."
        )

    def _raise_if_missing(self, specs: list[_SetSpec]) -> None:
        needed, _, folders = self._missing(specs)
        if folders:
            raise self._folder_error(folders[0])
        if needed:
            raise SISRError(offline_message(needed, self.root, advice="or set data.download=true to download it"))

    # --- Lightning hooks ----------------------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Fetch what is missing: download it (``download=True``), or unpack archives already placed in
        ``<root>/downloads``; otherwise raise one sentence saying which files to put where."""
        needed, optional, folders = self._missing(self._all_specs(None))
        if folders:
            raise self._folder_error(folders[0])
        missing: list[Source] = []
        unreachable: list[Source] = []
        reason = ""
        for source in needed + (optional if self.download else []):
            if not self.download and not archive_path(source, self.root).is_file():
                missing.append(source)
                continue
            try:
                prepare(source, self.root, allow_download=self.download)
            except SISRError as err:
                if not isinstance(err.__cause__, OSError):  # checksum or archive problems: report as they are
                    raise
                unreachable.append(source)  # network failures: gathered into one sentence
                reason = str(getattr(err.__cause__, "reason", err.__cause__))
        if missing:
            raise SISRError(offline_message(missing, self.root, advice="or set data.download=true to download it"))
        if unreachable:
            raise SISRError(offline_message(unreachable, self.root, reason))

    def _eval_dataset(self, spec: _SetSpec, max_images: int | None) -> SREvalDataset:
        pairs = self._pairs(spec)
        if max_images is not None:
            pairs = pairs[:max_images]
        entries = build_cache(pairs, self.scale, self.cache_dir, skip_bad=self.skip_bad, context=spec.name)
        return SREvalDataset(entries, crop_border=self.scale)

    def _pairs(self, spec: _SetSpec) -> list[ImagePair]:
        if spec.sample_split is not None:
            return find_pairs(sample.materialise(spec.sample_split, self.cache_dir), self.scale, context=spec.name)
        return find_pairs(spec.folder, self.scale, split=spec.split, context=spec.name)

    def setup(self, stage: str | None = None) -> None:
        """Build (or reuse) the caches and datasets the stage needs."""
        self._raise_if_missing(self._all_specs(stage))
        check_cache_dir(self.cache_dir)
        if stage in (None, "fit") and self.train is not None and self.train_dataset is None:
            spec = self._spec(self.train, evaluation=False)
            entries = build_cache(
                self._pairs(spec), self.scale, self.cache_dir, skip_bad=self.skip_bad, context=spec.name,
                subimage_size=self.subimage_size, subimage_step=self.subimage_step,
            )
            self.train_dataset = SRTrainDataset(
                entries, self.scale, self.patch_size, self.repeat, self.augment, seed=self.seed
            )
        if stage in (None, "fit", "validate") and self.val_datasets is None:
            self.val_datasets = [
                self._eval_dataset(self._spec(s, evaluation=True), self.val_max_images) for s in self.val_sets
            ]
        if stage in (None, "test") and self.test_datasets is None:
            self.test_datasets = [self._eval_dataset(self._spec(s, evaluation=True), None) for s in self.test_sets]

    def _rank_and_world_size(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def _loader_options(self) -> dict:
        return {
            "num_workers": self.num_workers,
            "worker_init_fn": init_worker,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.persistent_workers and self.num_workers > 0,
        }

    def _eval_loader(self, dataset: SREvalDataset) -> DataLoader:
        rank, world_size = self._rank_and_world_size()
        sampler = EvalShard(len(dataset), rank, world_size)  # every image scored once, on one rank
        return DataLoader(dataset, batch_size=1, sampler=sampler, **self._loader_options())

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of ``{"lr", "hr", "name"}`` patches."""
        if self.train is None:
            raise SISRError("data.train is not set, so there is no training data; set it to div2k, sample or a folder.")
        if self.train_dataset is None:
            self.setup("fit")
        rank, world_size = self._rank_and_world_size()
        sampler = EpochPermutation(len(self.train_dataset), self.seed, rank, world_size)
        full_batches = len(sampler) >= self.batch_size  # fewer patches than a batch: one short batch per epoch
        return ResumableLoader(
            self.train_dataset, sampler, batch_size=self.batch_size, drop_last=full_batches, **self._loader_options()
        )

    def val_dataloader(self) -> list[DataLoader]:
        """One loader per validation set (batch size 1), in ``val_set_names`` order."""
        if self.val_datasets is None:
            self.setup("validate")
        return [self._eval_loader(ds) for ds in self.val_datasets or []]

    def test_dataloader(self) -> list[DataLoader]:
        """One loader per test set (batch size 1), in ``test_set_names`` order."""
        if self.test_datasets is None:
            self.setup("test")
        return [self._eval_loader(ds) for ds in self.test_datasets or []]
