"""Two processes starting on one empty cache folder (DDP ranks, multirun jobs) build every entry exactly once."""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
from pathlib import Path

import pytest

from sisr.data.layouts import list_images
from tests.conftest import HANG_GUARD

ROUNDS = 4
PROCESSES = 2


def _log_calls(module: object, name: str, log_dir: Path, label) -> None:
    """Wrap ``module.name`` so each call appends ``label(*args)`` to ``<log_dir>/<round>.log`` (one line, O_APPEND)."""
    original = getattr(module, name)

    def logged(*args):
        round_log = log_dir / f"{os.environ['SISR_TEST_ROUND']}.log"
        with open(round_log, "a") as handle:
            handle.write(f"{label(*args)}\n")
        return original(*args)

    setattr(module, name, logged)


def _start(rank: int, root: str, work: str, barrier) -> None:
    """One process: for each round, wait for the other, then build an SRDataModule on that round's empty cache."""
    work_dir = Path(work)
    try:
        from sisr.data import cache, sample
        from sisr.data.datamodule import SRDataModule

        _log_calls(cache, "_make_arrays", work_dir, lambda pair, scale: f"entry {pair.name}")
        _log_calls(sample, "sample_images", work_dir, lambda split: f"sample {split}")
        for round_index in range(ROUNDS):
            os.environ["SISR_TEST_ROUND"] = str(round_index)
            barrier.wait(timeout=HANG_GUARD)  # both processes start the round on an empty cache together
            dm = SRDataModule(scale=4, train="sample", val_sets=["Sample", "Set5"], test_sets=[], root=root,
                              cache_dir=str(work_dir / f"cache{round_index}"), patch_size=32, batch_size=2)
            dm.prepare_data()
            dm.setup("fit")
            entries = dm.train_dataset.images.entries + [e for d in dm.val_datasets for e in d.images.entries]
            seen = sorted(str(e.hr_file) for e in entries)
            (work_dir / f"entries{round_index}-{rank}.json").write_text(json.dumps(seen))
    except BaseException:
        (work_dir / f"error{rank}.txt").write_text(traceback.format_exc())
        barrier.abort()  # the other process stops at its next round instead of waiting out the timeout
        raise


def _unexpected_files(cache_dir: Path) -> list[str]:
    """Files that a finished cache should not hold: temp files, or anything but entries, sample PNGs and locks."""
    odd = []
    for path in cache_dir.rglob("*"):
        if path.is_dir():
            continue
        name = path.name
        if name.startswith("."):
            ok = name.endswith(".lock")
        elif path.parent.name == "x4":
            ok = name.endswith((".npy", ".json"))
        else:
            ok = name.endswith(".png")
        if not ok or name.endswith(".tmp"):
            odd.append(str(path.relative_to(cache_dir)))
    return odd


@pytest.mark.slow  # two spawned processes importing Lightning, then 4 rounds of caching: about 20 s
def test_four_cold_two_process_starts_build_each_entry_once(shared_data_dir: Path, tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    processes = [
        context.Process(target=_start, args=(rank, str(shared_data_dir), str(tmp_path), barrier))
        for rank in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=HANG_GUARD)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    errors = [p.read_text() for p in sorted(tmp_path.glob("error*.txt"))]
    assert [p.exitcode for p in processes] == [0] * PROCESSES, "\n".join(errors)

    expected = sorted(
        ["entry astronaut", "entry coffee", "entry hubble_deep_field", "entry immunohistochemistry",
         "entry motorcycle_left", "entry chelsea", "entry rocket", "sample train", "sample val"]
        + [f"entry img_00{i}" for i in range(1, 6)]
    )
    for round_index in range(ROUNDS):
        cache_dir = tmp_path / f"cache{round_index}"
        builds = sorted((tmp_path / f"{round_index}.log").read_text().splitlines())
        assert builds == expected, f"round {round_index}: every entry and sample split is built exactly once"
        seen = [json.loads((tmp_path / f"entries{round_index}-{rank}.json").read_text()) for rank in range(PROCESSES)]
        assert seen[0] == seen[1] and len(seen[0]) == 12 and all(Path(f).is_file() for f in seen[0])
        assert _unexpected_files(cache_dir) == []
        assert len(list((cache_dir / "x4").glob("*.json"))) == 12  # no entry built twice under two names
        for split in ("train", "val"):
            (folder,) = cache_dir.glob(f"sample-*/{split}")
            assert len(list_images(folder)) == (5 if split == "train" else 2)
