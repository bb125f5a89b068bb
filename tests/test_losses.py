"""Pixel, perceptual (VGG19) and adversarial losses checked against values computed by hand; VGG weights loading."""

from __future__ import annotations

import math
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models import vgg19

from sisr.plumbing.errors import SISRError
from sisr.losses import AdversarialLoss, PerceptualLoss, PixelLoss
from sisr.losses.vgg import IMAGENET_WEIGHTS, RANDOM_INIT_FOR_TESTS, VGG19Features, imagenet_cache_path, vgg19_layer_indices

IMAGENET_MEAN = [0.485, 0.456, 0.406]  # torchvision's ImageNet preprocessing, written out by hand
IMAGENET_STD = [0.229, 0.224, 0.225]


pytestmark = pytest.mark.usefixtures("single_thread")


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def random_vgg19_features() -> nn.Sequential:
    """torchvision's VGG19 convolution stack with random weights, built without its 120 M-weight classifier."""
    with torch.device("meta"):
        features = vgg19(weights=None).features
    features = features.to_empty(device="cpu")
    for layer in features:
        if isinstance(layer, nn.Conv2d):
            layer.reset_parameters()
    return features


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    """A random vgg19 state_dict (the `features.N.*` entries, as torchvision names them)."""
    torch.manual_seed(1)
    return {f"features.{key}": value for key, value in random_vgg19_features().state_dict().items()}


