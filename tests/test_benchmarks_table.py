"""Leaderboard tables: paper lookup and deltas, unpublished cells, the baseline row, Markdown/CSV/JSON output."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.leaderboard.papers import NO_PUBLISHED_NUMBER, load_paper_entries, lookup
from benchmarks.leaderboard.report import csv_record, to_markdown, write_csv, write_leaderboard_json
from benchmarks.leaderboard.table import (
    BASELINE,
    Leaderboard,
    Row,
    fmt_budget,
    fmt_delta,
    fmt_paper,
    identity_columns,
    render_cells,
    set_results,
    sort_rows,
)
from sisr.plumbing.errors import SISRError

ENTRIES = load_paper_entries()
PAPER_WIDTHS = {"num_features": 64, "mid_features": 32}
SRCNN_955 = {"model": {"generator": {"mid_kernel_size": 5, **PAPER_WIDTHS}}, "data": {"train": "imagenet"}}
SRCNN_915 = {"model": {"generator": {"mid_kernel_size": 1, **PAPER_WIDTHS}}, "data": {"train": "t91"}}


def scores(psnr: float, ssim: float) -> dict[str, float]:
    return {"psnr": psnr, "ssim": ssim, "psnr_rgb": psnr - 1.5, "count": 5, "lpips": None}


def make_row(model: str, scale: int, config: dict | None, set_scores: dict[str, dict[str, float]]) -> Row:
    sets, entry = set_results(set_scores, list(set_scores), ENTRIES, model, scale, config)
    baseline = model == BASELINE
    return Row(
        model=model,
        scale=scale,
        sets=sets,
        parameters=0 if baseline else 57_281,
        macs=1_000_000,
        latency_ms=1.5,
        peak_memory_bytes=3 * 1024**2,
        machine="test CPU",
        train_set=None if baseline else "div2k",
        batches=None if baseline else 100,
        train_seconds=None if baseline else 12.0,
        config_hash="abc123",
        git_commit="0123456789abcdef",
        seed=None if baseline else 1,
        paper_label=entry.label if entry else None,
        paper_source=entry.source if entry else None,
    )


def test_paper_lookup_picks_the_variant_the_config_describes() -> None:
    assert lookup(ENTRIES, "srcnn", 4, "Set5", SRCNN_955).psnr == 30.48
    assert lookup(ENTRIES, "srcnn", 4, "Set5", SRCNN_955).ssim == 0.8628
    assert lookup(ENTRIES, "srcnn", 3, "Set5", SRCNN_915).psnr == 32.39  # ECCV 9-1-5, PSNR only
    assert lookup(ENTRIES, "srcnn", 3, "Set5", SRCNN_915).ssim is None
    assert lookup(ENTRIES, "rrdb", 4, "Set5", {"data": {"train": "df2k"}}).psnr == 32.73
    assert lookup(ENTRIES, "rrdb", 4, "Set5", {"data": {"train": "div2k"}}).psnr == 32.60
    assert lookup(ENTRIES, "bicubic", 2, "BSD100", None).ssim == 0.8431


@pytest.mark.parametrize(
    ("model", "scale", "set_name", "config"),
    [
        ("esrgan", 4, "Set5", None),  # the paper has no benchmark table
        ("srresnet", 2, "Set5", None),  # published at x4 only
        ("srcnn", 4, "Set5", SRCNN_915),  # 9-1-5 published at x3 only
        ("srcnn", 3, "BSD100", SRCNN_915),  # not on BSD100
        ("edsr", 4, "Set5", None),  # no entry at all
    ],
)
def test_unpublished_cells_say_so(model: str, scale: int, set_name: str, config: dict | None) -> None:
    cell = lookup(ENTRIES, model, scale, set_name, config)
    assert cell.psnr is None and cell.ssim is None
    row = make_row(model, scale, config, {set_name: scores(30.0, 0.85)})
    assert fmt_paper(row.sets[set_name]) == NO_PUBLISHED_NUMBER
    assert fmt_delta(row.sets[set_name]) == NO_PUBLISHED_NUMBER
    assert row.sets[set_name].delta_psnr is None


def test_delta_is_ours_minus_the_paper() -> None:
    row = make_row("srcnn", 4, SRCNN_955, {"Set5": scores(30.12, 0.8500), "Set14": scores(27.49, 0.7503)})
    assert row.sets["Set5"].delta_psnr == pytest.approx(30.12 - 30.48)
    assert row.sets["Set5"].delta_ssim == pytest.approx(0.8500 - 0.8628)
    assert fmt_delta(row.sets["Set5"]) == "-0.36 / -0.0128"
    assert fmt_delta(row.sets["Set14"]) == "+0.00 / +0.0000"  # never "-0.00"
    assert fmt_paper(row.sets["Set5"]) == "30.48 / 0.8628"


def test_psnr_only_paper_cells_name_the_missing_ssim() -> None:
    row = make_row("srcnn", 3, SRCNN_915, {"Set5": scores(32.0, 0.9)})
    assert fmt_paper(row.sets["Set5"]) == "32.39 / SSIM not published"
    assert fmt_delta(row.sets["Set5"]) == "-0.39 / SSIM not published"


def test_a_row_trained_on_other_data_keeps_its_delta_labelled_with_both_datasets() -> None:
    on_t91 = {**SRCNN_955, "data": {"train": "t91"}}
    row = make_row("srcnn", 3, on_t91, {"Set5": scores(32.50, 0.9056)})
    assert row.sets["Set5"].delta_psnr == pytest.approx(32.50 - 32.75)
    assert fmt_delta(row.sets["Set5"]) == "-0.25 / -0.0034 (trained on t91, paper on imagenet)"
    assert fmt_delta(make_row("srcnn", 3, SRCNN_955, {"Set5": scores(32.5, 0.9056)}).sets["Set5"]) == "-0.25 / -0.0034"


def test_a_reduced_network_shows_the_paper_number_but_no_delta() -> None:
    reduced = {"model": {"generator": {"num_features": 48, "num_blocks": 6}}, "data": {"train": "imagenet"}}
    row = make_row("srresnet", 4, reduced, {"Set5": scores(30.1, 0.85)})
    result = row.sets["Set5"]
    assert fmt_paper(result) == "32.05 / 0.9019"
    assert result.delta_psnr is None and result.delta_ssim is None
    assert fmt_delta(result) == "not compared (network differs: num_features 48 vs 64, num_blocks 6 vs 16)"
    record = csv_record(row, (64, 64))
    assert record["Set5_delta_psnr"] == "not compared" and record["Set5_paper_psnr"] == 32.05
    assert record["Set5_delta_label"].startswith("network differs: num_features 48 vs 64")


def test_identity_columns_state_network_parameters_data_budget_and_protocol() -> None:
    row = make_row("srcnn", 3, SRCNN_955, {"Set5": scores(32.5, 0.9)})
    row.architecture, row.batches, row.train_seconds = "SRCNN: num_features=64", 24_000, 1076.4
    headers, (cells,) = render_cells([row], identity_columns())
    assert dict(zip(headers, cells)) == {
        "Model": "srcnn, paper: SRCNN 9-5-5",
        "Scale": "x3",
        "Network": "SRCNN: num_features=64",
        "Parameters": "57,281",
        "Training data": "div2k",
        "Budget": "24,000 batches, 17.9 min",
        "Protocol": "Y (BT.601), crop 3",
    }
    row.batches, row.train_seconds = 16, 12.0
    assert fmt_budget(row) == "16 batches, 12.0 s"


def board_with_rows() -> Leaderboard:
    rows = [
        make_row("esrgan", 4, None, {"Set5": scores(27.0, 0.78), "Set14": scores(24.5, 0.66)}),
        make_row("srcnn", 4, SRCNN_955, {"Set5": scores(30.1, 0.85), "Set14": scores(27.2, 0.74)}),
        make_row(BASELINE, 4, None, {"Set5": scores(28.43, 0.8113), "Set14": scores(26.00, 0.7030)}),
        make_row(BASELINE, 2, None, {"Set5": scores(33.66, 0.9299), "Set14": scores(30.24, 0.8688)}),
    ]
    return Leaderboard("unit", "a test board", ["Set5", "Set14"], (64, 64), sort_rows(rows, ["srcnn", "esrgan"]))


def test_rows_sort_by_scale_with_the_baseline_first() -> None:
    board = board_with_rows()
    assert [(r.model, r.scale) for r in board.rows] == [("bicubic", 2), ("bicubic", 4), ("srcnn", 4), ("esrgan", 4)]


def test_markdown_has_every_row_the_baseline_and_the_input_size(tmp_path: Path) -> None:
    board = board_with_rows()
    text = to_markdown(board, "plot.png", [("HR", "visual/00_hr.png"), ("bicubic x4", "visual/01_bicubic.png")])
    quality = text.split("## Quality")[1].split("##")[0]
    table_lines = [line for line in quality.splitlines() if line.startswith("| ")]
    assert len(table_lines) == 1 + len(board.rows)  # header + rows
    bicubic = next(line for line in table_lines if line.startswith("| bicubic | x4 |"))
    assert "| none (not trained) | none (not trained) | Y (BT.601), crop 4 |" in bicubic  # training data, budget
    esrgan = next(line for line in table_lines if line.startswith("| esrgan"))
    assert esrgan.count(NO_PUBLISHED_NUMBER) == 4  # paper and delta, on both sets
    assert "| 28.43 / 0.8113 | 28.42 / 0.8104 | +0.01 / +0.0009 |" in quality
    assert "MACs (64x64 LR)" in text and "Latency (64x64 LR, batch 1)" in text
    assert "![PSNR on" in text and "(visual/01_bicubic.png)" in text
    assert "| |" not in text  # no blank cells


def test_csv_and_json_hold_every_row_without_blank_cells(tmp_path: Path) -> None:
    board = board_with_rows()
    write_csv(board, tmp_path / "board.csv")
    write_leaderboard_json(board, tmp_path / "board.json")
    with open(tmp_path / "board.csv") as handle:
        records = list(csv.DictReader(handle))
    assert [r["model"] for r in records] == ["bicubic", "bicubic", "srcnn", "esrgan"]
    assert all(value != "" for record in records for value in record.values())
    srcnn = records[2]
    assert float(srcnn["Set5_paper_psnr"]) == 30.48
    assert float(srcnn["Set5_delta_psnr"]) == pytest.approx(30.1 - 30.48)
    assert records[3]["Set5_paper_psnr"] == NO_PUBLISHED_NUMBER
    assert records[0]["train_set"] == "none (not trained)"
    data = json.loads((tmp_path / "board.json").read_text())
    assert data["input_size"] == [64, 64]
    assert data["rows"][2]["sets"]["Set5"]["delta_psnr"] == pytest.approx(30.1 - 30.48)


def test_broken_paper_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "papers.yaml"
    path.write_text("entries:\n  - model: srcnn\n    label: x\n")
    with pytest.raises(SISRError, match="entry 0 lacks source, scales"):
        load_paper_entries(path)
