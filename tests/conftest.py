"""Shared fixtures: where the benchmark images live, and CPU-only determinism."""

from __future__ import annotations

import contextlib
import os
import subprocess
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from sisr.plumbing.paths import shared_data_root
from tests.slurm_cluster import PACKAGES, SlurmCluster, missing_binaries

REPO_ROOT = Path(__file__).resolve().parents[1]

# The time limit of every subprocess and wait in the tests: a guard against a hang, not a performance bound. The
# slowest test took about 5 minutes on a loaded 2-core CI machine, so no test comes within 2x of it.
HANG_GUARD = 1800


def locate_shared_data() -> Path:
    """The shared data folder, as the library resolves it (sisr.plumbing.paths), made absolute from the repository root."""
    path = shared_data_root()
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared data folder; missing data fails under CI=true and skips elsewhere."""
    path = locate_shared_data()
    if not (path / "benchmark").is_dir():
        message = f"benchmark data not found at {path}; set SISR_DATA_DIR to the folder holding benchmark/"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A real one-node SLURM cluster (tests/slurm_cluster.py) for the session, stopped at its end even when a test
    failed; without the SLURM binaries (or root), tests skip with the reason locally and fail under CI=true."""
    missing = missing_binaries()
    reason = f"SLURM is not installed ({', '.join(missing)} missing); .ci/run installs Debian's {PACKAGES}" if missing else ""
    if not reason and os.geteuid() != 0:
        reason = "the test cluster's daemons run as root (SlurmUser=root); run the SLURM tests as root"
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    try:
        cluster.start()
        print(f"\n[slurm] test cluster up in {cluster.start_seconds:.1f} s ({cluster.conf})")
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One intra-op thread for a test module: tiny models and per-image metric work gain nothing from more, and
    on a busy 2-core machine a second OpenMP thread multiplied their CPU time several-fold."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _cpu_determinism() -> None:
    torch.manual_seed(0)


CONF_DIR = REPO_ROOT / "conf"

# Overrides that make a run hermetic and quick: embedded images, two batches, one short validation.
SMOKE_OVERRIDES = [
    "data=sample",
    "debug=smoke",
    "data.patch_size=32",
    "data.batch_size=2",
    "data.num_workers=0",
    "data.val_max_images=1",
    "data.repeat=1",
]


def compose_config(config_name: str, overrides: list[str], output_dir: Path, conf_dir: Path = CONF_DIR):
    """Compose a config from `conf_dir` (default conf/) as Hydra would, with the run folder at `output_dir`."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(REPO_ROOT)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data cache folder shared by the tests of one module (decoded images are rebuilt once, not per test)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture()
def shared_cache(module_cache: Path, compose_train, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Use the module's cache folder instead of the test's own (for suites of many short runs on the same data)."""
    monkeypatch.setenv("SISR_CACHE_DIR", str(module_cache))
    return module_cache


@pytest.fixture()
def compose_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Compose conf/train.yaml with overrides; runs write under tmp_path, caches under tmp_path/.cache."""
    monkeypatch.setenv("SISR_CACHE_DIR", str(tmp_path / ".cache"))
    monkeypatch.setenv("SISR_DATA_DIR", str(locate_shared_data()))

    def _compose(overrides: list[str], config_name: str = "train", run: str = "run", conf_dir: Path = CONF_DIR):
        return compose_config(config_name, overrides, tmp_path / run, conf_dir)

    return _compose


def huge_png(path: Path, side: int = 14000) -> Path:
    """A real PNG of side x side pixels (1-bit black, a few KB): over Pillow's pixel limit, cheap to make."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    rows = zlib.compress(bytes(side * ((side + 7) // 8 + 1)), 9)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


@contextlib.contextmanager
def tmpfs(mount: Path, options: str) -> Iterator[Path]:
    """A real small (`size=128k`) or read-only (`ro`) filesystem at `mount`, unmounted afterwards; the test is
    skipped where tmpfs cannot be mounted (not root, no mount)."""
    mount.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
