"""`python -m sisr.train -m hparams_search=srcnn_optuna`: a real Optuna study through Hydra's Optuna sweeper, each
trial's objective the `optimized_metric` its run returns, and the best trial collected into a leaderboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmarks.run import parse_args, run
from tests.conftest import HANG_GUARD, REPO_ROOT, locate_shared_data
from tests.test_benchmarks_collect import PROFILE  # Set5 x4, one srcnn job

pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

# Three trials of a few batches each: the study's machinery, not its numbers (the README shows a real study).
SHORT = ["hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=2", "trainer.max_steps=3",
         "trainer.val_check_interval=3", "data.val_max_images=1"]


@pytest.mark.slow
def test_an_optuna_study_maximises_validation_psnr_and_its_best_trial_becomes_a_leaderboard(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    env |= {"SISR_HOME": str(tmp_path), "SISR_CACHE_DIR": str(tmp_path / ".cache"), "SISR_DATA_DIR": str(locate_shared_data())}
    command = [sys.executable, "-m", "sisr.train", "-m", "hparams_search=srcnn_optuna", *SHORT]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]

    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    trials = {run.name: json.loads((run / "metrics.json").read_text()) for run in sweep.glob("[0-9]*")}
    assert sorted(trials) == ["0", "1", "2"] and all(t["status"] == "completed" for t in trials.values())
    values = {name: metrics["val"]["val/psnr"] for name, metrics in trials.items()}
    assert len(set(values.values())) == 3  # the sampler tried three different settings
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(values.values())  # maximised, and the value each run returned
    best = json.loads((sweep / "best_trial.json").read_text())
    assert best["value"] == results["best_value"] and Path(best["run_dir"]) == sweep / best["job"]
    assert values[best["job"]] == results["best_value"]
    overrides = yaml.safe_load((sweep / best["job"] / ".hydra" / "overrides.yaml").read_text())
    assert {f"{key}={value}" for key, value in results["best_params"].items()} <= set(overrides)

    profile = tmp_path / "profile.yaml"
    profile.write_text(PROFILE)
    args = ["--profile", str(profile), "--collect", best["run_dir"], "--output", str(tmp_path / "board")]
    paths = run(parse_args([*args, "--work-dir", str(tmp_path / "work")]))
    rows = {row["model"]: row for row in json.loads(paths["leaderboard.json"].read_text())["rows"]}
    assert list(rows) == ["bicubic", "srcnn"]  # the best trial alone, beside the baseline
    assert rows["srcnn"]["config_hash"] == trials[best["job"]]["config_hash"]
    assert rows["srcnn"]["sets"]["Set5"]["count"] == 5 and rows["srcnn"]["sets"]["Set5"]["psnr"] > 0
