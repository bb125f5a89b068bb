"""ONNX export of a generator with dynamic batch, height and width (`python -m sisr.export format=onnx`).

Exporter: `torch.onnx.export(..., dynamo=True)`, the torch.export-based exporter that torch 2.9+ use by default; it
needs `onnxscript` (pure Python, from PyPI). The older TorchScript exporter (`dynamo=False`) also works offline
with torch 2.14 but warns that it will be removed, so it is not used. Opset `ONNX_OPSET` (18) is the one the
exporter's operator library is written in, so no version conversion runs; onnxruntime has run it since 1.14.

SRCNN upscales with MATLAB bicubic (`sisr.protocol.imresize`), whose tables are built in Python for each input size and
would be frozen into the graph at the example's size. For export it is replaced by the same kernel written as
shape-independent operations (`MatlabBicubicUpsample`: edge-replicating pad, one convolution per output phase,
interleave), equal to `imresize` up to float rounding.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sisr.models.srcnn import SRCNN
from sisr.plumbing.errors import SISRError
from sisr.protocol.color import rgb_to_ycbcr, ycbcr_to_rgb
from sisr.protocol.imresize import contributions
from sisr.weights.safetensors_files import encode_metadata

ONNX_OPSET = 18
INPUT_NAME, OUTPUT_NAME = "lr", "sr"
_TAPS = 5  # upscaling bicubic reads input offsets -2..2 around each output pixel's source (at most 4 non-zero)
_EXAMPLE_SIDE = 24  # side of the example input the graph is traced with (any size >= 2 works)


def phase_kernels(scale: int) -> Tensor:
    """(scale, 5) float64 weights: output pixel `i * scale + r` is sum_k w[r, k] * input[i + k - 2], taken from
    `sisr.protocol.imresize.contributions` at an interior position, so the kernel is MATLAB's exactly."""
    inner = 8
    indices, weights = contributions(2 * inner, 2 * inner * scale, float(scale))
    kernels = torch.zeros(scale, _TAPS, dtype=torch.float64)
    for phase in range(scale):
        row = inner * scale + phase
        kernels[phase].index_add_(0, indices[row] - inner + _TAPS // 2, weights[row])
    return kernels


class MatlabBicubicUpsample(nn.Module):
    """MATLAB `imresize(x, scale, 'bicubic')` for an integer upscale, as traceable tensor operations.

    Args:
        scale: integer upscaling factor.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = int(scale)
        kernels = phase_kernels(self.scale).float()
        self.register_buffer("rows", kernels[:, None, :, None].clone(), persistent=False)
        self.register_buffer("cols", kernels[:, None, None, :].clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        s = self.scale
        x = x.reshape(n * c, 1, h, w)
        # Rows first, as MATLAB does when both scales are equal; edge replication is MATLAB's border rule.
        x = F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), self.rows.to(x.dtype))  # (nc, s, h, w)
        x = x.permute(0, 2, 1, 3).reshape(n * c, 1, h * s, w)
        x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), self.cols.to(x.dtype))  # (nc, s, h*s, w)
        return x.permute(0, 2, 3, 1).reshape(n, c, h * s, w * s)


class SRCNNGraph(nn.Module):
    """`SRCNN.forward` with the traceable bicubic upsampling (same weights, same output).

    Args:
        srcnn: the trained network.
    """

    def __init__(self, srcnn: SRCNN) -> None:
        super().__init__()
        self.srcnn = srcnn
        self.upsample = MatlabBicubicUpsample(srcnn.scale)

    def forward(self, lr: Tensor) -> Tensor:
        upscaled = self.upsample(lr)
        if self.srcnn.in_channels == 3:
            return self.srcnn.body(upscaled)
        ycbcr = rgb_to_ycbcr(upscaled)
        return ycbcr_to_rgb(torch.cat([self.srcnn.body(ycbcr[:, :1]), ycbcr[:, 1:]], dim=1))


def exportable(generator: nn.Module) -> nn.Module:
    """The module to trace: `generator` itself, or its traceable equivalent when its forward builds size tables."""
    return SRCNNGraph(generator) if isinstance(generator, SRCNN) else generator


def export_onnx(generator: nn.Module, path: Path, in_channels: int, metadata: dict[str, Any]) -> None:
    """Write `generator` as ONNX (input `lr`, output `sr`, float32 in [0, 1], dynamic batch/height/width).

    Args:
        generator: the network, in eval mode, on the CPU.
        path: the .onnx file.
        in_channels: image channels the network takes.
        metadata: written into the model's `metadata_props` (values JSON-encoded unless strings, `encode_metadata`).
    """
    import onnx
    from torch.export import Dim

    example = torch.rand(2, in_channels, _EXAMPLE_SIDE, _EXAMPLE_SIDE)
    dims = ({0: Dim("batch"), 2: Dim("height"), 3: Dim("width")},)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter about its own internals
            torch.onnx.export(
                exportable(generator).eval(), (example,), str(path), dynamo=True, opset_version=ONNX_OPSET,
                input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=dims, external_data=False,
            )
    except ImportError as exc:
        raise SISRError("format=onnx needs onnx and onnxscript; pip install onnx onnxscript onnxruntime.") from exc
    model = onnx.load(str(path))
    for key, value in encode_metadata(metadata).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
