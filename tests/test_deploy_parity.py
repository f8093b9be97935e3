"""The exported graph runs on every Paddle 3.3.1 inference path and matches dygraph.

Each model is exported once per module (PIR json, legacy pdmodel, ONNX from
the json) and every backend runs batch 4 and batch 1 through the same files.
Those tests take ~4 minutes and are marked slow; export mechanics and error
handling use a tiny net and run in the default suite.
"""
import dataclasses
from pathlib import Path

import numpy as np
import paddle
import pytest
from conftest import apply_reference_weights

from ppcls_hrnet.errors import ConfigError
from ppcls_hrnet.runtime.paddle.onnx import ConversionError, convert_to_onnx
from ppcls_hrnet.runtime.model_files import ModelFileError, find_inference_model
from ppcls_hrnet.export import export_inference_model, onnx_op_types
from ppcls_hrnet.runtime.paddle.program import list_op_types
from ppcls_hrnet.models import create_model
from ppcls_hrnet.runtime.engines.base import InputShapeError, ModelLoadError
from ppcls_hrnet.runtime.engines.onnxruntime import OnnxRuntimeEngine
from ppcls_hrnet.runtime.engines.openvino import OpenVINOEngine
from ppcls_hrnet.runtime.paddle.engine import PaddleInferenceEngine

# the real-time family too: every member must deploy everywhere the zoo does
MODELS = ["HRNet_W18_C", "SE_HRNet_W18_C", "HRNet_W18_small_v1", "EffHRNet_H1", "EffHRNet_H2", "EffHRNet_H3", "EffHRNet_H4"]
INPUT_SHAPE = (None, 3, 224, 224)
RTOL = 1e-4  # of max |logits|


@dataclasses.dataclass
class Deployed:
    name: str
    logits: np.ndarray  # dygraph, for reference_inputs
    pir_dir: Path
    legacy_dir: Path
    onnx_file: Path


@pytest.fixture(scope="module", params=MODELS)
def deployed(request, tmp_path_factory, reference_inputs):
    model = apply_reference_weights(create_model(request.param))
    logits = model(paddle.to_tensor(reference_inputs)).numpy()
    root = tmp_path_factory.mktemp(request.param)
    export_inference_model(model, root / "pir", add_softmax=False)
    export_inference_model(model, root / "legacy", add_softmax=False, legacy=True)
    onnx_file = convert_to_onnx(root / "pir", root / "model.onnx")
    return Deployed(request.param, logits, root / "pir", root / "legacy", onnx_file)


BACKENDS = {
    "paddle-pir-onednn": lambda d: PaddleInferenceEngine(d.pir_dir),
    "paddle-legacy-onednn": lambda d: PaddleInferenceEngine(d.legacy_dir),
    "onnxruntime": lambda d: OnnxRuntimeEngine(d.onnx_file),
    "openvino-pdmodel": lambda d: OpenVINOEngine(d.legacy_dir / "inference.pdmodel"),
    "openvino-onnx": lambda d: OpenVINOEngine(d.onnx_file),
}


def assert_close_to_logits(out, logits):
    assert out.shape == logits.shape
    diff = np.abs(out - logits).max()
    assert diff <= RTOL * np.abs(logits).max(), f"max abs diff {diff:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_backend_matches_dygraph(deployed, backend, reference_inputs):
    engine = BACKENDS[backend](deployed)
    assert engine.input_shape == INPUT_SHAPE
    batch4 = engine.run(reference_inputs)
    batch1 = engine.run(reference_inputs[1:2])  # same model, dynamic batch
    # checked after the second run: outputs must not share the engine's buffer
    assert_close_to_logits(batch4, deployed.logits)
    assert_close_to_logits(batch1, deployed.logits[1:2])


@pytest.mark.slow
def test_exported_graph_has_no_interpolate_op(deployed):
    paddle_ops = (list_op_types(find_inference_model(deployed.pir_dir))
                  + list_op_types(find_inference_model(deployed.legacy_dir)))
    assert "conv2d" in paddle_ops
    assert not [op for op in paddle_ops if "interp" in op or "upsample" in op]
    onnx_ops = set(onnx_op_types(deployed.onnx_file))
    assert "Conv" in onnx_ops
    assert not onnx_ops & {"Resize", "Upsample"}


@pytest.mark.slow
def test_export_writes_only_the_model_dirs(deployed):
    root = deployed.pir_dir.parent
    assert sorted(p.name for p in root.iterdir()) == ["legacy", "model.onnx", "pir"]
    assert sorted(p.name for p in deployed.pir_dir.iterdir()) == ["inference.json", "inference.pdiparams"]
    assert "inference.pdmodel" in {p.name for p in deployed.legacy_dir.iterdir()}


@pytest.mark.slow
def test_softmax_export_gives_probabilities(tmp_path, reference_inputs):
    model = apply_reference_weights(create_model("HRNet_W18_small_v1"))
    logits = model(paddle.to_tensor(reference_inputs)).numpy()
    model.train()
    written = export_inference_model(model, tmp_path / "model")
    assert model.training, "export must restore the model's train mode"
    assert written["pir"] == tmp_path / "model" / "inference.json"
    probs = PaddleInferenceEngine(tmp_path / "model").run(reference_inputs)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-6, rtol=1e-4)


# ------------------------------------------------- export mechanics, tiny net


def tiny_model():
    paddle.seed(0)
    return paddle.nn.Sequential(paddle.nn.Conv2D(3, 4, 3), paddle.nn.AdaptiveAvgPool2D(1),
                                paddle.nn.Flatten())


