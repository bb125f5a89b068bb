"""`logger=mlflow` and `logger=wandb` for real: a tiny training run read back through MLflow's own client and from
W&B's offline run files, holding what metrics.json says; a missing package is one sentence naming the install."""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest

from sisr.core.training import train
from sisr.plumbing.cli import run_reporting_user_errors
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import tiny_overrides

TINY = ["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn")]


@pytest.mark.slow
def test_mlflow_holds_the_params_metrics_and_best_checkpoint_of_metrics_json(compose_train, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    summary = train(compose_train([*TINY, "logger=mlflow"]))
    run_dir = tmp_path / "run"
    written = json.loads((run_dir / "metrics.json").read_text())
    assert summary["status"] == "completed" and (run_dir / "mlflow.db").is_file()

    client = mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("sisr").experiment_id])
    logged = {key: value for key, value in {**written["val"], **written["test"]}.items() if not key.endswith("/count")}
    assert {"val/psnr", "val/Sample/psnr", "test/Sample/psnr"} <= set(logged)
    for key, value in logged.items():  # image counts are kept out of the loggers, in metrics.json only
        assert run.data.metrics[key] == pytest.approx(value, rel=1e-6), key
    assert run.data.params["scale"] == str(written["scale"])
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
    best = Path(written["best_checkpoint"])
    assert best.stem in artifacts, artifacts
    local = Path(client.download_artifacts(run.info.run_id, f"{best.stem}/{best.name}", str(tmp_path / "download")))
    assert local.read_bytes() == best.read_bytes()


def wandb_history(run_file: Path) -> dict[str, float]:
    """The last logged value of every key in an offline W&B run file: W&B's records (its own protobuf `Record`) in
    the LevelDB log framing the file uses (a 7-byte file header, then 32 KiB blocks of chunks with a 7-byte header:
    CRC, length, type 1 full / 2 first / 3 middle / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", data[:8]
    pos, pending, history = 7, b"", {}
    while pos + 7 <= len(data):
        if (left := 32768 - pos % 32768) < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending, pos = pending + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            for item in record.history.item if record.WhichOneof("record_type") == "history" else []:
                history["/".join(item.nested_key) or item.key] = json.loads(item.value_json)
    return history


@pytest.mark.slow
def test_wandb_offline_run_files_hold_the_per_set_validation_metrics(
    compose_train, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    train(compose_train([*TINY, "logger=wandb"]))
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    per_set = {key: value for key, value in written["val"].items() if key.count("/") == 2 and not key.endswith("/count")}
    assert {"val/Sample/psnr", "val/Sample/ssim"} <= set(per_set)

    (run_file,) = (tmp_path / "run" / "wandb").glob("offline-run-*/run-*.wandb")
    history = wandb_history(run_file)
    for key, value in per_set.items():
        assert history[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("choice", ["mlflow", "wandb"])
def test_a_missing_tracker_package_is_one_sentence_naming_the_install(
    choice: str, compose_train, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == choice else real_find_spec(name, *a))
    with pytest.raises(SystemExit):
        run_reporting_user_errors(train, compose_train([*TINY, f"logger={choice}"]))
    expected = f"error: logger={choice} needs the {choice} package, which is not installed; run pip install 'sisr[{choice}]'."
    assert capsys.readouterr().err.strip() == expected
