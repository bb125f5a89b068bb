"""sisr.models stays pure torch: importing it must not pull in lightning or hydra."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sisr.models
from tests.conftest import HANG_GUARD

FORBIDDEN = ("lightning", "pytorch_lightning", "hydra")
MODELS_DIR = Path(sisr.models.__file__).parent

_IMPORT_ALL = f"""
import importlib, pkgutil, sys
import sisr.models
names = [m.name for m in pkgutil.iter_modules(sisr.models.__path__, "sisr.models.")]
assert len(names) >= 6, names
for name in names:
    importlib.import_module(name)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & set({FORBIDDEN!r}))
assert not loaded, f"importing sisr.models loaded {{loaded}}"
print("ok", len(names))
"""


def test_importing_models_loads_no_lightning_or_hydra() -> None:
    result = subprocess.run([sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_models_source_has_no_lightning_or_hydra_imports() -> None:
    files = sorted(MODELS_DIR.glob("*.py"))
    assert len(files) >= 7  # __init__ plus the model files
    offenders = {f.name: sorted(_imported_roots(f) & set(FORBIDDEN)) for f in files}
    assert not {name: roots for name, roots in offenders.items() if roots}
