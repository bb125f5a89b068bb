"""`sisr.export`: ONNX with dynamic shapes matching PyTorch through onnxruntime, safetensors with the metadata in
its header, state_dict with `<file>.json`; several exports share a folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image

from sisr.plumbing.cli import to_container
from sisr.plumbing.errors import SISRError
from sisr.export import export
from sisr.weights.onnx import ONNX_OPSET
from sisr.plumbing.provenance import config_hash
from sisr.weights.loading import load_weights
from sisr.weights.safetensors_files import read_safetensors_metadata
from tests.conftest import SMOKE_OVERRIDES
from tests.configs import trainable_models, tiny_overrides

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def write_checkpoint(compose_train, model: str, run_dir: Path, ema: bool = False) -> tuple[Path, torch.nn.Module]:
    """A sisr checkpoint (the keys `sisr.train` saves) of a random tiny generator, in a run folder with metrics.json.

    Returns the checkpoint and the generator whose weights inference should use (the EMA copy when `ema`)."""
    cfg = compose_train([f"model={model}", *SMOKE_OVERRIDES, *tiny_overrides(model)])
    config = to_container(cfg)
    generator = instantiate(cfg.model.generator).eval()
    state = {f"generator.{k}": v for k, v in generator.state_dict().items()}
    if ema:
        generator = instantiate(cfg.model.generator).eval()  # other random weights: the EMA copy
        state |= {f"ema.module.{k}": v for k, v in generator.state_dict().items()}
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"state_dict": state, "sisr_config": config}, checkpoint)
    metrics = {"config_hash": config_hash(config), "test": {"test/Set5/psnr": 21.5}, "val": {"val/psnr": 20.0}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return checkpoint, generator


def run_export(compose_train, checkpoint: Path, fmt: str, output: Path, run: str = "export") -> dict:
    return export(compose_train([f"ckpt_path={checkpoint}", f"format={fmt}", f"output={output}"], config_name="export", run=run))


def set5_lr(shared_data_dir: Path) -> list[np.ndarray]:
    files = sorted((shared_data_dir / "benchmark" / "Set5" / "image_SRF_4").glob("*_LR.png"))
    return [np.asarray(Image.open(f).convert("RGB"), dtype=np.float32)[None].transpose(0, 3, 1, 2) / 255 for f in files]


@pytest.mark.parametrize("model", trainable_models())
def test_onnx_export_matches_pytorch_on_set5_with_dynamic_shapes(
    model: str, compose_train, shared_data_dir: Path, tmp_path: Path, single_thread: None
) -> None:
    checkpoint, generator = write_checkpoint(compose_train, model, tmp_path / "run")
    output = tmp_path / "out" / f"{model}.onnx"
    metadata = run_export(compose_train, checkpoint, "onnx", output)

    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    images = set5_lr(shared_data_dir)
    assert len({image.shape for image in images}) > 1  # several sizes through one graph
    batch = np.concatenate([images[0][..., :40, :48], images[1][..., :40, :48]])  # and a batch of two
    for lr in [*images, batch]:
        (sr,) = session.run(None, {"lr": lr})
        with torch.no_grad():
            expected = generator(torch.from_numpy(lr)).numpy()
        assert sr.shape == expected.shape == (lr.shape[0], 3, lr.shape[2] * 4, lr.shape[3] * 4)
        assert np.abs(sr - expected).max() <= 1 / 255

    proto = onnx.load(str(output))
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [ONNX_OPSET]
    props = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(props["onnx_opset"]) == ONNX_OPSET == metadata["onnx_opset"]
    assert json.loads(props["scale"]) == 4
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] and dims[2] and dims[3] and dims[1] == ""  # symbolic batch, height, width; 3 channels fixed


def test_state_dict_export_holds_the_ema_generator_and_its_provenance(compose_train, tmp_path: Path) -> None:
    checkpoint, ema_generator = write_checkpoint(compose_train, "rrdb", tmp_path / "run", ema=True)
    output = tmp_path / "out" / "rrdb.pth"
    run_export(compose_train, checkpoint, "state_dict", output)

    metadata = json.loads((output.parent / "rrdb.pth.json").read_text())
    saved = torch.load(checkpoint, weights_only=True)["sisr_config"]
    assert metadata["generator"] == saved["model"]["generator"]
    assert metadata["architecture"] == "RRDBNet" and metadata["scale"] == 4 and metadata["ema"] is True
    assert metadata["channels"] == {"input": 3, "output": 3}
    assert metadata["config_hash"] == json.loads((tmp_path / "run" / "metrics.json").read_text())["config_hash"]
    assert metadata["scores"] == {"test": {"test/Set5/psnr": 21.5}, "val": {"val/psnr": 20.0}}
    assert metadata["layout"] == "basicsr" and metadata["weights_file"] == "rrdb.pth"

    payload = torch.load(output, weights_only=True)
    assert list(payload) == ["params_ema"] and "conv_up1.weight" in payload["params_ema"]  # BasicSR's layout
    loaded = load_weights(output)
    lr = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        assert torch.equal(loaded.generator(lr), ema_generator(lr))


def test_srresnet_state_dict_keeps_our_keys_and_reloads(compose_train, tmp_path: Path) -> None:
    checkpoint, generator = write_checkpoint(compose_train, "srresnet", tmp_path / "run")
    output = tmp_path / "out" / "srresnet.pth"
    run_export(compose_train, checkpoint, "state_dict", output)
    assert set(torch.load(output, weights_only=True)) == set(generator.state_dict())
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_weights(output).generator(lr), generator(lr))


@pytest.mark.parametrize("model", trainable_models())
def test_every_model_round_trips_through_safetensors_with_its_metadata_in_the_header(
    model: str, compose_train, tmp_path: Path
) -> None:
    checkpoint, generator = write_checkpoint(compose_train, model, tmp_path / "run", ema=True)
    output = tmp_path / "out" / f"{model}.safetensors"
    written = run_export(compose_train, checkpoint, "safetensors", output)

    header = read_safetensors_metadata(output)
    saved = torch.load(checkpoint, weights_only=True)["sisr_config"]
    assert header == written and not (tmp_path / "out" / f"{model}.safetensors.json").exists()
    assert header["generator"] == saved["model"]["generator"] and header["ema"] is True
    assert header["architecture"] == type(generator).__name__ and header["scale"] == saved["data"]["scale"]
    assert header["config_hash"] == json.loads((tmp_path / "run" / "metrics.json").read_text())["config_hash"]
    assert header["scores"] == {"test": {"test/Set5/psnr": 21.5}, "val": {"val/psnr": 20.0}}
    loaded = load_weights(output)
    assert loaded.kind == "sisr export" and loaded.from_ema and loaded.scale == header["scale"]
    lr = torch.rand(1, 3, 8, 8)  # every model maps RGB images (SRCNN's Y-channel network too)
    with torch.no_grad():
        assert torch.equal(loaded.generator(lr), generator(lr))


def test_two_exports_share_a_folder_and_load_back_with_their_own_metadata(compose_train, tmp_path: Path) -> None:
    srcnn, srcnn_net = write_checkpoint(compose_train, "srcnn", tmp_path / "run1")
    rrdb, rrdb_net = write_checkpoint(compose_train, "rrdb", tmp_path / "run2")
    out = tmp_path / "out"
    run_export(compose_train, srcnn, "onnx", out / "m.onnx", run="e1")
    run_export(compose_train, rrdb, "state_dict", out / "rrdb.pth", run="e2")
    run_export(compose_train, srcnn, "state_dict", out / "srcnn.pth", run="e3")
    run_export(compose_train, rrdb, "safetensors", out / "rrdb.safetensors", run="e4")

    assert sorted(p.name for p in out.iterdir()) == ["m.onnx", "rrdb.pth", "rrdb.pth.json", "rrdb.safetensors",
                                                     "srcnn.pth", "srcnn.pth.json"]
    props = {p.key: p.value for p in onnx.load(str(out / "m.onnx")).metadata_props}
    assert props["architecture"] == "SRCNN" and props["weights_file"] == "m.onnx"
    lr = torch.rand(1, 3, 8, 8)
    for name, net in [("rrdb.pth", rrdb_net), ("srcnn.pth", srcnn_net), ("rrdb.safetensors", rrdb_net)]:
        loaded = load_weights(out / name)
        assert loaded.metadata["weights_file"] == name and loaded.metadata["architecture"] == type(net).__name__
        with torch.no_grad():
            assert torch.equal(loaded.generator(lr), net(lr))
    sidecar = json.loads((out / "srcnn.pth.json").read_text())
    assert sidecar["sha256"] == hashlib.sha256((out / "srcnn.pth").read_bytes()).hexdigest()


def test_a_legacy_metadata_json_beside_the_weights_is_still_read(compose_train, tmp_path: Path) -> None:
    checkpoint, generator = write_checkpoint(compose_train, "srresnet", tmp_path / "run")
    out = tmp_path / "out"
    run_export(compose_train, checkpoint, "state_dict", out / "g.pth")
    (out / "g.pth.json").rename(out / "metadata.json")  # how exports were described before
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(load_weights(out / "g.pth").generator(lr), generator(lr))
    (out / "other.pth").write_bytes((out / "g.pth").read_bytes())  # metadata.json names g.pth, not this file
    with pytest.raises(SISRError, match="no sisr metadata"):
        load_weights(out / "other.pth")


def test_export_refuses_its_source_and_unknown_formats(compose_train, tmp_path: Path) -> None:
    checkpoint, _ = write_checkpoint(compose_train, "srcnn", tmp_path / "run")
    with pytest.raises(SISRError, match="is the file being exported"):
        run_export(compose_train, checkpoint, "state_dict", checkpoint, run="e2")
    with pytest.raises(SISRError, match="format=tflite is not one of onnx, safetensors, state_dict"):
        run_export(compose_train, checkpoint, "tflite", tmp_path / "out" / "a.pth", run="e3")
