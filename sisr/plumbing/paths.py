"""Where things live: one resolver, and one default, for every path the library, the benchmarks and the tests use.

* project root: ``$SISR_HOME``, else the working directory; logs go to ``<project root>/logs``.
* data root (DIV2K, downloads): ``data.root``, else ``$SISR_DATA_DIR``, else ``<project root>/data``.
* shared data (the read-only Set5/Set14/BSD100, Sun-Hays80 and T91 copy beside a checkout):
  ``$SISR_DATA_DIR``, else ``<project root>/../shared/data``.
* decode-once cache: ``data.cache_dir``, else ``$SISR_CACHE_DIR``, else ``<project root>/.cache``.

The Hydra configs read the same functions through the ``sisr.path`` resolver (``${sisr.path:data_root}``), so a
run, a benchmark and a test fixture never disagree about a folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

# The Hydra configs of every entry point (conf/, reached through the sisr/conf symlink, shipped in the wheel). An
# absolute path, so `sisr-train` and the other console scripts find them as `python -m sisr.train` does (Hydra
# reads a relative config_path of a module that is not __main__ as a Python package, which conf/ is not).
CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
HOME_ENV = "SISR_HOME"
DATA_ENV = "SISR_DATA_DIR"
CACHE_ENV = "SISR_CACHE_DIR"


def _from_env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def project_root() -> Path:
    """``$SISR_HOME``, else the working directory."""
    return _from_env(HOME_ENV) or Path(".")


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``explicit`` if given, else ``$SISR_DATA_DIR``, else ``<project root>/data``."""
    if explicit not in (None, ""):
        return Path(explicit).expanduser()
    return _from_env(DATA_ENV) or project_root() / "data"


def shared_data_root() -> Path:
    """The read-only shared data: ``$SISR_DATA_DIR``, else ``<project root>/../shared/data``."""
    return _from_env(DATA_ENV) or project_root() / ".." / "shared" / "data"


def cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The decode-once cache: ``explicit`` if given, else ``$SISR_CACHE_DIR``, else ``<project root>/.cache``."""
    if explicit not in (None, ""):
        return Path(explicit).expanduser()
    return _from_env(CACHE_ENV) or project_root() / ".cache"


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` for messages that may end up in committed results: the home folder written as `~`, so a message
    says `~/.cache/torch/hub/...`, not one machine's `/root/...` or `/home/<user>/...`."""
    text, home = str(path), str(Path.home())
    if home not in ("", "/") and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home):]
    return text


def log_dir() -> Path:
    """``<project root>/logs``: training runs, evaluations and benchmark work folders."""
    return project_root() / "logs"


_RESOLVERS = {
    "project_root": project_root,
    "data_root": data_root,
    "shared_data_root": shared_data_root,
    "cache_dir": cache_dir,
    "log_dir": log_dir,
}


def _resolve(name: str) -> str:
    if name not in _RESOLVERS:
        raise ValueError(f"unknown sisr.path '{name}'; use one of {', '.join(_RESOLVERS)}.")
    return str(_RESOLVERS[name]())


def register_resolver() -> None:
    """Make ``${sisr.path:<name>}`` available to OmegaConf (idempotent; done on ``import sisr``)."""
    if not OmegaConf.has_resolver("sisr.path"):
        OmegaConf.register_new_resolver("sisr.path", _resolve)
