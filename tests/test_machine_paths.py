"""Messages that end up in committed results name no machine's home folder, and the committed results hold none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from sisr.losses.vgg import weights_unavailable
from sisr.protocol.lpips import lpips_unavailable_reason

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
HOME_PATH = re.compile(r"(?<![\w.~])(/root/|/home/[^/\s\"']+/|/Users/[^/\s\"']+/)")


def test_committed_results_hold_no_home_folder_paths() -> None:
    files = [path for path in RESULTS.rglob("*") if path.suffix in {".json", ".md", ".html", ".csv"}]
    assert files, f"no committed results under {RESULTS}"
    found = {str(path.relative_to(RESULTS)): HOME_PATH.findall(path.read_text()) for path in files}
    assert not {name: hits for name, hits in found.items() if hits}


@pytest.mark.parametrize("message", [lambda: lpips_unavailable_reason(), lambda: weights_unavailable("imagenet")])
def test_skip_messages_write_the_home_folder_as_a_tilde(message, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / ".cache" / "torch" / "hub"))  # nothing cached
    text = message()
    assert "~/.cache/torch/hub/checkpoints/" in text and str(tmp_path) not in text
