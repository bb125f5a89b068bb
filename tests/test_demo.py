"""`python -m sisr.demo` (`make demo`): train experiment=demo, score bicubic on the same held-out images, print the
margin. Smoke budgets here: the numbers are not the demo's, the plumbing and the printed comparison are."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from sisr import demo
from tests.conftest import SMOKE_OVERRIDES
from tests.test_cli import run_cli

LINE = re.compile(
    r"^demo: (?P<model>\w+) (?P<psnr>\d+\.\d\d) dB vs bicubic (?P<bicubic>\d+\.\d\d) dB \((?P<margin>[+-]\d+\.\d\d) dB\) "
    r"on Sample x(?P<scale>\d) \(Y-PSNR, 2 held-out images\)$",
    re.MULTILINE,
)
# MATLAB bicubic on the two held-out sample images (chelsea, rocket), Y channel, by scale: `python -m sisr.eval
# model=bicubic data.scale=<s> data.test_sets=[Sample]`.
BICUBIC_SAMPLE = {2: 33.78, 3: 31.74, 4: 30.73}


def test_the_comparison_line_names_both_scores_and_the_signed_margin() -> None:
    row = {"set": "Sample", "images": 2, "model_psnr": 31.5234, "bicubic_psnr": 30.7349, "margin_db": 0.7885}
    assert demo.format_comparison("SRCNN", 4, row) == (
        "demo: SRCNN 31.52 dB vs bicubic 30.73 dB (+0.79 dB) on Sample x4 (Y-PSNR, 2 held-out images)"
    )
    behind = {**row, "model_psnr": 30.5, "margin_db": 30.5 - 30.7349}
    assert "(-0.23 dB)" in demo.format_comparison("SRCNN", 4, behind)


def test_a_run_without_test_scores_is_one_sentence() -> None:
    baseline = {"sets": {"Sample": {"psnr": 30.7, "count": 2}}}
    with pytest.raises(demo.SISRError, match="test_after_fit=true"):
        demo.comparisons({"test": {}}, baseline)


def test_demo_trains_scores_bicubic_and_prints_the_margin(compose_train, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = compose_train(["experiment=demo", *SMOKE_OVERRIDES])
    record = demo.run_demo(cfg)

    line = LINE.search(capsys.readouterr().out)
    assert line, "no comparison line printed"
    (row,) = record["sets"]
    assert line["model"] == record["model"] == demo.model_name(cfg)
    assert int(line["scale"]) == record["scale"] == cfg.data.scale
    assert float(line["bicubic"]) == pytest.approx(BICUBIC_SAMPLE[cfg.data.scale], abs=0.015)  # the baseline
    assert float(line["psnr"]) == pytest.approx(row["model_psnr"], abs=0.005)  # the run's test score (final weights)
    assert row["margin_db"] == pytest.approx(row["model_psnr"] - row["bicubic_psnr"])
    run_dir = Path(cfg.paths.output_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["test/Sample/psnr"] == pytest.approx(row["model_psnr"])
    assert json.loads((run_dir / "demo.json").read_text()) == record
    assert json.loads((run_dir / "bicubic" / "results.json").read_text())["model"] == "Bicubic"


def test_the_entry_point_trains_experiment_demo_unless_another_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(demo, "_hydra_main", lambda: seen.append(list(sys.argv[1:])))
    for argv in (["debug=smoke"], ["experiment=cpu_srresnet", "debug=smoke"]):
        monkeypatch.setattr(sys, "argv", ["sisr.demo", *argv])
        demo.main()
    assert seen == [["experiment=demo", "debug=smoke"], ["experiment=cpu_srresnet", "debug=smoke"]]


@pytest.mark.slow
def test_python_m_sisr_demo_prints_the_comparison(tmp_path: Path) -> None:
    result = run_cli("sisr.demo", [*SMOKE_OVERRIDES, f"hydra.run.dir={tmp_path / 'demo'}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    line = LINE.search(result.stdout)
    assert line, result.stdout[-2000:]
    assert float(line["bicubic"]) == pytest.approx(BICUBIC_SAMPLE[int(line["scale"])], abs=0.015)
    assert (tmp_path / "demo" / "demo.json").is_file()
