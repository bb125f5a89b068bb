"""The HTML leaderboard renders in a real headless browser (Debian's Chromium): tables, rows and decoded images.

Chromium missing: skipped locally, a failure under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from benchmarks.leaderboard.html import to_html
from benchmarks.leaderboard.plots import psnr_vs_compute
from benchmarks.leaderboard.profile import VisualSpec
from benchmarks.leaderboard.visual import crop_zoom
from tests.test_benchmarks_table import board_with_rows
from tests.conftest import HANG_GUARD

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",  # let the load event (and the probe below) run before the DOM is dumped
]

# Injected into a copy of the page: after load, write each table's body row count and each image's decoded
# width into the DOM, which --dump-dom then prints.
PROBE = """<script>
window.addEventListener("load", function () {
  var report = {tables: {}, images: []};
  document.querySelectorAll("table").forEach(function (t) { report.tables[t.id] = t.tBodies[0].rows.length; });
  document.querySelectorAll("img").forEach(function (i) {
    report.images.push({alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight});
  });
  var out = document.createElement("pre"); out.id = "probe"; out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """The Chromium binary; missing is a skip locally and a failure under CI=true."""
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        message = "chromium not found; install it with `apt-get install -y chromium` to check the HTML page"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def render(html_path: Path, tmp_path: Path) -> dict:
    """Load `html_path` in headless Chromium and return what the probe saw (tables, images)."""
    probed = tmp_path / "probed.html"
    probed.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    user_data = f"--user-data-dir={tmp_path / 'chromium-profile'}"
    command = [chromium(), *CHROMIUM_FLAGS, user_data, "--dump-dom", probed.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD)
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.DOTALL)
    assert match, f"the page did not finish loading in Chromium (exit {result.returncode}): {result.stderr[-500:]}"
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def assert_self_contained(html: str) -> None:
    """No external resources: every src is a data URI, no stylesheet or script links."""
    sources = re.findall(r'src="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in html and "<script" not in html and "url(" not in html


def check_rendered_page(html_path: Path, rows: int, tmp_path: Path, expected_images: int) -> dict:
    """Render and check: both tables hold all `rows`, every image decoded. Returns the probe report."""
    assert_self_contained(html_path.read_text())
    report = render(html_path, tmp_path)
    assert report["tables"] == {"quality": rows, "cost": rows}
    assert len(report["images"]) == expected_images
    for image in report["images"]:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    return report


def test_leaderboard_page_renders_with_tables_and_decoded_images(tmp_path: Path) -> None:
    board = board_with_rows()
    board.plot_set = "Set5"
    plot = psnr_vs_compute(board, "Set5", tmp_path / "plot.png")
    spec = VisualSpec(top=4, left=8, size=16, zoom=3)
    visual = []
    for index, caption in enumerate(["HR", "bicubic x4"]):
        path = tmp_path / f"crop{index}.png"
        crop_zoom(torch.rand(3, 40, 40), spec).save(path)
        visual.append((caption, path))
    page = tmp_path / "leaderboard.html"
    page.write_text(to_html(board, plot, visual))

    report = check_rendered_page(page, len(board.rows), tmp_path, expected_images=3)
    widths = [image["width"] for image in report["images"]]
    assert widths[1:] == [16 * 3, 16 * 3]  # crops zoomed x3
    assert widths[0] > 500  # the plot
