"""The training stream: per-rank shards, reproducible for a seed and world size, resumable mid-epoch."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from sisr.data.sampling import EpochPermutation, EvalShard, ResumableLoader


class Numbers(Dataset):
    """Item k is k itself (the sample number the sampler produced)."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> int:
        return index


def test_ranks_draw_disjoint_shards_reproducibly() -> None:
    shards = [list(EpochPermutation(10, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 5
    assert not set(shards[0]) & set(shards[1])  # the two processes train on different patches in every step
    assert shards == [list(EpochPermutation(10, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert shards != [list(EpochPermutation(10, seed=4, rank=r, world_size=2)) for r in (0, 1)]


def test_epochs_get_new_orders_and_sample_numbers() -> None:
    sampler = EpochPermutation(10, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10, 20))
    assert [k - 10 for k in second] != first


def test_loader_resumes_after_the_batches_already_trained() -> None:
    def loader() -> ResumableLoader:
        return ResumableLoader(Numbers(), EpochPermutation(10, seed=5), batch_size=2)

    straight = [batch.tolist() for batch in loader()]
    interrupted = loader()
    for index, _ in enumerate(interrupted):
        interrupted.mark_trained(index + 1)
        if index == 2:
            break
    state = interrupted.state_dict()
    assert state == {"epoch": 0, "batches_trained": 3}
    resumed = loader()
    resumed.load_state_dict(state)
    assert [batch.tolist() for batch in resumed] == straight[3:]
    assert [batch.tolist() for batch in resumed] == straight  # the next pass is a whole epoch again


def test_a_saved_position_of_another_epoch_is_not_skipped() -> None:
    resumed = ResumableLoader(Numbers(), EpochPermutation(10, seed=5), batch_size=2)
    resumed.load_state_dict({"epoch": 0, "batches_trained": 5})  # saved at the end of epoch 0
    resumed.permutation.set_epoch(1)  # Lightning starts epoch 1
    assert len(list(resumed)) == 5


def test_eval_shards_cover_every_image_once_without_padding() -> None:
    shards = [list(EvalShard(5, rank, 2)) for rank in (0, 1)]
    assert shards == [[0, 2, 4], [1, 3]]
    assert sorted(torch.tensor(shards[0] + shards[1]).tolist()) == list(range(5))
