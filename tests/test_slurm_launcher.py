"""hydra/launcher=slurm's decisions without a cluster: GPUs only for GPU training, one task per process, CPUs for
the loader workers, one sentence for what cannot be submitted, squeue once sacct has failed."""

from __future__ import annotations

import logging

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from sisr.plumbing.errors import SISRError
from sisr.plumbing.slurm_launcher import SacctFailure, resolve_resources, sbatch_message
from sisr.plumbing.slurm_watcher import LEFT_QUEUE, SqueueFallbackWatcher
from tests.conftest import CONF_DIR


def launcher_params(*overrides: str) -> dict:
    """conf/hydra/launcher/slurm.yaml as the launcher receives it (resolved against the composed run)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/launcher=slurm", *overrides], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    launcher.pop("submitit_folder"), launcher.pop("name")  # need a running Hydra job to resolve
    node = OmegaConf.create({"hydra": {"launcher": launcher}, **{k: cfg[k] for k in ("trainer", "data")}})
    return OmegaConf.to_container(node.hydra.launcher, resolve=True)


@pytest.mark.parametrize(
    ("overrides", "cuda", "gpus", "tasks"),
    [
        (["trainer=cpu"], True, None, 1),  # CPU training asks for no GPU even where one is visible
        (["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"], True, None, 2),
        (["trainer=ddp", "trainer.accelerator=gpu", "trainer.devices=4"], False, 4, 4),  # from a GPU-less login node
        (["trainer.accelerator=auto"], False, None, 1),
        (["trainer.accelerator=auto"], True, 1, 1),
    ],
)
def test_gpus_only_when_training_on_gpus(overrides: list[str], cuda: bool, gpus: int | None, tasks: int) -> None:
    params = resolve_resources(launcher_params(*overrides), cuda_visible=cuda)
    assert params["gpus_per_node"] == gpus and params["tasks_per_node"] == tasks
    assert not {"accelerator", "devices", "num_workers"} & params.keys()  # read here, not passed to sbatch


def test_documented_keys_and_small_node_defaults() -> None:
    params = resolve_resources(launcher_params("data=div2k"), cuda_visible=False)
    assert params["cpus_per_task"] == 8 + 1  # data.num_workers loader workers and the training process
    assert params["mem_gb"] <= 4 and params["timeout_min"] == 1440
    for key in ("partition", "account", "qos", "constraint"):
        assert key in params and params[key] is None  # the cluster's defaults unless set


def test_what_cannot_be_submitted_is_one_sentence() -> None:
    with pytest.raises(SISRError, match=r"trainer.devices must be a number of processes, not -1; set e.g."):
        resolve_resources(launcher_params("trainer=ddp"), cuda_visible=True)  # devices: -1 (all GPUs)
    with pytest.raises(SISRError, match=r"hydra.launcher.mem_gb must be a positive whole number, got 0"):
        resolve_resources(launcher_params("hydra.launcher.mem_gb=0"), cuda_visible=False)


def test_sbatch_message_is_read_from_submitits_error() -> None:
    import subprocess

    from submitit.core.utils import FailedJobError

    refused = FailedJobError("sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job submission failed")
    refused.__cause__ = subprocess.CalledProcessError(1, ["sbatch", "job.sh"])
    assert sbatch_message(refused) == "Memory specification can not be satisfied; Batch job submission failed"
    other = FailedJobError("boom")
    other.__cause__ = subprocess.CalledProcessError(1, ["squeue"])
    assert sbatch_message(other) is None


def test_sacct_failure_switches_to_squeue_once(caplog: pytest.LogCaptureFixture) -> None:
    watcher = SqueueFallbackWatcher(delay_s=60)
    watcher.register_job("7")
    failure = SacctFailure(watcher)
    record = logging.LogRecord("submitit", logging.WARNING, __file__, 1, "Call #1 - Bypassing sacct error x", (), None)
    with caplog.at_level(logging.WARNING):
        assert not failure.filter(record) and not failure.filter(record)  # submitit's line dropped at every poll
    assert caplog.text.count("job states are read from squeue instead") == 1
    assert watcher._make_command()[0] == "squeue"
    assert watcher.read_info("JOBID|STATE|NODELIST\n7|PENDING|\n")["7"]["State"] == "PENDING"
    gone = watcher.read_info("JOBID|STATE|NODELIST\n")
    assert gone["7"]["State"] == LEFT_QUEUE
    watcher._info_dict.update(gone)
    assert watcher.is_done("7", mode="cache")  # over for submitit: a sweep does not wait forever
