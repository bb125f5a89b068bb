"""Tiled inference and x8 self-ensemble."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sisr.inference.tiling import _dihedral, _inverse_dihedral, self_ensemble, super_resolve, tiled_forward
from sisr.models.bicubic import Bicubic
from sisr.models.rrdbnet import RRDBNet
from sisr.models.srresnet import SRResNet


@pytest.mark.parametrize("index", range(8))
def test_dihedral_transforms_invert(index: int) -> None:
    x = torch.rand(1, 3, 5, 7)
    assert torch.equal(_inverse_dihedral(_dihedral(x, index), index), x)


def test_dihedral_transforms_are_distinct() -> None:
    x = torch.rand(1, 1, 4, 4)
    outputs = {tuple(_dihedral(x, index).flatten().tolist()) for index in range(8)}
    assert len(outputs) == 8


def test_self_ensemble_equals_plain_output_for_an_equivariant_model() -> None:
    # MATLAB bicubic upscaling uses a symmetric kernel and centred pixels: flips and rotations commute with it.
    model = Bicubic(scale=3, uint8=False)
    lr = torch.rand(1, 3, 11, 9, dtype=torch.float64)
    assert torch.allclose(self_ensemble(model, lr), model(lr), atol=1e-12)


def test_self_ensemble_changes_a_non_equivariant_model() -> None:
    model = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.Upsample(scale_factor=2)).eval()
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        plain, ensembled = model(lr), self_ensemble(model, lr)
    assert ensembled.shape == plain.shape
    assert not torch.allclose(ensembled, plain, atol=1e-4)


@pytest.mark.parametrize(
    "model, scale",
    [
        (SRResNet(num_features=8, num_blocks=2, scale=2), 2),
        (RRDBNet(num_features=8, num_blocks=1, growth_channels=4, scale=4), 4),
    ],
    ids=["srresnet", "rrdbnet"],
)
def test_tiled_output_matches_untiled_within_one_level(model: nn.Module, scale: int) -> None:
    model.eval()
    lr = torch.rand(1, 3, 45, 38)
    with torch.no_grad():
        whole = model(lr)
        tiled = tiled_forward(model, lr, scale, tile_size=16, tile_overlap=12)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max().item() < 1 / 255


def test_tiled_forward_runs_the_model_on_small_pieces() -> None:
    seen: list[tuple[int, int]] = []

    def model(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape[-2:]))
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    lr = torch.rand(1, 3, 40, 40)
    out = tiled_forward(model, lr, 2, tile_size=16, tile_overlap=4)
    assert torch.equal(out, model(lr))
    assert max(h for h, _ in seen[:-1]) <= 16 + 2 * 4


def test_super_resolve_combines_tiling_and_ensemble() -> None:
    model = Bicubic(scale=2, uint8=False)
    lr = torch.rand(1, 3, 30, 30, dtype=torch.float64)
    out = super_resolve(model, lr, 2, ensemble=True, tile_size=64)
    assert torch.allclose(out, model(lr), atol=1e-12)


def test_tile_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="tile_size"):
        tiled_forward(Bicubic(scale=2), torch.rand(1, 3, 8, 8), 2, tile_size=0)


def test_large_images_are_tiled_automatically() -> None:
    shapes: list[tuple[int, int]] = []

    def model(x: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(x.shape[-2:]))
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    lr = torch.rand(1, 3, 50, 50)
    out = super_resolve(model, lr, 2, max_pixels=400, tile_overlap=2)
    assert torch.equal(out, lr.repeat_interleave(2, -1).repeat_interleave(2, -2))
    assert max(h * w for h, w in shapes) <= (20 + 4) ** 2
    shapes.clear()
    super_resolve(model, lr, 2, max_pixels=50 * 50)
    assert shapes == [(50, 50)]
