"""Model shapes, gradients, paper-size parameter counts and scale checks for sisr.models."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from sisr.models.bicubic import Bicubic
from sisr.models.blocks import ResidualBlock, subpixel_upsampler
from sisr.models.common import count_parameters, default_init_weights
from sisr.models.discriminators import SRGANDiscriminator, VGGStyleDiscriminator
from sisr.models.rrdbnet import RRDBNet
from sisr.models.srcnn import SRCNN
from sisr.models.srresnet import SRResNet
from sisr.plumbing.errors import SISRError
from sisr.protocol.color import rgb_to_ycbcr, ycbcr_to_rgb
from sisr.protocol.imresize import imresize
from tests.configs import TINY_GENERATOR, model_config, trainable_models


def tiny_generator(model: str, scale: int) -> nn.Module:
    """The generator of model config `model` at `scale`, shrunk by the tests' rule (tests/configs.py)."""
    config = OmegaConf.to_container(model_config(model).generator)
    config.update({key: value for key, value in TINY_GENERATOR.items() if key in config}, scale=scale)
    return instantiate(config)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("model", trainable_models())
def test_generator_shape_finite_and_gradient(model: str, scale: int) -> None:
    generator = tiny_generator(model, scale)
    lr = torch.rand(2, 3, 7, 9)
    sr = generator(lr)
    assert sr.shape == (2, 3, 7 * scale, 9 * scale)
    assert torch.isfinite(sr).all()
    params = list(generator.parameters())
    sr.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    assert any(p.grad.abs().sum() > 0 for p in params)


@pytest.mark.parametrize("in_channels, kernel", [(1, 1), (3, 5)], ids=["915_y", "955_rgb"])
def test_srcnn_variants_shape(in_channels: int, kernel: int) -> None:
    model = SRCNN(in_channels, num_features=8, mid_features=4, mid_kernel_size=kernel, scale=3)
    assert model(torch.rand(2, 3, 7, 9)).shape == (2, 3, 21, 27)


def test_bicubic_generator_has_no_parameters() -> None:
    assert list(Bicubic(scale=2).parameters()) == [] and Bicubic(scale=2)(torch.rand(1, 3, 4, 5)).shape == (1, 3, 8, 10)


# The published key layouts, which shipped weights and foreign files are stored under (one block, x4).
SRRESNET_KEYS = [
    "head.0.weight", "head.0.bias", "head.1.weight",
    *(f"blocks.0.body.{i}.{k}" for i, ks in ((0, "wb"), (1, "bn"), (2, "w"), (3, "wb"), (4, "bn"))
      for k in {"wb": ["weight", "bias"], "w": ["weight"],
                "bn": ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]}[ks]),
    "trunk_end.0.weight", "trunk_end.0.bias",
    *(f"trunk_end.1.{k}" for k in ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]),
    "upsample.0.0.weight", "upsample.0.0.bias", "upsample.0.2.weight",
    "upsample.1.0.weight", "upsample.1.0.bias", "upsample.1.2.weight",
    "tail.weight", "tail.bias",
]  # fmt: skip
RRDBNET_KEYS = [
    "conv_first.weight", "conv_first.bias",
    *(f"body.0.body.{d}.{layer}.{k}" for d in range(3)
      for layer in ["convs.0", "convs.1", "convs.2", "convs.3", "fuse"] for k in ["weight", "bias"]),
    *(f"{name}.{k}" for name in ["conv_body", "conv_up.0", "conv_up.1", "conv_hr", "conv_last"] for k in ["weight", "bias"]),
]  # fmt: skip


def test_shared_blocks_keep_the_published_state_dict_keys() -> None:
    assert list(SRResNet(num_features=8, num_blocks=1, scale=4).state_dict()) == SRRESNET_KEYS
    assert list(RRDBNet(num_features=8, num_blocks=1, growth_channels=4, scale=4).state_dict()) == RRDBNET_KEYS


