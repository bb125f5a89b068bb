"""Benchmark profiles and the training commands they become."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from benchmarks.launch import job_name, quote_override_value, resolve_checkpoint_refs, train_command
from benchmarks.profile import REPO_ROOT, load_profile
from sisr.errors import SISRError

CONF_DIR = REPO_ROOT / "conf"


def test_tiny_profile_covers_all_four_architectures_on_the_shared_sets() -> None:
    profile = load_profile("tiny")
    assert {"srcnn", "srresnet", "srgan", "esrgan"} <= {m.name for m in profile.models}
    assert profile.test_sets == ["Set5", "Set14"]
    assert 4 in profile.scales
    assert "data=sample" in profile.train_overrides


@pytest.mark.parametrize("name", ["tiny", "full"])
def test_every_profile_run_composes_with_the_train_config(name: str, tmp_path: Path) -> None:
    """Each (model, scale) of a profile is a valid `sisr.train` override list (checked by composing it)."""
    profile = load_profile(name)
    fake_checkpoint = quote_override_value(str(tmp_path / "stage1.ckpt"))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for model in profile.models:
            for scale in profile.scales_of(model):
                overrides = [
                    re.sub(r"\{checkpoint:\w+\}", lambda _: fake_checkpoint, o)
                    for o in [*profile.train_overrides, *model.overrides, f"data.scale={scale}"]
                ]
                cfg = compose(config_name="train", overrides=overrides)
                assert cfg.data.scale == scale
                assert cfg.test_after_fit is False


def test_full_profile_is_the_paper_recipe() -> None:
    profile = load_profile("full")
    assert profile.test_sets == ["Set5", "Set14", "BSD100"]
    srcnn = next(m for m in profile.models if m.name == "srcnn")
    assert profile.scales_of(srcnn) == [2, 3, 4]
    srresnet = next(m for m in profile.models if m.name == "srresnet")
    assert "trainer.max_steps=1000000" in srresnet.overrides  # SRGAN paper: 1e6 updates
    assert "data=div2k" in profile.train_overrides


def test_restricting_a_profile_keeps_order_and_rejects_unknown_models() -> None:
    profile = load_profile("tiny").restricted(["srresnet", "srcnn"], [4])
    assert [m.name for m in profile.models] == ["srcnn", "srresnet"]
    assert all(profile.scales_of(m) == [4] for m in profile.models)
    with pytest.raises(SISRError, match="has no model edsr"):
        load_profile("tiny").restricted(["edsr"])


def test_bad_profiles_get_one_clear_sentence(tmp_path: Path) -> None:
    with pytest.raises(SISRError, match="not found"):
        load_profile("no-such-profile")
    path = tmp_path / "p.yaml"
    path.write_text("scales: [4]\ntest_sets: [Set5]\nmodels:\n  - name: srcnn\n    overrides: [trainer.max_steps=2]\n")
    with pytest.raises(SISRError, match=r"models\[0\] \(srcnn\) needs a 'model=<config>' override"):
        load_profile(str(path))
    path.write_text("test_sets: [Set5]\nmodels:\n  - {name: srcnn, overrides: [model=srcnn]}\n")
    with pytest.raises(SISRError, match="key 'scales' is missing"):
        load_profile(str(path))
    path.write_text("scales: [4]\ntest_sets: [Set5]\nmodels: [{name: srcnn, overrides: [model=srcnn]}]\nvisual: {crop: 3}\n")
    with pytest.raises(SISRError, match="unknown key in 'measure' or 'visual'"):
        load_profile(str(path))


def test_train_command_is_a_one_job_multirun_into_the_sweep(tmp_path: Path) -> None:
    profile = load_profile("tiny")
    srcnn = profile.models[0]
    command = train_command(profile, srcnn, 4, tmp_path / "my sweep")
    assert command[:4] == [sys.executable, "-m", "sisr.train", "--multirun"]
    assert f"hydra.sweep.dir='{tmp_path / 'my sweep'}'" in command
    assert "hydra.sweep.subdir=srcnn_x4" in command
    assert command.index("model=srcnn") > command.index("data=sample")  # model overrides after the shared ones
    assert "data.scale=4" in command


def test_checkpoint_references_need_the_earlier_run(tmp_path: Path) -> None:
    with pytest.raises(SISRError, match="list srresnet before srgan"):
        resolve_checkpoint_refs(["model.pretrained_generator={checkpoint:srresnet}"], 4, tmp_path, "srgan")
    assert job_name("srresnet", 4) == "srresnet_x4"
    assert quote_override_value("/a/it's=1.ckpt") == "'/a/it\\'s=1.ckpt'"
