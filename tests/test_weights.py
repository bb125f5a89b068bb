"""ESRGAN-ecosystem weights in and out, with spandrel (the loader ComfyUI and chaiNNer use) as the oracle."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import Tensor

from sisr.plumbing.errors import SISRError
from sisr.models.rrdbnet import RRDBNet
from sisr.models.srresnet import SRResNet
from sisr.weights.loading import (
    build_generator,
    generator_weights,
    load_weights,
    open_generator,
    rrdbnet_config,
    to_basicsr,
    to_sisr,
)

spandrel = pytest.importorskip("spandrel")
from spandrel.architectures.ESRGAN import ESRGAN  # noqa: E402 - after the importorskip
from tests.conftest import HANG_GUARD

NUM_BLOCKS = 2
FEATURES = 8  # spandrel's ESRGAN fixes growth at 32; width and depth are free


def old_to_named(old: dict[str, Tensor], layout: str) -> dict[str, Tensor]:
    """Rename spandrel's (ESRGAN's original) x4 keys to BasicSR's or to ESRGAN's 2019 layout, spelled out here
    independently of sisr.weights.loading; spandrel checks the result below."""
    basicsr = layout == "basicsr"
    tail = {"0": "conv_first", "3": "conv_up1" if basicsr else "upconv1", "6": "conv_up2" if basicsr else "upconv2",
            "8": "conv_hr" if basicsr else "HRconv", "10": "conv_last"}
    out = {}
    for key, value in old.items():
        if m := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key):
            block, rdb, conv, kind = m.groups()
            trunk = f"body.{block}.rdb" if basicsr else f"RRDB_trunk.{block}.RDB"
            out[f"{trunk}{rdb}.conv{conv}.{kind}"] = value
        elif m := re.fullmatch(rf"model\.1\.sub\.{NUM_BLOCKS}\.(weight|bias)", key):
            out[f"{'conv_body' if basicsr else 'trunk_conv'}.{m[1]}"] = value
        else:
            index, kind = re.fullmatch(r"model\.(\d+)\.(weight|bias)", key).groups()  # type: ignore[union-attr]
            out[f"{tail[index]}.{kind}"] = value
    return out


@pytest.fixture()
def spandrel_net() -> ESRGAN:
    torch.manual_seed(0)
    return ESRGAN(in_nc=3, out_nc=3, num_filters=FEATURES, num_blocks=NUM_BLOCKS, scale=4).eval()


def saved_layouts(net: ESRGAN, folder: Path) -> dict[str, Path]:
    """The network saved as ESRGAN's original, ESRGAN's 2019, BasicSR's, and BasicSR's params_ema files."""
    old = net.state_dict()
    files = {
        "original": old,
        "esrgan-2019": old_to_named(old, "esrgan"),
        "basicsr": {"params": old_to_named(old, "basicsr")},
        "basicsr-params_ema": {"params_ema": old_to_named(old, "basicsr"), "params": {}},
    }
    paths = {}
    for name, payload in files.items():
        paths[name] = folder / f"{name}.pth"
        torch.save(payload, paths[name])
    for name in ("original", "basicsr"):  # .safetensors files are flat, as OpenModelDB/chaiNNer convert them
        paths[f"{name}-safetensors"] = folder / f"{name}.safetensors"
        safetensors.torch.save_file(old if name == "original" else old_to_named(old, name), paths[f"{name}-safetensors"])
    return paths


def test_every_esrgan_layout_loads_into_ours_with_identical_outputs(spandrel_net: ESRGAN, tmp_path: Path) -> None:
    lr = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        expected = spandrel_net(lr)
    for name, path in saved_layouts(spandrel_net, tmp_path).items():
        oracle = spandrel.ModelLoader().load_from_file(path)  # the file really is what its name says
        loaded = load_weights(path)
        with torch.no_grad():
            assert torch.equal(oracle.model(lr), expected), name
            assert (loaded.generator(lr) - expected).abs().max() <= 1e-5, name
        assert loaded.scale == 4 and isinstance(loaded.generator, RRDBNet)
        assert loaded.generator_config | {"_target_": None} == {
            "_target_": None, "in_channels": 3, "out_channels": 3, "num_features": FEATURES,
            "num_blocks": NUM_BLOCKS, "growth_channels": 32, "scale": 4,
        }
        assert loaded.from_ema == (name == "basicsr-params_ema")
    only_ema = tmp_path / "only_ema.pth"  # what Real-ESRGAN publishes: params_ema and nothing else
    torch.save({"params_ema": old_to_named(spandrel_net.state_dict(), "basicsr")}, only_ema)
    with torch.no_grad():
        assert (load_weights(only_ema, use_ema=False).generator(lr) - expected).abs().max() <= 1e-5


def test_generator_weights_returns_our_key_layout_for_every_source(spandrel_net: ESRGAN, tmp_path: Path) -> None:
    ours = RRDBNet(num_features=FEATURES, num_blocks=NUM_BLOCKS, scale=4).state_dict()
    for name, path in saved_layouts(spandrel_net, tmp_path).items():
        weights = generator_weights(path, key="model.pretrained_generator")
        assert sorted(weights) == sorted(ours), name  # .safetensors files store their keys sorted
        assert all(weights[k].shape == ours[k].shape for k in ours), name


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_scale_is_read_from_the_number_of_upsampling_stages(scale: int) -> None:
    net = ESRGAN(in_nc=3, out_nc=3, num_filters=FEATURES, num_blocks=1, scale=scale)
    ours = to_sisr(net.state_dict())
    assert rrdbnet_config(ours)["scale"] == scale
    assert to_sisr(to_basicsr(ours)) == ours  # the two directions are inverses


def test_our_state_dict_export_loads_in_spandrel_with_identical_outputs(tmp_path: Path) -> None:
    from sisr.export import write_state_dict

    torch.manual_seed(1)
    generator = RRDBNet(num_features=FEATURES, num_blocks=NUM_BLOCKS, growth_channels=32, scale=4).eval()
    source = tmp_path / "ours.pth"
    torch.save(generator.state_dict(), source)  # our own key layout is read too
    loaded = load_weights(source)
    loaded.from_ema = True
    write_state_dict(loaded, tmp_path / "export.pth")
    payload = torch.load(tmp_path / "export.pth", weights_only=True)
    assert list(payload) == ["params_ema"] and "body.0.rdb1.conv1.weight" in payload["params_ema"]

    described = spandrel.ModelLoader().load_from_file(tmp_path / "export.pth")
    assert described.architecture.id == "ESRGAN" and described.scale == 4
    lr = torch.rand(1, 3, 9, 13)
    with torch.no_grad():
        assert (described.model(lr) - generator(lr)).abs().max() <= 1e-5


def test_our_safetensors_export_loads_in_spandrel_with_identical_outputs(tmp_path: Path) -> None:
    from sisr.export import write_safetensors

    torch.manual_seed(2)
    generator = RRDBNet(num_features=FEATURES, num_blocks=NUM_BLOCKS, growth_channels=32, scale=4).eval()
    torch.save(generator.state_dict(), tmp_path / "ours.pth")
    output = tmp_path / "export.safetensors"
    write_safetensors(load_weights(tmp_path / "ours.pth"), output, {"architecture": "RRDBNet", "scale": 4})
    assert "body.0.rdb1.conv1.weight" in safetensors.torch.load_file(output)  # BasicSR's keys, flat

    described = spandrel.ModelLoader().load_from_file(output)
    assert described.architecture.id == "ESRGAN" and described.scale == 4
    lr = torch.rand(1, 3, 9, 13)
    with torch.no_grad():
        assert torch.equal(described.model(lr), generator(lr))


def test_an_exported_non_rrdb_state_dict_is_rebuilt_from_its_metadata(tmp_path: Path) -> None:
    generator = SRResNet(num_features=8, num_blocks=1, scale=2).eval()
    torch.save(generator.state_dict(), tmp_path / "srresnet.pth")
    config = {"_target_": "sisr.models.srresnet.SRResNet", "num_features": 8, "num_blocks": 1, "scale": 2}
    (tmp_path / "metadata.json").write_text(json.dumps({"weights_file": "srresnet.pth", "generator": config, "scale": 2}))
    loaded = load_weights(tmp_path / "srresnet.pth")
    lr = torch.rand(1, 3, 8, 8)
    assert isinstance(loaded.generator, SRResNet) and loaded.scale == 2 and loaded.kind == "sisr export"
    with torch.no_grad():
        assert torch.equal(loaded.generator(lr), generator(lr))


def test_sisr_checkpoint_weights_prefer_ema_when_asked(tmp_path: Path) -> None:
    state = {"generator.conv.weight": torch.zeros(1), "ema.module.conv.weight": torch.ones(1), "ema.n_averaged": torch.tensor(3)}
    torch.save({"state_dict": state}, tmp_path / "run.ckpt")
    assert generator_weights(tmp_path / "run.ckpt")["conv.weight"].item() == 1.0
    assert generator_weights(tmp_path / "run.ckpt", use_ema=False)["conv.weight"].item() == 0.0


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"conv_first.weight": torch.zeros(8, 12, 3, 3), "body.0.rdb1.conv1.weight": torch.zeros(32, 8, 3, 3),
          "conv_last.weight": torch.zeros(3, 8, 3, 3)}, "pixel-unshuffled input"),
        ({"head.weight": torch.zeros(1)}, "is no RRDBNet and has no sisr metadata"),
        ({"model.0.weight": torch.zeros(1), "model.1.sub.0.RDB1.conv1x1.weight": torch.zeros(1)}, "ESRGAN+"),
        ([1, 2, 3], "holds a list, not a state dict"),
    ],
    ids=["real-esrgan-x2", "unknown-network", "esrgan-plus", "not-a-dict"],
)
def test_unusable_files_are_one_sentence(payload: object, message: str, tmp_path: Path) -> None:
    torch.save(payload, tmp_path / "w.pth")
    with pytest.raises(SISRError, match=message) as info:
        load_weights(tmp_path / "w.pth")
    assert "\n" not in str(info.value) and str(tmp_path / "w.pth") in str(info.value)


def test_model_choice_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(SISRError, match="not both"):
        open_generator("a.ckpt", "b.pth")
    with pytest.raises(SISRError, match="no model given"):
        open_generator(None, None)
    with pytest.raises(SISRError, match="does not exist"):
        open_generator(None, str(tmp_path / "missing.pth"))


def test_metadata_cannot_instantiate_arbitrary_classes() -> None:
    with pytest.raises(SISRError, match="not a class of sisr.models"):
        build_generator({"_target_": "os.system", "command": "true"})


def test_importing_sisr_weights_loads_no_lightning_or_hydra() -> None:
    frameworks = "{'hydra', 'pytorch_lightning', 'lightning'}"
    code = f"import sys, sisr.weights.loading; print(sorted({{m.split('.')[0] for m in sys.modules}} & {frameworks}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=HANG_GUARD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
