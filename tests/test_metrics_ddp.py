"""SRMetrics synchronises across processes: two gloo ranks scoring half a set each give the whole set's mean."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sisr.protocol.metrics import SRMetrics

IMAGES = 6


def _pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    pairs = []
    for index in range(IMAGES):
        hr = torch.rand(1, 3, 24 + 2 * index, 20, generator=generator)
        noise = 0.02 * (index + 1) * torch.randn(hr.shape, generator=generator)  # a different error per image
        pairs.append(((hr + noise).clamp(0, 1), hr))
    return pairs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    metric = SRMetrics(crop_border=2)
    for sr, hr in _pairs()[rank::world]:  # each rank scores a different half of the images
        metric.update(sr, hr)
    result = {key: float(value) for key, value in metric.compute().items()}
    torch.save(result, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_ranks_agree_with_one_process(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)

    single = SRMetrics(crop_border=2)
    for sr, hr in _pairs():
        single.update(sr, hr)
    expected = {key: float(value) for key, value in single.compute().items()}
    assert expected["count"] == IMAGES
    for rank in range(2):
        synced = torch.load(tmp_path / f"rank{rank}.pt")
        assert synced == pytest.approx(expected, abs=1e-9)