def test_export_into_existing_dir_replaces_the_model_and_keeps_other_files(tmp_path):
    save_dir = tmp_path / "model"
    export_inference_model(tiny_model(), save_dir, image_shape=(3, 32, 32))
    (save_dir / "labels.txt").write_text("cat\n")
    written = export_inference_model(tiny_model(), save_dir, image_shape=(3, 32, 32), legacy=True)
    names = sorted(p.name for p in save_dir.iterdir())
    assert names == ["inference.pdiparams", "inference.pdiparams.info", "inference.pdmodel", "labels.txt"]
    assert written["legacy"] == save_dir / "inference.pdmodel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no staging dir left


def test_both_formats_share_one_params_file(tmp_path):
    model = tiny_model()
    written = export_inference_model(model, tmp_path / "model", image_shape=(3, 32, 32),
                                     add_softmax=False, formats=("pir", "legacy"))
    assert sorted(p.name for p in (tmp_path / "model").iterdir()) == [
        "inference.json", "inference.pdiparams", "inference.pdiparams.info", "inference.pdmodel"]
    assert {"pir", "legacy", "params"} <= set(written)
    batch = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    expected = model(paddle.to_tensor(batch)).numpy()
    for fmt in ("pir", "legacy"):
        engine = PaddleInferenceEngine(tmp_path / "model", model_format=fmt)
        assert engine.files.format == fmt
        np.testing.assert_allclose(engine.run(batch), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("enable_mkldnn", [True, False])
def test_onednn_switch(tmp_path, enable_mkldnn):
    model = tiny_model()
    export_inference_model(model, tmp_path / "model", image_shape=(3, 32, 32), add_softmax=False)
    engine = PaddleInferenceEngine(tmp_path / "model", enable_mkldnn=enable_mkldnn)
    assert engine.uses_onednn is enable_mkldnn  # Paddle 3 has it on unless told otherwise
    batch = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    np.testing.assert_allclose(engine.run(batch), model(paddle.to_tensor(batch)).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("formats", [(), ("onnx",)])
def test_bad_formats_are_rejected(tmp_path, formats):
    with pytest.raises(ConfigError, match="formats"):
        export_inference_model(tiny_model(), tmp_path / "model", formats=formats)


@pytest.mark.parametrize("shape", [(1, 3, 16, 32), (3, 32, 32), (0, 3, 32, 32)])
def test_wrong_batch_shape_is_rejected(tmp_path, shape):
    export_inference_model(tiny_model(), tmp_path / "model", image_shape=(3, 32, 32))
    engine = PaddleInferenceEngine(tmp_path / "model")
    assert engine.input_shape == (None, 3, 32, 32)
    with pytest.raises(InputShapeError, match=r"\['N', 3, 32, 32\]"):
        engine.run(np.zeros(shape, np.float32))


def test_failed_export_leaves_nothing(tmp_path):
    def broken_writer(staging):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        export_inference_model(tiny_model(), tmp_path / "model", image_shape=(3, 32, 32),
                               extra_writers=[broken_writer])
    assert list(tmp_path.iterdir()) == []


def test_extra_writer_files_are_committed_with_the_model(tmp_path):
    def write_meta(staging):
        (staging / "meta.txt").write_text("hello")
        return {"meta": "meta.txt"}

    written = export_inference_model(tiny_model(), tmp_path / "model", image_shape=(3, 32, 32),
                                     extra_writers=[write_meta])
    assert written["meta"].read_text() == "hello"


@pytest.mark.parametrize("shape", [(3, 224), (1, 224, 224), (3, 200, 224), (3, 224.0, 224)])
def test_bad_image_shape_is_rejected(tmp_path, shape):
    with pytest.raises(ConfigError, match="image_shape"):
        export_inference_model(tiny_model(), tmp_path / "model", image_shape=shape)


# ------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("load", [PaddleInferenceEngine, convert_to_onnx])
def test_missing_model_dir(tmp_path, load):
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nope")


@pytest.mark.parametrize("load", [PaddleInferenceEngine, convert_to_onnx])
def test_dir_without_model_file(tmp_path, load):
    (tmp_path / "inference.pdiparams").write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"no inference\.json or inference\.pdmodel"):
        load(tmp_path)


def test_model_file_without_params(tmp_path):
    (tmp_path / "inference.json").write_text("{}")
    with pytest.raises(ModelFileError, match="inference.pdiparams"):
        PaddleInferenceEngine(tmp_path)


@pytest.mark.parametrize("engine", [OnnxRuntimeEngine, OpenVINOEngine])
def test_missing_model_file(tmp_path, engine):
    with pytest.raises(ModelFileError, match="does not exist"):
        engine(tmp_path / "model.onnx")


def test_openvino_rejects_pir_json(tmp_path):
    (tmp_path / "inference.json").write_text("{}")
    with pytest.raises(ConfigError, match="legacy=True"):
        OpenVINOEngine(tmp_path / "inference.json")


def write_corrupt_model(directory):
    (directory / "inference.json").write_text("not a model")
    (directory / "inference.pdiparams").write_bytes(b"\0" * 64)


def test_corrupt_model_fails_conversion_cleanly(tmp_path):
    write_corrupt_model(tmp_path)
    with pytest.raises(ConversionError, match="could not convert .*inference.json"):
        convert_to_onnx(tmp_path, tmp_path / "model.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inference.json", "inference.pdiparams"]


def test_corrupt_paddle_model_fails_to_load_cleanly(tmp_path):
    write_corrupt_model(tmp_path)
    with pytest.raises(ModelLoadError, match="Paddle Inference could not load .*inference.json"):
        PaddleInferenceEngine(tmp_path)


@pytest.mark.parametrize("engine", [OnnxRuntimeEngine, OpenVINOEngine])
def test_corrupt_onnx_fails_to_load_cleanly(tmp_path, engine):
    (tmp_path / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelLoadError, match="could not load .*model.onnx"):
        engine(tmp_path / "model.onnx")
