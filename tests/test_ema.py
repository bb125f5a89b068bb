"""The EMA of the generator: the same numbers as torch's AveragedModel with an EMA function, without host reads."""

from __future__ import annotations

import copy

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from sisr.lit.pixel import PixelSRModule
from sisr.losses import PixelLoss
from sisr.models.srresnet import SRResNet

DECAY = 0.9


def module_with_ema() -> PixelSRModule:
    torch.manual_seed(0)
    generator = SRResNet(num_features=8, num_blocks=1, scale=2)  # BatchNorm: float running stats, int counter
    return PixelSRModule(generator=generator, scale=2, loss=PixelLoss("l1"), optimizer=None, ema_decay=DECAY)


def train_steps(module: PixelSRModule, reference: AveragedModel | None, steps: int) -> None:
    """Change the generator's weights and buffers as training would, then update the EMA (and the reference)."""
    for _ in range(steps):
        with torch.no_grad():
            for parameter in module.generator.parameters():
                parameter.add_(torch.randn_like(parameter) * 0.1)
        module.generator.train()
        module.generator(torch.rand(2, 3, 8, 8))  # moves BatchNorm's running stats and num_batches_tracked
        module.update_ema()
        if reference is not None:
            reference.update_parameters(module.generator)


def test_update_ema_matches_torch_averaged_model_parameters_and_buffers() -> None:
    module = module_with_ema()
    with torch.no_grad():  # weights loaded after the EMA copy was made (a pretrained generator): the first update
        for parameter in module.generator.parameters():  # must copy them, not average with the stale copy
            parameter.mul_(3.0)
    reference = AveragedModel(copy.deepcopy(module.generator), multi_avg_fn=get_ema_multi_avg_fn(DECAY), use_buffers=True)
    train_steps(module, reference, steps=5)
    ours, theirs = module.ema.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    counters = [key for key, value in ours.items() if not value.is_floating_point() and key != "n_averaged"]
    assert counters  # BatchNorm's num_batches_tracked: torch blends it as a float and truncates; here it is copied
    generator = module.generator.state_dict()
    for key in ours:
        if key in counters:
            assert torch.equal(ours[key], generator[key.removeprefix("module.")]), key
        else:
            torch.testing.assert_close(ours[key], theirs[key], rtol=1e-6, atol=1e-6, msg=key)
    assert int(module.ema.n_averaged) == 5


def test_a_resumed_ema_keeps_averaging_instead_of_copying() -> None:
    module = module_with_ema()
    train_steps(module, None, steps=3)
    resumed = module_with_ema()  # a fresh process: the EMA copy holds the initial weights until the state loads
    resumed.load_state_dict(copy.deepcopy(module.state_dict()))
    before = copy.deepcopy(resumed.ema.module.state_dict())
    train_steps(resumed, None, steps=1)
    generator = resumed.generator.state_dict()
    for key, value in resumed.ema.module.state_dict().items():
        if value.is_floating_point():
            expected = before[key] + (1 - DECAY) * (generator[key] - before[key])
            torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6, msg=key)
    assert int(resumed.ema.n_averaged) == 4
    assert not torch.equal(resumed.ema.module.state_dict()["head.0.weight"], generator["head.0.weight"])