@pytest.fixture()
def vgg_file(tmp_path: Path, vgg_state: dict[str, torch.Tensor]) -> Path:
    path = tmp_path / "vgg19.pth"
    torch.save(vgg_state, path)
    return path


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every download attempt fail (and record it), like an offline machine."""
    attempts: list[str] = []

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        attempts.append(str(getattr(url, "full_url", url)))
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return attempts


# ----------------------------------------------------------------------------------------------- pixel
def test_pixel_loss_l1_and_mse_by_hand() -> None:
    sr = torch.tensor([0.0, 0.5, 1.0, 0.25]).view(1, 1, 2, 2)
    hr = torch.tensor([0.5, 0.5, 0.0, 1.0]).view(1, 1, 2, 2)
    # |diffs| = 0.5, 0, 1, 0.75
    assert PixelLoss("l1")(sr, hr).item() == pytest.approx((0.5 + 0 + 1 + 0.75) / 4)
    assert PixelLoss("mse")(sr, hr).item() == pytest.approx((0.25 + 0 + 1 + 0.5625) / 4)


@pytest.mark.parametrize("make", [lambda: PixelLoss("l2"), lambda: PerceptualLoss({"conv1_1": 1.0}, criterion="huber")])
def test_unknown_criterion_names_key_and_choices(make) -> None:
    with pytest.raises(SISRError, match=r"criterion.*l1, mse"):
        make()


# ----------------------------------------------------------------------------------------------- adversarial
REAL = [2.0, 0.0]
FAKE = [-1.0, 1.0]


def test_vanilla_gan_losses_by_hand() -> None:
    loss = AdversarialLoss("vanilla")
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
    d_expected = (softplus(-2.0) + softplus(0.0)) / 2 + (softplus(-1.0) + softplus(1.0)) / 2
    g_expected = (softplus(1.0) + softplus(-1.0)) / 2  # -log D(G(z)) with the fake logits -1 and 1
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(d_expected)
    assert loss.generator_loss(fake).item() == pytest.approx(g_expected)


def test_relativistic_average_losses_by_hand() -> None:
    loss = AdversarialLoss("relativistic_average")
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    mean_real, mean_fake = sum(REAL) / 2, sum(FAKE) / 2  # 1.0 and 0.0
    real_rel = [r - mean_fake for r in REAL]  # C(x_r) - E[C(x_f)] = 2, 0
    fake_rel = [f - mean_real for f in FAKE]  # C(x_f) - E[C(x_r)] = -2, 0
    # L_D = -E[log D_Ra(x_r, x_f)] - E[log(1 - D_Ra(x_f, x_r))]
    d_expected = sum(softplus(-x) for x in real_rel) / 2 + sum(softplus(x) for x in fake_rel) / 2
    # L_G = -E[log(1 - D_Ra(x_r, x_f))] - E[log D_Ra(x_f, x_r)]: both real and fake terms
    g_expected = sum(softplus(x) for x in real_rel) / 2 + sum(softplus(-x) for x in fake_rel) / 2
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(d_expected)
    assert loss.generator_loss(fake, real).item() == pytest.approx(g_expected)
    with pytest.raises(ValueError, match="real images"):
        loss.generator_loss(fake)


@pytest.mark.parametrize("kind", ["vanilla", "relativistic_average"])
def test_adversarial_losses_are_stable_for_huge_logits(kind: str) -> None:
    loss = AdversarialLoss(kind)
    real = torch.tensor([1000.0, -1000.0], requires_grad=True)
    fake = torch.tensor([-1000.0, 1000.0], requires_grad=True)
    total = loss.discriminator_loss(real, fake) + loss.generator_loss(fake, real)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()
    # -log sigmoid(-1000) = 1000 exactly in floating point: no log(0)
    assert AdversarialLoss("vanilla").generator_loss(torch.tensor([-1000.0])).item() == pytest.approx(1000.0)


def test_unknown_adversarial_kind_names_key() -> None:
    with pytest.raises(SISRError, match=r"`kind`.*vanilla, relativistic_average"):
        AdversarialLoss("wgan")


# ----------------------------------------------------------------------------------------------- VGG layers
def test_layer_names_follow_the_paper() -> None:
    indices = vgg19_layer_indices()
    assert len(indices) == 16 and list(indices)[:3] == ["conv1_1", "conv1_2", "conv2_1"]
    assert indices["conv1_1"] == 0 and indices["conv2_1"] == 5 and indices["conv5_4"] == 34


def test_layer_cut_before_and_after_activation() -> None:
    before = VGG19Features(["conv5_4"], before_activation=True, weights=RANDOM_INIT_FOR_TESTS)
    after = VGG19Features(["conv5_4"], before_activation=False, weights=RANDOM_INIT_FOR_TESTS)
    assert len(before.body) == 35 and isinstance(before.body[-1], nn.Conv2d)  # index 34 = conv5_4
    assert len(after.body) == 36 and isinstance(after.body[-1], nn.ReLU)  # index 35 = its ReLU
    shallow = VGG19Features(["conv1_1", "conv2_2"], before_activation=True, weights=RANDOM_INIT_FOR_TESTS)
    assert len(shallow.body) == 8  # built only up to conv2_2 (index 7)
    img = torch.rand(1, 3, 16, 16)
    features = shallow(img)
    assert set(features) == {"conv1_1", "conv2_2"}
    assert features["conv1_1"].shape == (1, 64, 16, 16) and features["conv2_2"].shape == (1, 128, 8, 8)
    # before the ReLU there are negative values (an in-place ReLU must not have overwritten them)
    assert (features["conv1_1"] < 0).any()
    assert (after(torch.rand(1, 3, 32, 32))["conv5_4"] >= 0).all()


def test_unknown_layer_is_reported() -> None:
    with pytest.raises(SISRError, match=r"conv6_1.*layer_weights.*conv1_1"):
        VGG19Features(["conv6_1"], weights=RANDOM_INIT_FOR_TESTS)


def test_imagenet_normalisation() -> None:
    """An image equal to the ImageNet mean normalises to zeros, so conv1_1 before its ReLU outputs its bias."""
    vgg = VGG19Features(["conv1_1"], before_activation=True, weights=RANDOM_INIT_FOR_TESTS)
    img = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    out = vgg(img)["conv1_1"]
    bias = vgg.body[0].bias.view(1, 64, 1, 1).expand_as(out)
    torch.testing.assert_close(out, bias, atol=1e-6, rtol=0)
    # and one standard deviation above the mean in every channel normalises to ones
    ones_img = (torch.tensor(IMAGENET_MEAN) + torch.tensor(IMAGENET_STD)).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    conv = vgg.body[0]
    expected = nn.functional.conv2d(torch.ones(1, 3, 8, 8), conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(vgg(ones_img)["conv1_1"], expected, atol=1e-5, rtol=1e-5)


def test_vgg_is_frozen_and_stays_in_eval_mode() -> None:
    loss = PerceptualLoss({"conv2_2": 1.0}, weights=RANDOM_INIT_FOR_TESTS)
    parent = nn.ModuleDict({"perceptual": loss})
    parent.train()
    assert not loss.vgg.training and not any(m.training for m in loss.vgg.modules())
    assert not any(p.requires_grad for p in loss.parameters())
    sr = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss(sr, torch.rand(1, 3, 16, 16)).backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_vgg_weights_stay_out_of_state_dicts() -> None:
    loss = PerceptualLoss({"conv1_2": 1.0}, weights=RANDOM_INIT_FOR_TESTS)
    weight = loss.vgg.body[0].weight.clone()
    assert loss.state_dict() == {}
    parent = nn.ModuleDict({"net": nn.Linear(2, 2), "perceptual": loss})
    assert set(parent.state_dict()) == {"net.weight", "net.bias"}
    parent.load_state_dict(parent.state_dict(), strict=True)  # no missing-key error, VGG weights kept
    assert torch.equal(loss.vgg.body[0].weight, weight)


# ----------------------------------------------------------------------------------------------- weights
def test_weights_from_local_file(vgg_file: Path, vgg_state: dict[str, torch.Tensor]) -> None:
    vgg = VGG19Features(["conv5_4"], before_activation=True, weights=str(vgg_file))
    for key, value in vgg.body.state_dict().items():
        assert torch.equal(value, vgg_state[f"features.{key}"]), key


def test_missing_local_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.pth"
    with pytest.raises(SISRError, match=f"{path}.*does not exist"):
        VGG19Features(["conv1_1"], weights=str(path))


def test_incomplete_local_file_is_reported(tmp_path: Path, vgg_state: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in vgg_state.items() if k.startswith(("features.0.", "features.2."))}, path)
    VGG19Features(["conv1_2"], weights=str(path))  # enough for conv1_2
    with pytest.raises(SISRError, match=rf"{path} lacks VGG19 feature weights such as features\.5\.weight"):
        VGG19Features(["conv2_1"], weights=str(path))


def test_offline_without_cache_fails_with_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert imagenet_cache_path() == cached
    with pytest.raises(SISRError) as error:
        VGG19Features(["conv5_4"], weights="imagenet")
    message = str(error.value)
    assert "\n" not in message and message.endswith(".")
    assert IMAGENET_WEIGHTS.url in message and str(cached) in message
    assert "model.perceptual_loss.weights=" in message
    assert not cached.exists()


def test_imagenet_weights_load_from_the_hub_cache_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str], vgg_state: dict[str, torch.Tensor]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = imagenet_cache_path()
    cached.parent.mkdir(parents=True)
    torch.save(vgg_state, cached)
    vgg = VGG19Features(["conv3_1"], weights="imagenet")
    assert no_network == []
    assert torch.equal(vgg.body[10].weight, vgg_state["features.10.weight"])


def test_random_init_only_when_asked_and_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="sisr.losses.vgg"):
        VGG19Features(["conv1_1"], weights=RANDOM_INIT_FOR_TESTS)
    assert "RANDOMLY initialised" in caplog.text and "tests only" in caplog.text
    with pytest.raises(SISRError, match="does not exist"):
        VGG19Features(["conv1_1"], weights="random")  # anything else is a path, never a silent random init


# ----------------------------------------------------------------------------------------------- perceptual
@pytest.mark.parametrize("criterion", ["mse", "l1"])
def test_perceptual_loss_matches_a_reference_computed_here(criterion: str, vgg_file: Path, vgg_state) -> None:
    layer_weights = {"conv2_2": 0.5, "conv3_1": 2.0}
    scale = 1 / 12.75
    loss = PerceptualLoss(
        layer_weights, before_activation=False, criterion=criterion, feature_scale=scale, weights=str(vgg_file)
    )

    reference = random_vgg19_features()[:12]  # up to conv3_1's ReLU (index 11)
    reference.load_state_dict(
        {k.removeprefix("features."): v for k, v in vgg_state.items() if int(k.split(".")[1]) < 12}
    )
    torch.manual_seed(3)
    sr, hr = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def relu_features(img: torch.Tensor, index: int) -> torch.Tensor:
        return reference[: index + 1]((img - mean) / std)

    distance = (lambda a, b: (a - b).pow(2).mean()) if criterion == "mse" else (lambda a, b: (a - b).abs().mean())
    expected = 0.5 * distance(scale * relu_features(sr, 8), scale * relu_features(hr, 8)) + 2.0 * distance(
        scale * relu_features(sr, 11), scale * relu_features(hr, 11)
    )
    torch.testing.assert_close(loss(sr, hr), expected, rtol=1e-5, atol=1e-7)
    assert loss(hr, hr).item() == 0.0


def test_feature_scale_scales_the_loss() -> None:
    torch.manual_seed(4)
    sr, hr = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    for criterion, power in (("mse", 2), ("l1", 1)):
        torch.manual_seed(5)
        plain = PerceptualLoss({"conv1_2": 1.0}, criterion=criterion, weights=RANDOM_INIT_FOR_TESTS)
        torch.manual_seed(5)
        scaled = PerceptualLoss({"conv1_2": 1.0}, criterion=criterion, feature_scale=0.1, weights=RANDOM_INIT_FOR_TESTS)
        # Scaling before vs after a float32 mean over 16k features: ~1e-7 apart, varying with the CPU's reduction order.
        torch.testing.assert_close(scaled(sr, hr), 0.1**power * plain(sr, hr), rtol=1e-5, atol=1e-8)


def test_pixel_loss_on_y_ignores_chroma_errors() -> None:
    from sisr.protocol.color import rgb_to_ycbcr, ycbcr_to_rgb

    hr = torch.rand(2, 3, 8, 8)
    ycbcr = rgb_to_ycbcr(hr)
    chroma_shifted = ycbcr_to_rgb(torch.cat([ycbcr[:, :1], ycbcr[:, 1:] + 0.05], dim=1))
    assert PixelLoss("mse", channel="y")(chroma_shifted, hr).item() == pytest.approx(0.0, abs=1e-12)
    assert PixelLoss("mse", channel="rgb")(chroma_shifted, hr).item() > 1e-4
    luma_shifted = ycbcr_to_rgb(torch.cat([ycbcr[:, :1] + 0.1, ycbcr[:, 1:]], dim=1))
    assert PixelLoss("mse", channel="y")(luma_shifted, hr).item() == pytest.approx(0.01, rel=1e-5)


def test_pixel_loss_rejects_an_unknown_channel() -> None:
    with pytest.raises(SISRError, match="`channel`"):
        PixelLoss("l1", channel="lab")


def test_a_vgg_file_holding_a_pickled_model_is_our_sentence_only(tmp_path: Path) -> None:
    path = tmp_path / "whole_model.pth"
    torch.save(nn.Linear(2, 2), path)  # a module, not a state_dict: weights_only=True refuses it
    with pytest.raises(SISRError) as caught:
        VGG19Features(["conv1_1"], weights=str(path))
    message = str(caught.value)
    assert message.startswith(f"could not read VGG19 weights from {path} (it holds Python objects")
    assert "weights_only" not in message and "\n" not in message
