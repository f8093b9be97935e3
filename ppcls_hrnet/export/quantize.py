"""Post-training static INT8 quantization of an exported model.

    quantize_model("inference/", "dataset/train_list.txt")   # -> inference/inference_int8.onnx

(How far int8 moves top-1 is measured by :mod:`ppcls_hrnet.evaluation.accuracy`.)

The model's fp32 ONNX file (converted first if the directory has none) is
calibrated on images from a PaddleClas label list, preprocessed with the
model's own inference.yml ops, and written as a QDQ ONNX model: int8 weights
(symmetric, one scale per output channel) and uint8 activations. ONNX Runtime
fuses the Q/DQ pairs into integer kernels and OpenVINO reads the same file and
runs it in int8, so one file serves both runtimes.

Why these settings (measured on HRNet_W18_C, 224x224, batch 1, 2 threads,
AVX512-VNNI; and on HRNet_W18_small_v1 trained on Fashion-MNIST, 10k images):

- uint8 asymmetric activations: 26 ms on ONNX Runtime and 28 ms on OpenVINO,
  vs 62 ms for the fastest fp32 (OpenVINO). Signed symmetric activations run
  about as fast on OpenVINO but no faster than fp32 on ONNX Runtime (61 ms),
  whose x86 integer kernels are built for u8 x s8, and agree less with fp32.
- Residual Adds quantized too: keeping them fp32 adds Q/DQ pairs and costs
  ~15% of the speed-up without a measurable accuracy gain.
- MinMax calibration on 300 class-balanced images: Percentile was no better,
  Entropy clearly worse (98.7% top-1 agreement with fp32 vs 99.2-99.4%).
- The classifier head (pooled features, last MatMul/Gemm, its bias Add,
  Softmax) stays fp32: it is a negligible share of the compute (no measurable
  latency difference), and probabilities or logits quantized to 256 levels can
  only add top-1 ties. On the 10-class Fashion model the gain is small
  (agreement 99.18/99.35% vs 99.14/99.33% for ORT/OpenVINO); with 1000 classes
  crowding the same 256 levels, ties are more likely.
- ``quant_pre_process`` folds BatchNorm into the convolutions first (paddle2onnx
  leaves it separate); without it every conv output is quantized before BN.
- Per-channel weights need DequantizeLinear's ``axis`` (opset 13); paddle2onnx
  writes opset 11, so the graph is upgraded before quantization.

- Weights are 7-bit (``reduce_range``) and the stem's first convolution stays
  fp32, because the int8 file must hold up on every x86 CPU it is shipped to:
  CPUs without VNNI (plain AVX2, AVX-512 before VNNI) multiply u8 x s8 pairs
  with VPMADDUBSW, whose 16-bit sums saturate (ONNX Runtime's and oneDNN's
  documented caveat). On such a CPU (2026-12, the Fashion-MNIST test model,
  10k images) 8-bit weights agreed with fp32 on only 96.4 % (ORT) / 98.4 %
  (OpenVINO) of the images; 7-bit weights 99.0 / 99.0 %; 7-bit plus an fp32
  first convolution 99.0 / 99.1 %. That convolution reads the raw normalized
  image (3 channels, the widest input range) and is ~0.5 % of the
  multiply-adds. u8 x u8 weights also passed (99.1 / 99.1 %) but leave
  VNNI's fast u8 x s8 path, so they were not taken.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..data.dataset import LabelEntry, read_entry_image, read_label_list
from ..errors import ConfigError, HRNetError
from ..preprocess.errors import DataError
from ..runtime.contract import DeployConfig, read_deploy_config, register_model_files
from ..runtime.paddle.onnx import ensure_onnx

logger = logging.getLogger("ppcls_hrnet")

INT8_FILE = "inference_int8.onnx"
INT8_KEY = "onnx_int8"  # its key in inference.yml's `files`
METHODS = ("MinMax", "Percentile", "Entropy")
# Per-channel QDQ (DequantizeLinear's axis attribute) exists from opset 13 on.
MIN_OPSET = 13
# The classifier head stays fp32: everything from the graph outputs back to (and
# including) the first of these, and the pooling/flatten ops just before it.
_HEAD_STOP_OPS = ("MatMul", "Gemm", "Conv")
_FEATURE_OPS = ("GlobalAveragePool", "Flatten", "Reshape", "Squeeze")


class QuantizationError(HRNetError):
    """The model could not be quantized (calibration data, runtime, or the quantizer itself)."""


# ------------------------------------------------------------- quantization


def quantize_model(model_dir, calib_list, calib_root=None, *, num_calib: int = 300,
                   method: str = "MinMax", per_channel: bool = True, reduce_range: bool = True,
                   nodes_to_exclude: Sequence[str] = (), calib_batch_size: Optional[int] = None,
                   save_name: str = INT8_FILE, progress: bool = True) -> Path:
    """Write ``<model_dir>/<save_name>`` (int8 QDQ ONNX), record it as ``onnx_int8``
    in inference.yml and return its path.

    calib_list: a PaddleClas label list (``relative/path.jpg <label>`` lines);
    images are read from ``calib_root`` (default: the list's folder). Up to
    ``num_calib`` images are used, taken round-robin over the classes in list
    order so every class is represented however the list is sorted (ImageNet
    lists are sorted by class: their first 300 lines are one class).
    Unreadable images are skipped with a warning and replaced by the next
    image of the list.

    method: activation range calibration, "MinMax" (the observed range),
    "Percentile" (clips the top 0.001% outliers) or "Entropy" (KL divergence).
    nodes_to_exclude: ONNX node names kept fp32 besides the classifier head.
    calib_batch_size: images per calibration run; None picks one from the
    input size (16 at 32x32, 1 at 224x224: calibration keeps every
    intermediate tensor of a batch, and large batches are slower there).

    The file is written under a temporary name in ``model_dir``, checked by
    loading it in ONNX Runtime, and only then renamed into place.
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    check_positive_int("num_calib", num_calib)
    if calib_batch_size is not None:
        check_positive_int("calib_batch_size", calib_batch_size)
    quantization = _import_quantization()  # before any slow work
    deploy = read_deploy_config(model_dir)
    calib_batch_size = calib_batch_size or _calibration_batch_size(deploy.input_shape)
    entries, root = label_entries(calib_list, calib_root, "calibration", QuantizationError)
    images = load_calibration_images(deploy, entries, root, num_calib, progress=progress)

    fp32_file = ensure_onnx(model_dir)
    save_file = deploy.model_dir / save_name
    with tempfile.TemporaryDirectory(prefix="ppcls_hrnet_quant.") as work:
        prepared = _prepare_model(fp32_file, Path(work), quantization)
        exclude = sorted(set(_float_nodes(prepared)) | set(nodes_to_exclude))
        fd, tmp = tempfile.mkstemp(prefix=f".{save_name}.", suffix=".tmp", dir=deploy.model_dir)
        os.close(fd)
        try:
            reader = CalibrationImages(images, deploy.input_name, calib_batch_size, progress=progress)
            _quantize_static(quantization, prepared, tmp, reader, source=fp32_file, method=method,
                             per_channel=per_channel, reduce_range=reduce_range, nodes_to_exclude=exclude)
            _check_loads(tmp, fp32_file)
            os.replace(tmp, save_file)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    register_model_files(deploy.model_dir, {INT8_KEY: save_name})
    logger.info("wrote %s (int8, %s calibration on %d images)", save_file, method, len(images))
    return save_file


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _calibration_batch_size(input_shape) -> int:
    """About 16k pixels per calibration batch (measured: 32x32 -> 16, 224x224 -> 1)."""
    height, width = input_shape[-2:]
    if height <= 0 or width <= 0:  # dynamic spatial size: no basis for more
        return 1
    return max(1, min(32, (128 * 128) // (height * width)))


def _import_quantization():
    try:
        import onnx  # noqa: F401  (the quantizer edits ONNX protos)
        import onnxruntime.quantization as quantization
        from onnxruntime.quantization import shape_inference  # noqa: F401
    except ImportError as err:
        # onnxruntime.quantization also needs ml_dtypes, which onnxruntime
        # does not declare as a dependency.
        raise QuantizationError(
            f"int8 quantization needs onnxruntime's quantization tools, which cannot be imported "
            f"({err}); install them with: pip install 'ppcls-hrnet[onnx]' ml_dtypes") from None
    return quantization


def balanced_order(entries: Sequence[LabelEntry]) -> List[LabelEntry]:
    """Entries round-robin over their labels (class order of first appearance,
    list order within a class): any prefix is as class-balanced as the list allows."""
    by_label: Dict[int, List[LabelEntry]] = OrderedDict()
    for entry in entries:
        by_label.setdefault(entry.label, []).append(entry)
    queues = list(by_label.values())
    return [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]


def load_calibration_images(deploy: DeployConfig, entries: Sequence[LabelEntry], image_root,
                            num_images: int, *, progress: bool = True) -> np.ndarray:
    """Up to ``num_images`` preprocessed images (N, C, H, W) in class-balanced order.

    Unreadable images are skipped (a warning each) and replaced by later ones;
    raises QuantizationError when none can be read.
    """
    transforms = deploy.build_transforms()
    images, skipped = [], 0
    with tqdm(total=min(num_images, len(entries)), desc="calibration images", unit="img",
              disable=not progress, leave=False) as bar:
        for entry in balanced_order(entries):
            if len(images) == num_images:
                break
            try:
                images.append(read_image(transforms, image_root, entry))
            except DataError as err:
                skipped += 1
                logger.warning("skipping calibration image: %s", err)
                continue
            bar.update()
    if not images:
        raise QuantizationError(f"no readable calibration images: all {skipped} images of the list "
                                f"under {image_root} failed to load (see the warnings above)")
    if skipped:
        logger.warning("skipped %d unreadable calibration image(s); calibrating on %d", skipped, len(images))
    if len(images) < num_images:
        logger.info("the calibration list has %d readable images (num_calib=%d)", len(images), num_images)
    return np.stack(images)


class CalibrationImages:
    """ONNX Runtime CalibrationDataReader over preprocessed images, in batches.

    ``__len__`` and ``set_range`` (in batches) let the quantizer calibrate one
    batch at a time (its ``CalibStridedMinMax`` option): the histogram methods
    otherwise keep every intermediate tensor of every image in memory at once.
    """

    def __init__(self, images: np.ndarray, input_name: str, batch_size: int = 8, progress: bool = True):
        self.images = images
        self.input_name = input_name
        self.batch_size = batch_size
        self._bar = tqdm(total=len(images), desc="calibrating", unit="img", disable=not progress, leave=False)
        self.set_range(0, len(self))

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def set_range(self, start_index: int, end_index: int):
        self._next, self._end = start_index, min(end_index, len(self))

    def get_next(self) -> Optional[dict]:
        if self._next >= self._end:
            if self._bar.n >= len(self.images):
                self._bar.close()
            return None
        batch = self.images[self._next * self.batch_size:(self._next + 1) * self.batch_size]
        self._next += 1
        self._bar.update(len(batch))
        return {self.input_name: batch}

    # The quantizer also iterates readers.
    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def _prepare_model(fp32_file: Path, work: Path, quantization) -> Path:
    """fp32 ONNX -> opset >= 13, BatchNorm folded, shapes inferred, every node named."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(fp32_file))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        try:
            model = version_converter.convert_version(model, MIN_OPSET)
        except Exception as err:  # the converter raises bare RuntimeErrors/ValueErrors
            raise QuantizationError(f"cannot upgrade {fp32_file} from opset {opset} to {MIN_OPSET} "
                                    f"for per-channel quantization: {err}") from None
        model.ir_version = max(model.ir_version, 7)  # opset 13 needs IR version 7
    for i, node in enumerate(model.graph.node):
        node.name = node.name or f"{node.op_type}_{i}"  # nodes_to_exclude works by name
    upgraded, prepared = work / "opset.onnx", work / "prepared.onnx"
    onnx.save(model, str(upgraded))
    try:
        # Symbolic shape inference gives up on paddle2onnx's dynamic-batch
        # Reshape chains ("Incomplete symbolic shape inference"); ONNX's own
        # shape inference is all a conv net needs.
        quantization.shape_inference.quant_pre_process(str(upgraded), str(prepared), skip_symbolic_shape=True)
    except Exception as err:
        raise QuantizationError(f"ONNX Runtime could not prepare {fp32_file} for quantization: {err}") from None
    return prepared


def _float_nodes(onnx_file: Path) -> List[str]:
    """Nodes kept fp32 (the module docstring says why): the classifier head and the stem."""
    import onnx

    graph = onnx.load(str(onnx_file), load_external_data=False).graph
    return _head_nodes(graph) + _stem_nodes(graph)


def _head_nodes(graph) -> List[str]:
    """Names of the classifier-head nodes: from the graph outputs back to the
    last MatMul/Gemm/Conv on each path, plus the pooling/flatten ops feeding it
    (so the pooled features reach the classifier unquantized)."""
    producer = {out: node for node in graph.node for out in node.output}
    head = set()
    pending = [(o.name, False) for o in graph.output]  # (tensor, past the classifier)
    while pending:
        tensor, past_classifier = pending.pop()
        node = producer.get(tensor)
        if node is None or node.name in head:
            continue
        if past_classifier and node.op_type not in _FEATURE_OPS:
            continue
        head.add(node.name)
        if node.op_type in _HEAD_STOP_OPS or past_classifier:
            pending.append((node.input[0], True))  # the data input only, not weights
        elif node.op_type != "Shape":  # Shape reads dimensions only: not back into the backbone
            pending.extend((name, False) for name in node.input)
    return sorted(head)


def _stem_nodes(graph) -> List[str]:
    """The first convolution fed by the graph input (the stem's, on the image)."""
    inputs = {i.name for i in graph.input}
    for node in graph.node:  # topologically sorted: the first Conv is the stem's
        if node.op_type == "Conv":
            return [node.name] if node.input[0] in inputs else []
    return []


def _quantize_static(quantization, model_file: Path, save_file: str, reader: CalibrationImages, *,
                     source: Path, method: str, per_channel: bool, reduce_range: bool,
                     nodes_to_exclude: List[str]):
    q = quantization
    extra_options = {
        "ActivationSymmetric": False,  # u8 with a zero point: what ORT's x86 kernels want
        "WeightSymmetric": True,
        "CalibStridedMinMax": 1,  # calibrate one reader batch at a time (memory), any method
    }
    try:
        # The histogram calibrators print() a line per batch: keep stdout clean.
        with contextlib.redirect_stdout(io.StringIO()):
            q.quantize_static(
                str(model_file), save_file, reader, quant_format=q.QuantFormat.QDQ,
                per_channel=per_channel, reduce_range=reduce_range,
                activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                nodes_to_exclude=nodes_to_exclude,
                calibrate_method=getattr(q.CalibrationMethod, method), extra_options=extra_options)
    except HRNetError:
        raise
    except Exception as err:  # the quantizer raises ValueError, RuntimeError, ORT's Fail, ...
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise QuantizationError(f"ONNX Runtime could not quantize {source}: {reason}") from err


def _check_loads(onnx_file: str, source: Path):
    """The quantized model must load (the quantizer can emit ops the runtime rejects)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(onnx_file, options, providers=["CPUExecutionProvider"])
    except Exception as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise QuantizationError(f"the int8 model quantized from {source} does not load: {reason}") from None


# ------------------------------------------------------------- reading label lists
# (also what evaluation.accuracy reads its evaluation lists with: calibration and evaluation
# images must go through the same steps)


def read_image(transforms, image_root, entry: LabelEntry) -> np.ndarray:
    """One list entry through the deploy transforms; DataError names the image and line."""
    return np.ascontiguousarray(read_entry_image(image_root, entry, transforms), dtype=np.float32)


def label_entries(entries_or_list, image_root, what: str,
                  error=DataError) -> Tuple[List[LabelEntry], str]:
    """(entries, image root) from a label list path or ready entries."""
    if isinstance(entries_or_list, (str, os.PathLike)):
        path = Path(entries_or_list)
        if not path.is_file():
            raise error(f"{what} label list {path} does not exist")
        entries, skipped = read_label_list(path, skip_bad=True)
        for message in skipped:
            logger.warning("skipping bad label line %s", message)
        if not entries:
            raise error(f"{what} label list {path} has no usable lines")
        return entries, str(image_root if image_root is not None else path.parent)
    entries = list(entries_or_list)
    if image_root is None:
        raise ConfigError("image_root is needed when entries are given instead of a label list")
    return entries, str(image_root)
