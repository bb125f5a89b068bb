"""The package's import graph has no cycles: entry points are thin shells over cores that never import them."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("sisr", "benchmarks")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Every sisr/benchmarks module `path` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def import_graph() -> dict[str, set[str]]:
    files = [p for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py") if "conf" not in p.parts]
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) - {module_name(p)} for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycles_in_sisr_or_benchmarks() -> None:
    graph = import_graph()
    assert "sisr.core.training" in graph and "sisr.train" in graph
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


ENTRY_POINTS = {"sisr.train", "sisr.eval", "sisr.upscale", "sisr.export", "sisr.demo", "sisr.api", "benchmarks.run"}

# What each package of sisr may import (besides itself), lowest layer first. Entry points (the top-level modules)
# may import any of them; `sisr.core` may import every package; nothing imports an entry point.
LAYERS: dict[str, set[str]] = {
    "plumbing": set(),
    "protocol": {"plumbing"},
    "models": {"plumbing", "protocol"},
    "losses": {"plumbing", "protocol", "models"},
    "inference": {"plumbing"},
    "weights": {"plumbing", "protocol", "models"},
    "data": {"plumbing", "protocol"},
    "lit": {"plumbing", "protocol", "models", "losses", "inference", "weights", "data"},
    "core": {"plumbing", "protocol", "models", "losses", "inference", "weights", "data", "lit"},
}


def sisr_package(module: str) -> str | None:
    """The package of sisr that `module` belongs to (`sisr.core.training` -> `core`); None for entry points."""
    parts = module.split(".")
    return parts[1] if parts[0] == "sisr" and len(parts) > 1 and parts[1] in LAYERS else None


def test_every_sisr_module_sits_in_a_layer_or_is_an_entry_point() -> None:
    modules = {m for m in import_graph() if m.startswith("sisr.")}
    loose = {m for m in modules if sisr_package(m) is None} - ENTRY_POINTS
    assert not loose, f"modules outside sisr's packages that are not entry points: {sorted(loose)}"


def test_packages_import_only_lower_layers() -> None:
    graph = import_graph()
    offenders = {
        module: sorted(target for target in targets if (used := sisr_package(target)) and used != package and used not in LAYERS[package])
        for module, targets in graph.items()
        if (package := sisr_package(module))
    }
    offenders = {module: targets for module, targets in offenders.items() if targets}
    assert not offenders, offenders


# The package itself re-exports the Python API (`sisr.load`, ...) from `sisr.api`, lazily: its import of
# `sisr.api` is for type checkers only, and nothing below the entry points imports the package's API.
FACADE = {"sisr": {"sisr.api"}}


def test_cores_never_import_entry_points() -> None:
    graph = import_graph()
    offenders = {module: graph[module] & ENTRY_POINTS - FACADE.get(module, set()) for module in graph}
    offenders = {module: targets for module, targets in offenders.items() if targets}
    assert not offenders, offenders
