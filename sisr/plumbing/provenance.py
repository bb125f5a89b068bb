"""Where a result came from: config hash, git commit, machine, parameter counts."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

# Keys that say where files go, not what was trained; left out of the config hash.
_NON_SEMANTIC_KEYS = ("paths", "hydra", "logger", "callbacks", "task_name", "ckpt_path")


def config_hash(config: dict[str, Any]) -> str:
    """A short SHA-256 of the resolved config, ignoring output locations, so equal recipes hash equal."""
    semantic = {key: value for key, value in config.items() if key not in _NON_SEMANTIC_KEYS}
    if isinstance(semantic.get("data"), dict):
        semantic["data"] = {k: v for k, v in semantic["data"].items() if k not in ("root", "cache_dir")}
    text = json.dumps(semantic, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def git_commit(directory: str | os.PathLike[str] = ".") -> str | None:
    """The checked-out commit of the repository holding `directory` (with '-dirty' if it has changes)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def machine_name(device: torch.device | str | None = None) -> str:
    """A human-readable name of the machine that ran a measurement (GPU model, or CPU and core count)."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    model = _cpu_model_name()
    return f"{model or cpu}, {os.cpu_count()} cores"


def _cpu_model_name() -> str | None:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None
