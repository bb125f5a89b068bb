"""Adding an architecture is a model file and a config: the tests pick a new config up from `conf/model/`.

The two files of a throwaway architecture are written to a temp folder: the model (EDSR-baseline's shape, built from
sisr's shared blocks), made importable as `sisr.models.plainresnet` as if it sat in sisr/models/, and its config, in
a copy of conf/. The test lists then include it, tiny overrides are made for it by rule, and it trains, resumes bit
for bit from a periodic checkpoint (EMA included), exports and loads back, and is scored, through the same code the
per-model tests run.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import sisr.models
from sisr.core.evaluation import evaluate
from sisr.core.training import train
from sisr.export import export
from sisr.weights.loading import load_weights
from tests.configs import CONF_DIR, pixel_models, tiny_overrides, trainable_models
from tests.run_states import QUICK_DATA, QUICK_EPOCH, differing, final_weights

MODEL_SOURCE = '''\
"""EDSR-baseline's shape: residual blocks without BatchNorm, a sub-pixel upsampler without activation."""

from __future__ import annotations

from torch import Tensor, nn

from sisr.models.blocks import ResidualBlock, conv3x3, make_layer, subpixel_upsampler
from sisr.models.common import UPSAMPLE_STAGES, check_scale


class PlainResNet(nn.Module):
    """Head conv, `num_blocks` residual blocks without BatchNorm, a trunk conv with a global skip, sub-pixel upsampler,
    tail conv."""

    def __init__(
        self, in_channels: int = 3, out_channels: int = 3, num_features: int = 64, num_blocks: int = 16, scale: int = 4
    ) -> None:
        super().__init__()
        self.scale = check_scale("PlainResNet", scale, sorted(UPSAMPLE_STAGES))
        self.head = conv3x3(in_channels, num_features)
        self.body = make_layer(lambda: ResidualBlock(num_features, batch_norm=False, activation=nn.ReLU), num_blocks)
        self.body_end = conv3x3(num_features, num_features)
        self.upsample = subpixel_upsampler(num_features, self.scale, activation=None)
        self.tail = conv3x3(num_features, out_channels)

    def forward(self, lr: Tensor) -> Tensor:
        feat = self.head(lr)
        return self.tail(self.upsample(feat + self.body_end(self.body(feat))))
'''

MODEL_CONFIG = """\
_target_: sisr.lit.pixel.PixelSRModule
scale: ${data.scale}
generator:
  _target_: sisr.models.plainresnet.PlainResNet
  in_channels: 3
  out_channels: 3
  num_features: 64
  num_blocks: 16
  scale: ${..scale}
loss:
  _target_: sisr.losses.PixelLoss
  criterion: l1
optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 1.0e-4
scheduler: null
ema_decay: 0.9
gradient_clip_val: null
compile: false
channels_last: false
"""


@pytest.fixture()
def conf_with_new_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    models = tmp_path / "models"
    models.mkdir()
    (models / "plainresnet.py").write_text(MODEL_SOURCE)
    monkeypatch.setattr(sisr.models, "__path__", [*sisr.models.__path__, str(models)])  # as if in sisr/models/
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    (conf / "model" / "plainresnet.yaml").write_text(MODEL_CONFIG)
    yield conf
    sys.modules.pop("sisr.models.plainresnet", None)


def test_a_new_model_config_is_picked_up_everywhere(conf_with_new_model: Path, compose_train, tmp_path: Path) -> None:
    conf = conf_with_new_model
    assert trainable_models(conf) == sorted([*trainable_models(), "plainresnet"]) and "plainresnet" in pixel_models(conf)
    tiny = tiny_overrides("plainresnet", conf)
    assert tiny == ["model.generator.num_features=8", "model.generator.num_blocks=1"]

    overrides = ["model=plainresnet", *tiny, *QUICK_DATA, *QUICK_EPOCH, "trainer.max_steps=7", "trainer.val_check_interval=3",
                 "callbacks.model_checkpoint.every_n_train_steps=1", "logger=none", "data.test_sets=[Sample]",
                 "+callbacks.snapshot._target_=tests.run_states.SnapshotLast", f"+callbacks.snapshot.folder={tmp_path / 'snap'}"]  # fmt: skip
    straight = train(compose_train(overrides, run="straight", conf_dir=conf))  # the smoke run
    assert straight["status"] == "completed" and "test/Sample/psnr" in straight["test"]

    resumed = train(compose_train([*overrides, f"ckpt_path={tmp_path / 'snap' / 'batch-6.ckpt'}"], run="resumed", conf_dir=conf))
    assert not differing(final_weights(straight["last_checkpoint"]), final_weights(resumed["last_checkpoint"]))

    output = tmp_path / "out" / "plainresnet.safetensors"
    export(compose_train([f"ckpt_path={straight['last_checkpoint']}", "format=safetensors", f"output={output}"],
                         config_name="export", run="export", conf_dir=conf))  # fmt: skip
    loaded = load_weights(output)
    lr = torch.rand(1, 3, 9, 7)
    with torch.no_grad():
        assert loaded.generator(lr).shape == (1, 3, 36, 28) and type(loaded.generator).__name__ == "PlainResNet"

    results = evaluate(compose_train([f"weights={output}", "data.test_sets=[Sample]", "lpips=false"], config_name="eval",
                                     run="eval", conf_dir=conf))  # fmt: skip
    assert results["sets"]["Sample"]["psnr"] == pytest.approx(straight["test"]["test/Sample/psnr"], abs=1e-3)