def test_residual_block_without_batch_norm_scales_its_residual() -> None:
    block = ResidualBlock(4, batch_norm=False, activation=nn.ReLU, res_scale=0.1)
    assert [type(m) for m in block.body] == [nn.Conv2d, nn.ReLU, nn.Conv2d]
    x = torch.rand(1, 4, 5, 5)
    torch.testing.assert_close(block(x), x + 0.1 * block.body(x))
    assert [type(m) for m in subpixel_upsampler(4, 3, activation=None)[0]] == [nn.Conv2d, nn.PixelShuffle]


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (lambda: SRCNN(1, mid_kernel_size=1), 8_129),  # SRCNN 9-1-5 on Y
        (lambda: SRCNN(1, mid_kernel_size=5), 57_281),  # SRCNN 9-5-5 on Y
        # 9x9 head + 16 blocks + conv-BN + 2 sub-pixel stages + 9x9 tail, one PReLU slope each: "about 1.55 M".
        (lambda: SRResNet(scale=4), 1_549_462),
        (lambda: RRDBNet(scale=4), 16_697_987),
        (lambda: VGGStyleDiscriminator(input_size=128), 14_499_401),
        (lambda: SRGANDiscriminator(input_size=96), 23_563_649),
    ],
    ids=["srcnn_915", "srcnn_955", "srresnet_x4", "rrdbnet_x4", "vgg_style_d", "srgan_d"],
)
def test_paper_parameter_counts(factory: Callable[[], nn.Module], expected: int) -> None:
    assert count_parameters(factory()) == expected


def test_paper_rounded_sizes() -> None:
    assert round(count_parameters(SRResNet(scale=4)) / 1e6, 2) == 1.55
    assert round(count_parameters(SRGANDiscriminator(input_size=96)) / 1e6, 1) == 23.6


def test_srresnet_x3_uses_one_x3_subpixel_stage() -> None:
    model = SRResNet(scale=3)
    convs = [stage[0] for stage in model.upsample]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(64, 576)]
    assert [stage[1].upscale_factor for stage in model.upsample] == [3]


@pytest.mark.parametrize(
    ("factory", "size"),
    [
        (lambda: SRGANDiscriminator(num_features=4, input_size=32, dense_features=8), 32),
        (lambda: VGGStyleDiscriminator(num_features=4, input_size=64, dense_features=8), 64),
        (lambda: SRGANDiscriminator(), 96),
        (lambda: VGGStyleDiscriminator(), 128),
    ],
    ids=["srgan_tiny", "vgg_tiny", "srgan_full", "vgg_full"],
)
def test_discriminator_logits_shape(factory: Callable[[], nn.Module], size: int) -> None:
    model = factory()
    logits = model(torch.rand(2, 3, size, size))
    assert logits.shape == (2, 1)
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("cls", [SRGANDiscriminator, VGGStyleDiscriminator])
def test_discriminator_rejects_wrong_input_size(cls: type[nn.Module]) -> None:
    model = cls(num_features=4, input_size=64, dense_features=8)
    with pytest.raises(SISRError, match=rf"{cls.__name__} was built for 64x64 inputs, got 32x32"):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(SISRError, match=rf"{cls.__name__} needs an input_size divisible by"):
        cls(input_size=100)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (SRResNet, "SRResNet supports scale 2, 3, 4 or 8, got 5; set data.scale to one of them."),
        (RRDBNet, "RRDBNet supports scale 2, 3, 4 or 8, got 5; set data.scale to one of them."),
    ],
)
def test_unsupported_scale_fixed_upsamplers(cls: type[nn.Module], message: str) -> None:
    with pytest.raises(SISRError) as info:
        cls(num_features=4, num_blocks=1, scale=5)
    assert str(info.value) == message


@pytest.mark.parametrize("cls", [SRCNN, Bicubic])
@pytest.mark.parametrize("scale", [1, 0, 2.5])
def test_unsupported_scale_bicubic_based(cls: type[nn.Module], scale: float) -> None:
    with pytest.raises(SISRError, match=rf"^{cls.__name__} supports any integer scale >= 2, got {scale}; "):
        cls(scale=scale)


def test_srcnn_rejects_bad_channels() -> None:
    with pytest.raises(SISRError, match="SRCNN needs in_channels = out_channels"):
        SRCNN(in_channels=1, out_channels=3)


def test_ycbcr_matches_bt601_and_round_trips() -> None:
    rgb = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    ycbcr = rgb_to_ycbcr(rgb)
    r, g, b = (rgb[:, i] * 255 for i in range(3))
    torch.testing.assert_close(ycbcr[:, 0] * 255, 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255)
    # Black and white map to the studio-range ends, grey has neutral chroma.
    corners = rgb_to_ycbcr(torch.tensor([0.0, 1.0], dtype=torch.float64).view(2, 1, 1, 1).expand(2, 3, 1, 1))
    torch.testing.assert_close(corners.flatten() * 255, torch.tensor([16, 128, 128, 235, 128, 128.0]).double())
    torch.testing.assert_close(ycbcr_to_rgb(ycbcr), rgb)


