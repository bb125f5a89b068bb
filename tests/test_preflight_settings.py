"""Settings that would train nothing, or crash with a traceback, are refused before the run starts, in one
sentence naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sisr.core.training import train
from sisr.plumbing.errors import SISRError
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import adversarial_models, tiny_overrides

pytestmark = pytest.mark.usefixtures("single_thread")
SRCNN = ["model=srcnn", *SMOKE_OVERRIDES, *tiny_overrides("srcnn"), "logger=none", "test_after_fit=false"]


@pytest.mark.parametrize("lr", ["-1", "0"])
def test_a_learning_rate_that_is_not_positive_is_one_sentence(compose_train, lr: str) -> None:
    cfg = compose_train([*SRCNN, f"model.optimizer.lr={lr}"])
    with pytest.raises(SISRError, match=rf"^model.optimizer.lr={lr} must be a number > 0"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_the_gan_optimizers_learning_rates_are_checked_too(compose_train) -> None:
    name = adversarial_models()[0]
    overrides = [f"model={name}", *SMOKE_OVERRIDES, *tiny_overrides(name), "logger=none", "model.optimizer_d.lr=0"]
    with pytest.raises(SISRError, match=r"^model.optimizer_d.lr=0 must be a number > 0"):
        train(compose_train(overrides))


@pytest.mark.parametrize("steps", ["0", "-5", "-1"])
def test_a_budget_that_trains_nothing_is_refused(compose_train, steps: str) -> None:
    bounded = "+trainer.max_time=00:00:00:20"  # were the check gone, -1 would train forever; this ends it
    cfg = compose_train([*SRCNN, f"trainer.max_steps={steps}", "budget_cap=null", bounded])
    with pytest.raises(SISRError, match=rf"^trainer.max_steps={steps} must be a positive number of training batches"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_resuming_with_other_layer_sizes_names_the_key_and_both_shapes(compose_train) -> None:
    first = train(compose_train(SRCNN))
    wider = [*SRCNN, "model.generator.num_features=12", f"ckpt_path={first['last_checkpoint']}"]
    with pytest.raises(SISRError, match=r"generator\.\S+ is \(8, 1, 9, 9\) in the file but \(12, 1, 9, 9\) here, "
                                        r"and \d+ more keys differ\); resume with the run's own model settings"):
        train(compose_train(wider, run="wider"))


def test_a_pretrained_generator_of_another_architecture_is_one_short_sentence(compose_train) -> None:
    srcnn = train(compose_train(SRCNN))
    name = adversarial_models()[0]
    overrides = [f"model={name}", *SMOKE_OVERRIDES, *tiny_overrides(name), "logger=none",
                 f"model.pretrained_generator={srcnn['last_checkpoint']}"]
    with pytest.raises(SISRError) as caught:
        train(compose_train(overrides, run="gan"))
    message = str(caught.value)
    assert "holds SRCNN x4" in message and "more keys differ" in message
    assert "\n" not in message and len(message) < 400, message


def test_eval_refuses_a_model_choice_that_the_checkpoint_would_override(compose_train) -> None:
    from sisr.core.evaluation import evaluate

    srcnn = train(compose_train(SRCNN))
    cfg = compose_train([f"ckpt_path={srcnn['last_checkpoint']}", "model=rrdb", "data.test_sets=[Set5]"],
                        config_name="eval", run="eval")
    with pytest.raises(SISRError, match=r"^model= chooses RRDBNet, which does not apply with ckpt_path=: the file "
                                        r"rebuilds its own model \(SRCNN\); drop model="):
        evaluate(cfg)
