"""Every file in conf/ composes and resolves; data.scale drives both data and model."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR

GROUP_FILES = sorted(p for p in CONF_DIR.glob("*/*.yaml") if p.parent.name != "hydra")


def _override(path: Path) -> str:
    return f"{path.parent.name}={path.stem}"


def test_every_group_option_is_covered() -> None:
    groups = {p.parent.name for p in GROUP_FILES}
    assert {"model", "data", "trainer", "logger", "callbacks", "paths", "experiment", "debug"} <= groups


@pytest.mark.parametrize("path", GROUP_FILES, ids=_override)
def test_train_config_composes_and_resolves(path: Path, compose_train) -> None:
    cfg = compose_train([_override(path)])
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert resolved["data"]["_target_"] == "sisr.data.datamodule.SRDataModule"
    assert resolved["model"]["_target_"].startswith("sisr.lit.")
    if path.parent.name == "model" and path.stem != "bicubic":
        assert resolved["model"]["generator"]["scale"] == resolved["data"]["scale"]


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml")))
def test_eval_config_composes_with_every_model(option: str, compose_train) -> None:
    cfg = compose_train([f"model={option}", "data.scale=2"], config_name="eval")
    resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    assert resolved["data"]["test_sets"] == ["Set5", "Set14", "BSD100"]
    assert resolved["model"]["generator"]["scale"] == 2


def test_one_scale_setting_drives_data_and_model(compose_train) -> None:
    cfg = compose_train(["model=srresnet", "data.scale=2"])
    assert cfg.data.scale == 2
    assert cfg.model.generator.scale == 2
    assert cfg.model.scale == 2


def test_paths_follow_environment(compose_train, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SISR_DATA_DIR", str(tmp_path / "datasets"))
    cfg = compose_train(["data=div2k"])
    assert cfg.data.root == str(tmp_path / "datasets")
    assert cfg.paths.output_dir == str(tmp_path / "run")
