"""The command line as a user meets it: multiruns, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.configs import tiny_overrides
from tests.conftest import HANG_GUARD, REPO_ROOT, SMOKE_OVERRIDES, locate_shared_data


def run_cli(module: str, args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    env |= {"SISR_HOME": str(tmp_path), "SISR_CACHE_DIR": str(tmp_path / ".cache"), "SISR_DATA_DIR": str(locate_shared_data())}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_folder(tmp_path: Path) -> None:
    tiny = ["model.generator.num_features=8"]  # valid for both models below
    result = run_cli("sisr.train", ["-m", "model=srcnn,srresnet", *SMOKE_OVERRIDES, *tiny, "test_after_fit=false"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]

    jobs = sorted((tmp_path / "logs" / "train" / "multiruns").glob("*/[0-9]*"))
    assert [job.name for job in jobs] == ["0", "1"]
    models = []
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        models.append(metrics["choices"]["model"])
        assert (job / ".hydra" / "config.yaml").is_file()
        assert (job / "checkpoints" / "last.ckpt").is_file()
        assert "val/Sample/psnr" in metrics["val"]
    assert models == ["srcnn", "srresnet"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["model=no_such_model"], "Could not find 'model/no_such_model'"),
        (["data.no_such_key=1"], "Key 'no_such_key' is not in struct"),
        (["model=srresnet", "data.scale=5", "data.patch_size=40"], "SRResNet supports scale 2, 3, 4 or 8, got 5"),
        (["model=srresnet", "data.patch_size=30"], "data.patch_size=30 is not divisible by data.scale=4"),
        (["model=srcnn", "trainer.strategy=ddp_spawn"], "trainer.strategy=ddp_spawn is not supported"),
        (["model=srcnn", "hydra.run.dir=/dev/null/run"], "the output folder /dev/null/run cannot be created or written"),
    ],
    ids=["unknown-model", "missing-key", "bad-scale", "patch-not-divisible", "ddp-spawn", "unwritable-run-folder"],
)
def test_bad_input_gives_one_clear_line(args: list[str], expected: str, tmp_path: Path) -> None:
    result = run_cli("sisr.train", [*SMOKE_OVERRIDES, *args], tmp_path)
    assert result.returncode != 0
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_of_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    result = run_cli("sisr.eval", [f"ckpt_path={tmp_path / 'nope.ckpt'}"], tmp_path)
    assert result.returncode == 2
    missing = tmp_path / "nope.ckpt"
    assert result.stderr.strip() == f"error: ckpt_path {missing} does not exist; pass ckpt_path=<run>/checkpoints/<file>.ckpt."


def test_training_the_bicubic_baseline_is_refused(tmp_path: Path) -> None:
    result = run_cli("sisr.train", ["model=bicubic", *SMOKE_OVERRIDES], tmp_path)
    assert result.returncode == 2
    assert "nothing to train" in result.stderr
    assert "Traceback" not in result.stderr



@pytest.mark.slow
def test_a_refused_second_run_touches_nothing_of_the_running_one(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = ["model=srcnn", *tiny_overrides("srcnn"), "data=sample", "data.num_workers=0", "data.patch_size=32",
             "data.batch_size=2", "trainer.accelerator=cpu", "trainer.max_steps=100000", "logger=none",
             "trainer.enable_progress_bar=false", "callbacks.model_checkpoint.every_n_train_steps=2", f"hydra.run.dir={run_dir}"]  # fmt: skip
    env = {**os.environ, "SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}
    running = subprocess.Popen([sys.executable, "-m", "sisr.train", *first], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_GUARD
        while not (run_dir / "checkpoints" / "last.ckpt").is_file() and time.monotonic() < deadline and running.poll() is None:
            time.sleep(0.2)
        hydra_files = {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()}
        assert b"model=srcnn" in hydra_files["overrides.yaml"]

        refused = run_cli("sisr.train", ["model=srresnet", "data.scale=2", f"hydra.run.dir={run_dir}"], tmp_path)
        assert refused.returncode == 2 and "another run is already writing" in refused.stderr, refused.stderr[-2000:]
        assert {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()} == hydra_files
    finally:
        running.send_signal(signal.SIGTERM)
        running.communicate(timeout=HANG_GUARD)
    assert running.returncode == 128 + signal.SIGTERM
    assert {p.name: p.read_bytes() for p in (run_dir / ".hydra").iterdir()} == hydra_files
    assert json.loads((run_dir / "metrics.json").read_text())["choices"]["model"] == "srcnn"


def test_eval_says_what_it_will_score_and_shows_progress_in_a_log(tmp_path: Path) -> None:
    result = run_cli("sisr.eval", ["model=bicubic", "data.scale=4", "data.test_sets=[Set5,Set14]", "lpips=false"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "Scoring 19 images at x4: Set5 (5), Set14 (14)." in lines
    assert "For a quick look score one set: data.test_sets=[Set5]." in lines
    assert "Testing Set5: 5/5 images" in lines and "Testing Set14: 14/14 images" in lines  # plain lines: no terminal
    assert "\r" not in result.stdout
