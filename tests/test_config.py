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


def test_pixel_model_configs_hold_the_papers_recipes(compose_train) -> None:
    srcnn = compose_train(["model=srcnn"]).model
    assert (srcnn.generator.in_channels, srcnn.generator.mid_kernel_size) == (1, 5)  # SRCNN 9-5-5 on Y
    assert (srcnn.loss.criterion, srcnn.loss.channel) == ("mse", "y")
    srresnet = compose_train(["model=srresnet"]).model
    assert (srresnet.generator.num_features, srresnet.generator.num_blocks) == (64, 16)
    assert (srresnet.loss.criterion, srresnet.optimizer.lr) == ("mse", 1e-4)  # SRGAN paper, SRResNet-MSE
    rrdb = compose_train(["model=rrdb"]).model
    assert (rrdb.generator.num_blocks, rrdb.generator.growth_channels) == (23, 32)
    assert (rrdb.loss.criterion, rrdb.optimizer.lr, list(rrdb.optimizer.betas)) == ("l1", 2e-4, [0.9, 0.999])
    assert (rrdb.scheduler.step_size, rrdb.scheduler.gamma) == (200000, 0.5)  # ESRGAN: halved every 2e5


def test_a_test_set_may_be_a_folder_path(compose_train, shared_data_dir: Path) -> None:
    from sisr.core.evaluation import evaluate

    folder = shared_data_dir / "benchmark" / "Set5" / "image_SRF_4"
    by_path = evaluate(compose_train(["data.scale=4", f"data.test_sets=[{folder}]", "lpips=false"], "eval", "a"))
    by_name = evaluate(compose_train(["data.scale=4", "data.test_sets=[Set5]", "lpips=false"], "eval", "b"))
    (path_result,) = by_path["sets"].values()
    assert path_result == by_name["sets"]["Set5"]
