"""The one source of the tests' model and experiment lists: the config folder itself.

Every model config in `conf/model/` that trains (it names an optimizer; `bicubic` does not) is a test model. Tiny
overrides are built by rule from the constructor words every model shares, so a new architecture's config is
picked up by every parametrized test without editing a list.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"

# The shared constructor words and the tiny value each takes in tests.
TINY_GENERATOR = {"num_features": 8, "num_blocks": 1, "growth_channels": 4, "mid_features": 4}
TINY_DISCRIMINATOR = {"num_features": 4}
RANDOM_VGG = "random-init-for-tests"  # the explicit, clearly named random VGG19 for perceptual losses


def _load(conf_dir: Path, group: str, name: str) -> DictConfig:
    return OmegaConf.load(conf_dir / group / f"{name}.yaml")


def model_config(name: str, conf_dir: Path = CONF_DIR) -> DictConfig:
    """The raw (unresolved) model config `conf/model/<name>.yaml`."""
    return _load(conf_dir, "model", name)


def is_trainable(config: DictConfig) -> bool:
    """A model config trains when it names an optimizer (pixel models) or two (GANs)."""
    return any(key in config for key in ("optimizer", "optimizer_g"))


def is_adversarial(config: DictConfig) -> bool:
    return "discriminator" in config


def trainable_models(conf_dir: Path = CONF_DIR) -> list[str]:
    """Every model config that trains, sorted by name: the list every per-model test runs over."""
    names = sorted(path.stem for path in (conf_dir / "model").glob("*.yaml"))
    return [name for name in names if is_trainable(model_config(name, conf_dir))]


def pixel_models(conf_dir: Path = CONF_DIR) -> list[str]:
    """The trainable models trained by a pixel loss alone (no discriminator)."""
    return [name for name in trainable_models(conf_dir) if not is_adversarial(model_config(name, conf_dir))]


def adversarial_models(conf_dir: Path = CONF_DIR) -> list[str]:
    return [name for name in trainable_models(conf_dir) if is_adversarial(model_config(name, conf_dir))]


def experiments(conf_dir: Path = CONF_DIR) -> list[str]:
    """Every experiment config, sorted by name."""
    return sorted(path.stem for path in (conf_dir / "experiment").glob("*.yaml"))


def two_stage_experiments(conf_dir: Path = CONF_DIR) -> list[str]:
    """The experiments that train a PSNR stage first (`- /model@pretrain.model: <pixel model>`)."""
    return [name for name in experiments(conf_dir) if "pretrain" in _load(conf_dir, "experiment", name)]


def experiment_model(name: str, conf_dir: Path = CONF_DIR) -> str:
    """The model config an experiment selects (`override /model: <name>`)."""
    for entry in _load(conf_dir, "experiment", name).get("defaults", []):
        if isinstance(entry, DictConfig | dict):
            for key, value in entry.items():
                if key == "override /model":
                    return str(value)
    raise ValueError(f"experiment {name} selects no model")


def tiny_overrides(name: str, conf_dir: Path = CONF_DIR, prefix: str = "model") -> list[str]:
    """Overrides that shrink model config `name` to seconds-per-batch size, by rule from its constructor words.

    `prefix` is where the model sits in the composed config (`model`, or `pretrain.model` for a PSNR stage).
    """
    config = model_config(name, conf_dir)
    overrides = [f"{prefix}.generator.{key}={value}" for key, value in TINY_GENERATOR.items() if key in config.generator]
    if is_adversarial(config):
        discriminator = config.discriminator
        overrides += [f"{prefix}.discriminator.{key}={value}" for key, value in TINY_DISCRIMINATOR.items() if key in discriminator]
    if "perceptual_loss" in config:
        overrides.append(f"{prefix}.perceptual_loss.weights={RANDOM_VGG}")
    return overrides


def tiny_experiment_overrides(name: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """Tiny overrides for experiment `name`: its model's, by the same rule (stage 1 shares the generator config)."""
    return tiny_overrides(experiment_model(name, conf_dir), conf_dir)


def stage1_model(name: str, conf_dir: Path = CONF_DIR) -> str | None:
    """The PSNR-stage model a two-stage experiment names (`- /model@pretrain.model: <name>`), or None."""
    for entry in _load(conf_dir, "experiment", name).get("defaults", []):
        if isinstance(entry, DictConfig | dict):
            for key, value in entry.items():
                if str(key).lstrip("/") == "model@pretrain.model":
                    return str(value)
    return None


def job_models(overrides: list[str], conf_dir: Path = CONF_DIR) -> list[str]:
    """The models a `sisr.train` override list trains, in order: a two-stage experiment's PSNR stage, then its
    GAN; one model otherwise (`experiment=` selects its model, `model=` overrides it)."""
    values = dict(override.split("=", 1) for override in overrides if override.split("=", 1)[0] in ("model", "experiment"))
    experiment = values.get("experiment")
    model = values.get("model") or (experiment_model(experiment, conf_dir) if experiment else None)
    if model is None:
        raise ValueError(f"no model= or experiment= in {overrides}")
    first = stage1_model(experiment, conf_dir) if experiment else None
    return [first, model] if first else [model]
