"""Everything a run needs is checked before its first batch (before stage 1 of two-stage experiments), and the
remaining user mistakes are one sentence each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

from sisr.plumbing.errors import SISRError
from sisr.core.stages import STAGE1_DIR, run_stages
from sisr.core.training import train
from sisr.plumbing.run_folder import RUN_LOCK
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides

pytestmark = pytest.mark.usefixtures("single_thread")
SRCNN = ["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "logger=none", "test_after_fit=false"]


def test_missing_vgg_weights_stop_a_two_stage_run_before_stage_1(compose_train, tmp_path: Path) -> None:
    overrides = ["experiment=srgan_x4", *SMOKE_OVERRIDES, *tiny_overrides("srgan"), "logger=none"]
    cfg = compose_train([*overrides, f"model.perceptual_loss.weights={tmp_path / 'missing_vgg19.pth'}"])
    with pytest.raises(SISRError, match="VGG19 weights file .*missing_vgg19.pth does not exist"):
        run_stages(cfg)
    assert not (Path(cfg.paths.output_dir) / STAGE1_DIR).exists()  # stage 1 never started


def test_missing_dataset_stops_before_training(compose_train, tmp_path: Path) -> None:
    cfg = compose_train([*SRCNN, f"data.val_sets=[{tmp_path / 'nowhere'}]"])
    with pytest.raises(SISRError, match="Dataset folder .*nowhere does not exist"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_pretrained_generator_of_another_shape_names_both(compose_train) -> None:
    small = train(compose_train([*SRCNN[:1], "model=srresnet", *SMOKE_OVERRIDES, *tiny_overrides("srresnet")]))
    gan = [
        "model=srgan",
        *SMOKE_OVERRIDES,
        *tiny_overrides("srgan"),
        "model.generator.num_features=16",
        f"model.pretrained_generator={small['last_checkpoint']}",
    ]
    with pytest.raises(SISRError, match=r"holds SRResNet x4 \(num_features=8.*model.generator is SRResNet x4 \(num_features=16"):
        train(compose_train(gan, run="gan"))


def test_resuming_a_checkpoint_of_another_scale_or_model_is_refused(compose_train) -> None:
    first = train(compose_train(SRCNN))
    with pytest.raises(SISRError, match=r"holds a SRCNN x4 run but this config builds SRCNN x2"):
        train(compose_train([*SRCNN, "data.scale=2", f"ckpt_path={first['last_checkpoint']}"], run="x2"))
    other = ["model=srresnet", *SMOKE_OVERRIDES, *tiny_overrides("srresnet"), f"ckpt_path={first['last_checkpoint']}"]
    with pytest.raises(SISRError, match=r"holds a SRCNN x4 run but this config builds SRResNet x4"):
        train(compose_train(other, run="other"))


def test_ckpt_path_auto_starts_fresh_then_resumes(compose_train) -> None:
    fresh = train(compose_train([*SRCNN, "ckpt_path=auto"]))
    assert fresh["resumed_from"] is None and fresh["batches"] == 2
    again = train(compose_train([*SRCNN, "ckpt_path=auto", "trainer.max_steps=3", "budget_cap=3"]))
    assert again["resumed_from"] == fresh["last_checkpoint"] and again["batches"] == 3


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_run_folder_is_one_sentence(compose_train, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(SISRError, match="is not writable; choose another with hydra.run.dir"):
        train(compose_train(SRCNN, run="locked/run"))


def test_unwritable_run_folder_is_one_sentence_even_for_root(compose_train, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SISRError, match="is not writable; choose another with hydra.run.dir"):
        train(compose_train(SRCNN, run="file/run"))


def test_a_second_run_in_the_same_folder_is_refused(compose_train) -> None:
    cfg = compose_train(SRCNN)
    folder = Path(cfg.paths.output_dir)
    folder.mkdir(parents=True)
    with FileLock(folder / RUN_LOCK):  # another process's run holds the folder
        with pytest.raises(SISRError, match="another run is already writing .*hydra.run.dir"):
            train(cfg)
    assert train(cfg)["status"] == "completed"  # free again once that run ends


def test_ddp_spawn_is_refused_and_ddp_keys_need_no_plus(compose_train) -> None:
    cfg = compose_train([*SRCNN, "trainer=ddp", "trainer.strategy=ddp_spawn", "trainer.accelerator=cpu", "trainer.devices=2"])
    assert cfg.trainer.sync_batchnorm is True and cfg.trainer.num_nodes == 1
    with pytest.raises(SISRError, match="trainer.strategy=ddp_spawn is not supported.*use trainer=ddp"):
        train(cfg)
