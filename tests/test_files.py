"""`sisr.plumbing.files`: atomic writes keep the umask's permissions, say which file a full disk stopped (and
that the previous one is intact only when there was one), and temp files of killed writers do not pile up."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from sisr.plumbing.errors import SISRError
from sisr.plumbing.files import atomic_write, write_json

from tests.conftest import REPO_ROOT, tmpfs


@pytest.fixture()
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_permissions_of_the_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    write_json(tmp_path / "metrics.json", {"a": 1})
    with atomic_write(tmp_path / "last.ckpt") as handle:
        torch.save({"w": torch.zeros(2)}, handle)
    for name in ("metrics.json", "last.ckpt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name


def test_non_finite_numbers_are_written_as_null_never_as_infinity(tmp_path: Path) -> None:
    write_json(tmp_path / "results.json", {"psnr": float("inf"), "sets": [{"ssim": float("nan")}, 1.5]})
    text = (tmp_path / "results.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == {"psnr": None, "sets": [{"ssim": None}, 1.5]}


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 128 KiB tmpfs: a real full disk (needs root and mount; skipped elsewhere)."""
    with tmpfs(tmp_path / "disk", "size=128k") as mount:
        yield mount


def test_a_real_full_disk_during_torch_save_is_one_sentence_naming_the_file(tiny_disk: Path) -> None:
    big = {"w": torch.zeros(100_000)}  # 400 KB: more than the disk holds
    with pytest.raises(SISRError) as caught:
        with atomic_write(tiny_disk / "last.ckpt") as handle:
            torch.save(big, handle)  # torch reports ENOSPC as "RuntimeError: [enforce fail at inline_container.cc"
    message = str(caught.value)
    assert message == f"could not write last.ckpt in {tiny_disk} (No space left on device); free space or fix permissions there."
    with atomic_write(tiny_disk / "last.ckpt") as handle:
        torch.save({"w": torch.zeros(2)}, handle)
    before = (tiny_disk / "last.ckpt").read_bytes()
    with pytest.raises(SISRError, match=r"in .*disk \(No space left on device\); .*there, the previous file is intact\.$"):
        with atomic_write(tiny_disk / "last.ckpt") as handle:
            torch.save(big, handle)
    assert (tiny_disk / "last.ckpt").read_bytes() == before
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["last.ckpt"]  # no temp file left


WRITER = textwrap.dedent(
    """
    import sys, time
    from sisr.plumbing.files import atomic_write
    with atomic_write(sys.argv[1]) as handle:
        handle.write(b"half")
        handle.flush()
        print("writing", flush=True)
        time.sleep(60)
    """
)


def _writer(target: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=REPO_ROOT, stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"writing\n"
    return process


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_writers_temp_file_goes_at_the_next_save_a_live_ones_stays(tmp_path: Path) -> None:
    killed = _writer(tmp_path / "last.ckpt")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert [name.split(".sisr-")[0] for name in _temps(tmp_path)] == [".last.ckpt"]  # what a kill leaves
    live = _writer(tmp_path / "metrics.json")  # the next save in that folder, by another process
    try:
        left = _temps(tmp_path)
        assert [name.split(".sisr-")[0] for name in left] == [".metrics.json"]
        write_json(tmp_path / "other.json", {})  # this process's first save there: the live writer's file stays
        assert _temps(tmp_path) == left
    finally:
        live.kill()
        live.wait(timeout=30)


def test_a_disk_that_fills_during_the_first_save_reports_that_save_not_metrics_json(
    compose_train, monkeypatch, caplog, single_thread: None
) -> None:
    import tempfile

    import sisr.plumbing.files as files
    from sisr.core.training import train
    from tests.conftest import SMOKE_OVERRIDES
    from tests.configs import tiny_overrides

    full = {"now": False}
    real_save, real_mkstemp = torch.save, tempfile.mkstemp

    def save_filling_the_disk(obj: object, handle, *args: object, **kwargs: object) -> None:
        full["now"] = True  # as torch reports ENOSPC: a RuntimeError whose context is the OSError
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    def mkstemp(*args: object, **kwargs: object):
        if full["now"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(torch, "save", save_filling_the_disk)
    monkeypatch.setattr(files.tempfile, "mkstemp", mkstemp)
    cfg = compose_train(["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "logger=none",
                         "test_after_fit=false"])
    with pytest.raises(SISRError) as caught:
        train(cfg)
    monkeypatch.setattr(torch, "save", real_save)
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    pattern = rf"could not write \S+\.ckpt in {folder} \(No space left on device\); free space or fix permissions there\."
    assert re.fullmatch(pattern, str(caught.value))  # the save that failed, and no previous file to call intact
    assert "the failed run's summary was not recorded: could not write metrics.json" in caplog.text
