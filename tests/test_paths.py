"""One resolver per path: the library, the Hydra configs and the benchmarks agree on every folder."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from sisr.plumbing import paths
from tests.conftest import compose_config


def test_data_root_from_argument_env_or_default(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "env"))
    assert paths.data_root(str(tmp_path / "arg")) == tmp_path / "arg"
    assert paths.data_root(None) == tmp_path / "env"
    assert paths.shared_data_root() == tmp_path / "env"
    monkeypatch.delenv(paths.DATA_ENV)
    assert paths.data_root(None) == Path("data")
    assert paths.shared_data_root() == Path("../shared/data")
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "home"))
    assert paths.data_root(None) == tmp_path / "home" / "data"


def test_cache_dir_from_argument_env_or_default(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    assert paths.cache_dir("elsewhere") == Path("elsewhere")
    assert paths.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv(paths.CACHE_ENV)
    assert paths.cache_dir() == Path(".cache")


def test_configs_and_datamodule_use_the_same_resolver(monkeypatch, tmp_path):
    from hydra.utils import instantiate

    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(paths.CACHE_ENV, str(tmp_path / "cache"))
    cfg = compose_config("train", ["data=sample"], tmp_path / "run")
    assert Path(cfg.paths.data_dir) == paths.data_root()
    assert Path(cfg.paths.shared_data_dir) == paths.shared_data_root()
    assert Path(cfg.paths.cache_dir) == paths.cache_dir()
    datamodule = instantiate(cfg.data, _convert_="all")
    assert datamodule.root == paths.data_root() and datamodule.cache_dir == paths.cache_dir()
    bare = instantiate(OmegaConf.create({"_target_": "sisr.data.datamodule.SRDataModule", "train": None}))
    assert bare.root == paths.data_root() and bare.cache_dir == paths.cache_dir()


def test_t91_resolves_under_the_data_root(shared_data_dir) -> None:
    from sisr.data.layouts import find_pairs, named_set_folder

    name, folder = named_set_folder("t91", shared_data_dir)
    assert (name, folder) == ("T91", shared_data_dir / "train" / "T91")
    pairs = find_pairs(folder, 3)
    assert len(pairs) == 91 and all(pair.lr is None for pair in pairs)  # HR only: LR is made by MATLAB bicubic
