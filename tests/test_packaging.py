"""A non-editable install ships what the entry points need (the Hydra configs, the leaderboard's profiles and the
papers' numbers), the benchmarks work from it outside a checkout, and its console scripts (sisr-train, sisr-export,
sisr-upscale, sisr-eval) run there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from benchmarks.leaderboard.profile import load_profile
from tests.conftest import CONF_DIR, HANG_GUARD, REPO_ROOT, SMOKE_OVERRIDES, locate_shared_data
from tests.configs import tiny_overrides

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
    assert [job.name for job in profile.jobs] == sys.argv[2].split(","), profile.jobs  # the checkout's jobs
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
        timeout=HANG_GUARD,
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


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The wheel installed into a folder of its own, and the environment that puts it first on the path (the
    venv's own site-packages, torch, hydra, ..., stay on the path)."""
    site = tmp_path_factory.mktemp("site")
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)]
    result = subprocess.run(install, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-2000:]
    env = {key: value for key, value in os.environ.items() if key not in ("SISR_HOME", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    return site, env


@pytest.mark.slow
def test_benchmarks_work_from_the_installed_package_in_another_folder(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    site, env = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    jobs = ",".join(job.name for job in load_profile("tiny").jobs)  # the checkout's profile, read here
    command = [sys.executable, "-c", FROM_INSTALLED, str(site), jobs]
    result = subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installed package OK" in result.stdout


@pytest.mark.slow
def test_console_scripts_train_export_upscale_and_evaluate_from_the_installed_package(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    site, env = installed
    env = env | {"SISR_DATA_DIR": str(locate_shared_data()), "SISR_CACHE_DIR": str(tmp_path / "cache")}

    def run(script: str, *overrides: str) -> str:
        assert (site / "bin" / script).is_file(), sorted(p.name for p in (site / "bin").iterdir())
        command = [str(site / "bin" / script), *overrides]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HANG_GUARD)
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout

    run("sisr-train", "model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "logger=none", f"hydra.run.dir={tmp_path / 'run'}")
    exported = tmp_path / "srcnn.safetensors"
    run("sisr-export", f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", "format=safetensors", f"output={exported}")
    lr = locate_shared_data() / "benchmark" / "Set5" / "image_SRF_4" / "img_001_SRF_4_LR.png"
    run("sisr-upscale", f"weights={exported}", f"input={lr}", f"output={tmp_path / 'sr'}", "device=cpu")
    with Image.open(lr) as small, Image.open(tmp_path / "sr" / "img_001_SRF_4_LR.png") as big:
        assert big.size == (small.width * 4, small.height * 4)
    run("sisr-eval", f"weights={exported}", "data.test_sets=[Set5]", "lpips=false", "trainer.accelerator=cpu",
        f"hydra.run.dir={tmp_path / 'eval'}")
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["model"] == "SRCNN" and results["sets"]["Set5"]["count"] == 5
