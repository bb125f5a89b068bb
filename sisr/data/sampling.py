"""A training stream that can be stopped and resumed at any batch, and evaluation shards that never pad.

Training: `EpochPermutation` yields, for epoch e, a permutation of the dataset drawn from (seed, e), cut into
`world_size` disjoint equal shards (one per rank). It yields *sample numbers* `e * len(dataset) + index`, from
which `SRTrainDataset` derives each patch's random crop and flip, so a patch is a pure function of
(seed, epoch, index), whichever worker makes it. `ResumableLoader` knows how many batches of the epoch were
trained; Lightning saves that position in every checkpoint (through `state_dict`) and gives it back on resume
(`load_state_dict`), and the epoch's iterator then starts at the next batch. Together with the RNG states saved by
`sisr.lit.checkpointing.RunCheckpoint`, a resumed run sees exactly the batches an uninterrupted run would.

Evaluation: `EvalShard` gives rank r the images r, r + w, r + 2w, ...: no image is repeated to even out the
shards (a DistributedSampler pads 5 images to 6 by scoring one twice), and the cat-reduced metric states of
`sisr.protocol.metrics.SRMetrics` gather every image exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from lightning_fabric.utilities.seed import pl_worker_init_function
from torch.utils.data import DataLoader, Sampler

from sisr.plumbing.stop_signals import ignore_stop_signals


class EpochPermutation(Sampler[int]):
    """Shuffled sample numbers for one rank, a pure function of (seed, epoch, rank, world size).

    Args:
        length: dataset length.
        seed: the run's seed.
        rank: this process's rank.
        world_size: number of processes; each gets `length // world_size` samples per epoch.
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.length, self.seed, self.rank, self.world_size = length, int(seed), rank, world_size
        self.epoch = 0
        self._resume: tuple[int, int] | None = None  # (epoch, samples of it already trained), set on resume

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch."""
        self.epoch = epoch

    def resume_at(self, epoch: int, samples: int) -> None:
        """Skip the first `samples` of `epoch` when that epoch is iterated next."""
        self._resume = (int(epoch), int(samples))

    def __len__(self) -> int:
        return self.length // self.world_size

    def __iter__(self) -> Iterator[int]:
        # Decided when the epoch is iterated (the loader's first `next()`, after Lightning set the epoch), not when
        # Lightning made the loader's iterator: on a restart that comes first, and a skip decided then was lost.
        start = 0
        if self._resume is not None and self._resume[0] <= self.epoch:
            start = self._resume[1] if self._resume[0] == self.epoch else 0
            self._resume = None
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.length, generator=generator)
        shard = order[self.rank : len(self) * self.world_size : self.world_size]
        offset = self.epoch * self.length
        return iter((offset + shard[start:]).tolist())


class ResumableLoader(DataLoader):
    """A DataLoader over an `EpochPermutation` that can resume in the middle of an epoch.

    The training loop reports each finished batch (`mark_trained`); `state_dict` is that position, which
    Lightning stores in checkpoints and passes back to `load_state_dict` on resume. (Counting the batches this
    loader yields would be off by the batches Lightning prefetches.)
    """

    def __init__(self, dataset: Any, sampler: EpochPermutation, **kwargs: Any) -> None:
        super().__init__(dataset, sampler=sampler, **kwargs)
        self._position = {"epoch": 0, "batches_trained": 0}

    @property
    def permutation(self) -> EpochPermutation:
        """The sampler (typed)."""
        assert isinstance(self.sampler, EpochPermutation)
        return self.sampler

    def __iter__(self) -> Iterator[Any]:
        # The batches are drawn at the first `next()`, not when the iterator is made: on a restart Lightning makes
        # it before it sets the epoch, and worker processes would draw the epoch's indices at once.
        return _FirstUseIterator(super().__iter__)

    def mark_trained(self, batches: int) -> None:
        """The training loop finished `batches` batches of the current epoch."""
        self._position = {"epoch": self.permutation.epoch, "batches_trained": int(batches)}

    def state_dict(self) -> dict[str, int]:
        """The epoch and the number of its batches trained so far."""
        return dict(self._position)

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Skip, in that epoch, the batches a resumed checkpoint had already trained on."""
        self._position = {"epoch": int(state.get("epoch", 0)), "batches_trained": int(state.get("batches_trained", 0))}
        self.permutation.resume_at(self._position["epoch"], self._position["batches_trained"] * int(self.batch_size or 1))


class _FirstUseIterator:
    """An iterator made by `make()` at its first `next()`."""

    def __init__(self, make: Any) -> None:
        self._make, self._iterator = make, None

    def __iter__(self) -> _FirstUseIterator:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._make()
        return next(self._iterator)


def init_worker(worker_id: int) -> None:
    """Every loader worker's start: stop signals are the main process's to handle, and the worker's global RNGs
    are seeded as Lightning's own worker init does (the training patches themselves do not depend on them)."""
    ignore_stop_signals()
    pl_worker_init_function(worker_id)


class EvalShard(Sampler[int]):
    """Indices rank, rank + world_size, ...: every image on exactly one rank, none repeated.

    Args:
        length: number of images.
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, length, world_size))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)