def _make_srcnn_identity(model: SRCNN) -> None:
    """Set centre taps so the conv stack copies its input channels (where non-negative) to the output."""
    with torch.no_grad():
        for conv in (model.extract, model.mapping, model.reconstruct):
            conv.weight.zero_()
            conv.bias.zero_()
            k = conv.kernel_size[0] // 2
            for c in range(model.in_channels):
                conv.weight[c, c, k, k] = 1.0


def test_srcnn_y_mode_changes_only_luma() -> None:
    model = SRCNN(1, num_features=8, mid_features=4, mid_kernel_size=5, scale=3)
    lr = torch.rand(1, 3, 6, 5)
    bicubic = imresize(lr, scale=3)
    with torch.no_grad():
        out_ycbcr, bic_ycbcr = rgb_to_ycbcr(model(lr)), rgb_to_ycbcr(bicubic)
    torch.testing.assert_close(out_ycbcr[:, 1:], bic_ycbcr[:, 1:], rtol=0, atol=1e-5)
    assert (out_ycbcr[:, :1] - bic_ycbcr[:, :1]).abs().max() > 1e-2  # random weights do change Y


@pytest.mark.parametrize("in_channels", [1, 3])
def test_srcnn_identity_weights_give_bicubic(in_channels: int) -> None:
    # The paper's SRCNN predicts the HR Y itself (no global residual), so the pass-through weights are
    # centre-tap identities. Pixels in [0.25, 0.75] keep the bicubic overshoot positive, so the ReLUs pass it.
    model = SRCNN(in_channels, num_features=8, mid_features=4, mid_kernel_size=5, scale=2)
    _make_srcnn_identity(model)
    lr = 0.25 + 0.5 * torch.rand(2, 3, 8, 7)
    with torch.no_grad():
        # Y mode goes RGB -> YCbCr -> RGB through float32 3x3 matrices (einsum, BLAS): a few float32 ulps that vary
        # with the CPU's kernels (2.4e-7 seen); 1e-5 leaves room and is still 400 times below one uint8 level.
        torch.testing.assert_close(model(lr), imresize(lr, scale=2), rtol=0, atol=1e-5)


def test_bicubic_model_is_imresize() -> None:
    lr = torch.rand(1, 3, 5, 4)
    assert torch.equal(Bicubic(scale=4, uint8=False)(lr), imresize(lr, scale=4))


def test_bicubic_model_matches_matlab_on_uint8_images() -> None:
    from sisr.protocol.imresize import bicubic_upscale

    lr = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    expected = torch.from_numpy(bicubic_upscale(lr, 3)).permute(2, 0, 1).double() / 255
    out = Bicubic(scale=3)(torch.from_numpy(lr).permute(2, 0, 1).double().unsqueeze(0) / 255)
    # Exact on any CPU: both paths round to uint8 levels, and no value of this input comes within 0.018 of a
    # rounding tie, while float64 kernel differences between CPUs are about 1e-13.
    assert torch.equal(torch.round(out[0] * 255), torch.round(expected * 255))


def test_default_init_weights_scales_kaiming() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(64, 64, 3)
    default_init_weights(conv, scale=0.1, bias_fill=0.5)
    expected_std = 0.1 * (2.0 / (64 * 9)) ** 0.5  # kaiming normal, fan_in, gain sqrt(2), times 0.1
    assert conv.weight.std().item() == pytest.approx(expected_std, rel=0.05)
    assert torch.equal(conv.bias, torch.full((64,), 0.5))


def test_colour_constants_cached_under_inference_mode_still_train() -> None:
    # An evaluation (inference mode) and then a training step in one process: the cached constants must be usable
    # by autograd whichever came first.
    model = SRCNN(1, num_features=4, mid_features=4, scale=2)
    lr = torch.rand(1, 3, 6, 6, dtype=torch.float32)
    with torch.inference_mode():
        model(lr)
    model(lr).mean().backward()
    assert model.extract.weight.grad is not None
