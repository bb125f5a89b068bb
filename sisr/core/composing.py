"""Composing an entry point's config from Python, as `python -m sisr.<entry> key=value ...` composes it.

The Python API (`sisr.train`, `sisr.evaluate`) runs the cores the command line runs on a config composed here:
the same `conf/` files, the same overrides, the run folder Hydra would pick (or the one given), and Hydra's global
config set so `${hydra:...}` interpolations and the recorded config-group choices work outside a Hydra app.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, open_dict

from sisr.plumbing.errors import SISRError
from sisr.plumbing.paths import CONF_DIR


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    try:
        if GlobalHydra.instance().is_initialized():  # inside a running Hydra app: its config search path
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    except HydraException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SISRError(f"the overrides {overrides} do not compose with conf/{config_name}.yaml: {first}") from exc


def compose_entry(config_name: str, overrides: Sequence[str] = (), output_dir: str | Path | None = None) -> DictConfig:
    """`conf/<config_name>.yaml` with `overrides`, its run folder created, ready for the entry point's core.

    Args:
        config_name: train, eval, upscale or export.
        overrides: Hydra overrides, as on the command line (e.g. ["model=srcnn", "data=sample"]).
        output_dir: the run folder; default: the one the command line would use (`hydra.run.dir`).
    """
    cfg = _compose(config_name, list(overrides))
    folder = Path(output_dir if output_dir is not None else cfg.hydra.run.dir).expanduser().resolve()
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(folder)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    folder.mkdir(parents=True, exist_ok=True)
    return cfg
