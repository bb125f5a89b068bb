"""LPIPS is scored only from weights already on disk, and says clearly when it is skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

from sisr.protocol.lpips import alexnet_weights_path, build_lpips, lpips_unavailable_reason


def test_missing_weights_give_a_note_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reason = lpips_unavailable_reason()
    assert reason is not None
    assert str(tmp_path / "hub" / "checkpoints") in reason
    assert reason.startswith("LPIPS skipped:")


def test_cached_weights_are_used_without_a_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = alexnet_weights_path()
    path.parent.mkdir(parents=True)
    # Stand-in for the real file: same format and keys, random values. Enough to prove the offline path.
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("LPIPS tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    assert lpips_unavailable_reason() is None
    metric = build_lpips()
    image = torch.rand(1, 3, 64, 64)
    metric.update(image, image)
    assert metric.compute().item() == pytest.approx(0.0, abs=1e-6)
    metric.reset()
    metric.update(image, torch.rand(1, 3, 64, 64))
    assert metric.compute().item() > 0.0


def test_sisr_eval_reports_lpips_per_set_when_weights_are_cached(
    compose_train, shared_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sisr.core.evaluation import evaluate

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = alexnet_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)  # random stand-in, same format
    cfg = compose_train(["model=bicubic", "data.scale=4", "data.test_sets=[Set5]"], config_name="eval")
    results = evaluate(cfg)
    assert results["notes"] == []
    assert results["sets"]["Set5"]["lpips"] > 0.0
    assert "lpips" in (Path(cfg.paths.output_dir) / "per_set.csv").read_text().splitlines()[0]


def test_sisr_eval_says_when_lpips_was_skipped(compose_train, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sisr.core.evaluation import evaluate

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    results = evaluate(compose_train(["model=bicubic", "data.scale=4", "data.test_sets=[Set5]"], config_name="eval"))
    assert results["sets"]["Set5"]["lpips"] is None
    assert results["notes"][0].startswith("LPIPS skipped:")
