"""Settings a training run checks before anything is built: learning rates, the batch budget, and that a resumed
checkpoint's weights have the shapes this config builds. Each failure is one sentence naming the key."""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from sisr.plumbing.errors import SISRError
from sisr.weights.shapes import shape_mismatch

NETWORKS = ("generator", "discriminator")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_learning_rates(model: DictConfig) -> None:
    """Refuse an optimizer learning rate that is not a number > 0 (`model.optimizer.lr`, `model.optimizer_g.lr`,
    ...): torch rejects a negative one with a traceback and trains nothing, silently, with 0."""
    for key, node in model.items():
        if not str(key).startswith("optimizer") or not isinstance(node, DictConfig) or "lr" not in node:
            continue
        lr = node.lr
        if not _is_number(lr) or lr <= 0:
            raise SISRError(f"model.{key}.lr={lr} must be a number > 0 (the optimizer's step size, e.g. 1e-4).")


def check_budget(trainer: DictConfig) -> None:
    """Refuse a batch budget that trains nothing: `trainer.max_steps` must be a positive number of batches, or
    Lightning's -1 (no step limit) together with a positive `trainer.max_epochs`."""
    max_steps, max_epochs = trainer.get("max_steps", -1), trainer.get("max_epochs")
    if max_steps == -1 and _is_number(max_epochs) and max_epochs > 0:
        return
    if not _is_number(max_steps) or int(max_steps) != max_steps or max_steps <= 0:
        raise SISRError(
            f"trainer.max_steps={max_steps} must be a positive number of training batches (or -1 with a positive "
            "trainer.max_epochs to count the budget in epochs)."
        )


def check_run_settings(cfg: DictConfig) -> None:
    """The settings checks of a training run (see the module docstring)."""
    check_learning_rates(cfg.model)
    check_budget(cfg.trainer)


def expected_shapes(model: DictConfig) -> dict[str, torch.Size]:
    """Parameter and buffer shapes of the networks `model` builds (built on the meta device: no memory, no init),
    keyed as in a checkpoint's `state_dict` (`generator.<name>`, `discriminator.<name>`)."""
    shapes: dict[str, torch.Size] = {}
    with torch.device("meta"):
        for part in NETWORKS:
            node = model.get(part)
            if isinstance(node, DictConfig) and "_target_" in node:
                network = instantiate(node)
                shapes.update({f"{part}.{name}": value.shape for name, value in network.state_dict().items()})
    return shapes


def check_resume_shapes(model: DictConfig, checkpoint: dict[str, Any], ckpt_path: str) -> None:
    """Refuse a checkpoint whose generator or discriminator weights have other shapes than `model` builds (e.g.
    another `num_features`), naming the first differing key and both shapes."""
    expected = expected_shapes(model)
    parts = {name.split(".", 1)[0] for name in expected}
    found = {key: value for key, value in checkpoint["state_dict"].items() if key.split(".", 1)[0] in parts}
    problem = shape_mismatch(expected, found)
    if problem:
        raise SISRError(
            f"ckpt_path {ckpt_path} does not fit this config's model ({problem}); resume with the run's own model "
            "settings or start a new run folder."
        )
