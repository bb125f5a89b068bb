"""A non-editable install ships what the entry points need (the Hydra configs, the leaderboard's profiles and the
papers' numbers), and the benchmarks work from it outside a checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CONF_DIR, REPO_ROOT

BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
# Profiles and the papers' numbers: package data the leaderboard reads at run time.
LEADERBOARD_DATA = {f"benchmarks/{p.relative_to(BENCHMARKS_DIR).as_posix()}" for p in BENCHMARKS_DIR.rglob("*.yaml")}

# Run from an empty folder against the installed copy: the profile, the papers' numbers and the evaluation config
# that scoring composes must all come from the package.
FROM_INSTALLED = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import benchmarks, sisr
    from benchmarks.leaderboard.papers import load_paper_entries
    from benchmarks.leaderboard.profile import load_profile
    from benchmarks.leaderboard.score import CONF_DIR, compose_eval_config

    site = Path(sys.argv[1]).resolve()
    for module in (benchmarks, sisr):
        assert Path(module.__file__).resolve().is_relative_to(site), module.__file__
    assert CONF_DIR.resolve().is_relative_to(site), CONF_DIR
    profile = load_profile("tiny")
    assert [job.name for job in profile.jobs] == ["srcnn", "srgan", "esrgan"], profile.jobs
    assert load_profile("full").test_sets == ["Set5", "Set14", "BSD100"]
    assert any(entry.model == "srgan" for entry in load_paper_entries())
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    launchers = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Launcher)}
    assert "hydra_plugins.sisr_launcher.slurm.SlurmLauncher" in launchers, launchers  # hydra/launcher=slurm
    cfg = compose_eval_config(Path("eval"), Path("data"), ["Set5"], scale=4)
    assert cfg.model.generator._target_ == "sisr.models.bicubic.Bicubic" and cfg.data.scale == 4
    print("installed package OK")
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this checkout."""
    folder = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(folder), "."],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (built,) = folder.glob("sisr-*.whl")
    return built


@pytest.mark.slow
def test_wheel_contains_every_config_file_profile_and_paper_result(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"sisr/conf/{p.relative_to(CONF_DIR).as_posix()}" for p in CONF_DIR.rglob("*.yaml")}
    expected |= LEADERBOARD_DATA
    assert {"benchmarks/leaderboard/paper_results.yaml", "benchmarks/leaderboard/profiles/tiny.yaml"} <= expected
    assert expected <= names, sorted(expected - names)
    assert {"sisr/train.py", "benchmarks/run.py", "benchmarks/leaderboard/suite.py"} <= names
    assert "hydra_plugins/sisr_launcher/slurm.py" in names  # the class behind hydra/launcher=slurm
    assert "benchmarks/speed/loader_speed.py" in names


@pytest.mark.slow
def test_benchmarks_work_from_the_installed_package_in_another_folder(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    result = subprocess.run(install, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The venv's own site-packages (torch, hydra, ...) stay on the path; the installed copy comes first.
    env = {key: value for key, value in os.environ.items() if key not in ("SISR_HOME", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    command = [sys.executable, "-c", FROM_INSTALLED, str(site)]
    result = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installed package OK" in result.stdout
