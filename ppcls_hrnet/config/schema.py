"""The training config schema: one table of every key, its type and default.

It covers PaddleClas's HRNet configs (ppcls/configs/ImageNet/HRNet/*.yaml),
the keys PaddleClas's test_tipc chain sets with ``-o``, keys PaddleClas's
engine reads without listing them in these files (``Global.update_freq``,
``EMA``, ``CELoss.epsilon``) and ours (``Global.metrics_log``).

To add a key: add a ``Field(kind, default, doc)`` under its section below.
Loading, ``-o`` overrides, default filling and error messages all follow the
table; the code that uses the key reads it from the validated config.
"""
from __future__ import annotations

from dataclasses import replace
from typing import List

from ..models.registry import list_models
from ..preprocess.transforms import OPS
from ..runtime.options import PREDICTOR_OPTIONS
from .schema_types import (BOOL, FLOAT, FREE, INT, NULL, STR, Field, ListOf, OpList, Section, Unsupported,
                           Variants)

# Op names only: each op's parameters are checked by the transforms module.
TRANSFORM_OPS = tuple(OPS)
DEVICES = ("cpu", "gpu", "xpu", "npu", "mlu")


def _registered_models() -> List[str]:
    return list_models()


def _image_shape_problem(shape):
    if len(shape) != 3 or shape[0] != 3:
        return f"expected [3, height, width], got {shape}"
    if any(side <= 0 or side % 32 for side in shape[1:]):
        return f"height and width must be positive multiples of 32 (HRNet downsamples 32x), got {shape}"
    return None


def _piecewise_problem(lr):
    epochs, values = lr["decay_epochs"], lr["values"]
    if len(values) != len(epochs) + 1:
        return f"values needs one more entry than decay_epochs ({len(epochs)} + 1), got {len(values)}"
    if epochs != sorted(set(epochs)):
        return f"decay_epochs must be strictly increasing, got {epochs}"
    return None


def _topk_problem(topk):
    return None if topk and min(topk) >= 1 else f"expected positive ks like [1, 5], got {topk}"


_transform_ops = OpList({name: FREE for name in TRANSFORM_OPS}, doc="preprocessing, applied in order")

_warmup = {
    "warmup_epoch": Field(INT, 0, "epochs of linear warmup before the schedule", min=0),
    "warmup_start_lr": Field(FLOAT, 0.0, "learning rate at the start of warmup", min=0),
}

_celoss = {
    "CELoss": {
        "weight": Field(FLOAT, 1.0, "weight of this loss in the total", min=0),
        "epsilon": Field(FLOAT, 0.0, "label smoothing; 0 = none", min=0, max=1),
    },
}
_default_loss = [{"CELoss": {"weight": 1.0}}]

_topk_acc = {"TopkAcc": {"topk": Field(ListOf(INT), [1, 5], rule=_topk_problem)}}
_default_metric = [{"TopkAcc": {"topk": [1, 5]}}]

_batch_sampler = {
    "batch_size": Field(INT, 64, "samples per batch (per device)", min=1),
    "drop_last": Field(BOOL, False),
    "shuffle": Field(BOOL, False),
}

_data_split = Section({
    "dataset": Variants({
        "ImageNetDataset": {
            "image_root": Field(STR, doc="folder the label list's paths are relative to"),
            "cls_label_path": Field(STR, doc="label list: lines `relative/path.jpg <int label>`"),
            "transform_ops": _transform_ops,
            "delimiter": Field(STR, " ", "separator between path and label in the label list"),
            "skip_bad": Field(BOOL, False, "skip (and count) unreadable images and bad label lines "
                                           "instead of stopping with an error"),
        },
    }, default_name="ImageNetDataset"),
    "sampler": Variants(
        {"DistributedBatchSampler": _batch_sampler, "BatchSampler": _batch_sampler},
        default_name="DistributedBatchSampler", default={},
    ),
    "loader": {
        "num_workers": Field(INT, 0, "worker processes; 0 loads in the training process", min=0),
        "use_shared_memory": Field(BOOL, True),
    },
}, optional=True)

TRAIN_SCHEMA = Section({
    "Global": {
        "checkpoints": Field((STR, NULL), None, "checkpoint prefix to resume training from"),
        "pretrained_model": Field((STR, NULL), None, "weights (path prefix or .pdparams) to start from, "
                                                     "evaluate or export"),
        "output_dir": Field(STR, "./output/"),
        "device": Field(STR, "cpu", choices=DEVICES),
        "seed": Field((INT, NULL), None, "random seed; null: not seeded"),
        "epochs": Field(INT, 120, min=1),
        "save_interval": Field(INT, 1, "save a checkpoint every N epochs", min=1),
        "eval_during_train": Field(BOOL, True),
        "eval_interval": Field(INT, 1, "evaluate every N epochs", min=1),
        "print_batch_step": Field(INT, 10, "log every N iterations", min=1),
        "use_visualdl": Field(BOOL, False),
        "image_shape": Field(ListOf(INT), [3, 224, 224], "export input shape [C, H, W]",
                             rule=_image_shape_problem),
        "save_inference_dir": Field(STR, "./inference"),
        "to_static": Field(BOOL, False, "train with paddle.jit.to_static"),
        # PaddleClas's name for gradient accumulation (engine.update_freq)
        "update_freq": Field(INT, 1, "gradient accumulation: optimizer step every N batches "
                                     "(effective batch = batch_size * N)", min=1),
        "metrics_log": Field((STR, NULL), None, "JSON-lines file of logged train/eval metrics; null: none"),
        # Named in test_tipc's train_infer_python.txt (`-o Global.auto_cast:null`);
        # its null is never passed on, but accept it literally. AMP lives in AMP.
        "auto_cast": Field(NULL, None, "test_tipc compatibility only; use AMP.use_amp"),
    },
    "AMP": {
        "use_amp": Field(BOOL, False),
        "use_fp16_test": Field(BOOL, False),
        "scale_loss": Field(FLOAT, 128.0, min=0),
        "use_dynamic_loss_scaling": Field(BOOL, True),
        "use_promote": Field(BOOL, False),
        "level": Field(STR, "O1", "O1: mixed fp16, O2: pure fp16", choices=("O1", "O2")),
        # ours (Paddle's auto_cast argument): bfloat16 also runs on CPUs with
        # AVX512-BF16/AMX (Zen 4+, Sapphire Rapids+); elsewhere training stays fp32
        "dtype": Field(STR, "float16", "float16 (GPU) or bfloat16 (GPU, or CPU with AVX512-BF16)",
                       choices=("float16", "bfloat16")),
    },
    "EMA": Section({
        "decay": Field(FLOAT, 0.9999, "weight of the running average per step", min=0, max=1),
    }, optional=True, doc="exponential moving average of the weights; absent or null: off"),
    "Arch": {
        "name": Field(STR, doc="a registered model (ppcls-hrnet models)", choices=_registered_models),
        "class_num": Field(INT, 1000, min=1),
        "pretrained": Field((BOOL, STR), False, "True: official weights; or a .pdparams path/URL"),
        "use_ssld": Field(BOOL, False, "with pretrained=True: the SSLD-distilled weights"),
        "infer_add_softmax": Field(BOOL, True, "export appends Softmax"),
    },
    "Loss": {
        "Train": OpList(_celoss, default=_default_loss),
        "Eval": OpList(_celoss, default=_default_loss),
    },
    "Optimizer": Variants({
        "Momentum": {
            "momentum": Field(FLOAT, 0.9, min=0, max=1),
            "lr": Variants({
                "Piecewise": Section({
                    "learning_rate": Field((FLOAT, NULL), None, "informational; values[0] is used", min=0),
                    "decay_epochs": Field(ListOf(INT)),
                    "values": Field(ListOf(FLOAT), doc="learning rate before the first and after each decay"),
                    **_warmup,
                }, rule=_piecewise_problem),
                "Cosine": {
                    "learning_rate": Field(FLOAT, doc="peak learning rate", min=0),
                    "eta_min": Field(FLOAT, 0.0, "final learning rate", min=0),
                    **_warmup,
                },
            }),
            "regularizer": Variants({
                "L2": {"coeff": Field(FLOAT, doc="weight decay", min=0)},
            }, default_name="L2", default=None),
        },
    }, default_name="Momentum", default=None, doc="needed for training"),
    "DataLoader": {
        "Train": _data_split,
        "Eval": _data_split,
    },
    "Infer": Section({
        "infer_imgs": Field((STR, NULL), None, "an image file, a folder or a URL"),
        "batch_size": Field(INT, 10, min=1),
        "transforms": _transform_ops,
        "PostProcess": Variants({
            "Topk": {
                "topk": Field(INT, 5, min=1),
                "class_id_map_file": Field((STR, NULL), None, "lines `<class id> <label name>`"),
            },
        }, default_name="Topk", default={}),
    }, optional=True),
    "Metric": {
        "Train": OpList(_topk_acc, default=_default_metric),
        "Eval": OpList(_topk_acc, default=_default_metric),
    },
})


# ---------------------------------------------------------------- deploy


_KINDS = {bool: BOOL, int: INT, str: STR}


def _predictor_field(name: str, **paddleclas) -> Field:
    """A predictor option (runtime/options.py's table) as a deploy-config key. ``paddleclas``
    replaces what PaddleClas's deploy configs define differently: a default, and the doc saying
    what that default means."""
    option = replace(PREDICTOR_OPTIONS[name], **paddleclas)
    kinds, choices = _KINDS[option.kind], option.choices
    if option.default is None:  # unset (null) is a value, offered with the choices
        kinds, choices = (kinds, NULL), choices and (*choices, None)
    return Field(kinds, option.default, option.help, choices=choices, min=option.minimum)


# PaddleClas's deploy/configs/*.yaml (read with its deploy/python/predict_cls.py)
# use more keys than ppcls-hrnet has behaviour for. Those that name something
# we do not do are Unsupported: an error that says so, never ignored, since
# ignoring them would change what is predicted without a word.
def _shitu(what: str) -> Unsupported:
    return Unsupported(
        f"PaddleClas's PP-ShiTu setting for {what}; ppcls-hrnet has no PP-ShiTu (detection + retrieval: "
        "predict_det.py, predict_rec.py, predict_system.py): deploy/python/predict_cls.py classifies whole "
        "images (start from deploy/configs/inference_cls.yaml)")


def _other_postprocess(name: str, what: str) -> Unsupported:
    return Unsupported(
        f"PaddleClas's {name} post-processing ({what}) is not implemented in ppcls-hrnet, whose predictors "
        f"report the top-k classes of a single-label classifier: remove PostProcess.{name} and use "
        f"PostProcess.Topk (main_indicator: Topk)")


def _no_device(name: str):
    def problem(on):
        return (f"ppcls-hrnet's predictors run on CPU (or an NVIDIA GPU with use_gpu and a GPU build of "
                f"Paddle); {name} is not supported, set it to False") if on else None
    return problem


def _delimiter_problem(delimiter):
    if delimiter in (None, " "):
        return None
    return (f"{delimiter!r}: class_id_map_file is read as `<class id> <label name>` lines split at the first "
            "space; other delimiters are not supported (null or ' ')")


# deploy/configs/inference_cls.yaml: PaddleClas's deploy/python keys plus
# ours (backend, precision, save_dir). Preprocessing is NOT configured here:
# it is the model's inference.yml, written by export.
PREDICT_SCHEMA = Section({
    "Global": {
        "infer_imgs": Field((STR, ListOf(STR)), doc="image file(s), folder(s) or http(s) URL(s)"),
        "inference_model_dir": Field(STR, doc="exported model directory (with inference.yml)"),
        "batch_size": _predictor_field("batch_size"),
        "use_gpu": _predictor_field("use_gpu"),
        "gpu_mem": _predictor_field("gpu_mem", default=8000),
        "enable_mkldnn": _predictor_field("enable_mkldnn"),
        "cpu_num_threads": _predictor_field("cpu_num_threads"),
        "ir_optim": _predictor_field("ir_optim"),
        "use_tensorrt": _predictor_field("use_tensorrt"),
        "use_fp16": _predictor_field("use_fp16"),
        "use_int8": Field(BOOL, False, "the int8 model made by `ppcls-hrnet quantize` (same as precision: int8)"),
        "use_onnx": Field(BOOL, False, "run inference.onnx on ONNX Runtime (same as backend: onnxruntime)"),
        # PaddleClas's Python predictor reads benchmark; its deploy configs carry
        # enable_benchmark (its C++ predictor's switch), which counts when benchmark is unset.
        "benchmark": Field((BOOL, NULL), None, "log preprocess/inference/postprocess time per image; "
                                               "null: as enable_benchmark"),
        "enable_benchmark": Field(BOOL, False, "PaddleClas's deploy configs' name for benchmark (used when "
                                               "benchmark is null)"),
        # where PaddleClas's auto_log writes its benchmark report (TIPC passes it)
        "save_log_path": Field((STR, NULL), None, "with benchmark: also write the timing summary to this file"),
        "model_name": Field((STR, NULL), None, "name in the timing summary; null: the model's (inference.yml)"),
        "enable_profile": Field(BOOL, False, "Paddle Inference's operator profiler is not wired in: True only "
                                             "logs a warning; use `ppcls-hrnet benchmark`"),
        "use_npu": Field(BOOL, False, rule=_no_device("use_npu")),
        "use_xpu": Field(BOOL, False, rule=_no_device("use_xpu")),
        "use_mlu": Field(BOOL, False, rule=_no_device("use_mlu")),
        # PaddleClas's predict_cls.py runs Paddle Inference unless told otherwise
        "backend": _predictor_field("backend", default="paddle",
                                    help="paddle | onnxruntime | openvino | auto (fastest installed)"),
        "precision": _predictor_field("precision", help="auto | fp32 | fp16 | bf16 | int8; null: auto (bf16 where "
                                                        "the CPU computes it natively, else fp32; fp16 with "
                                                        "use_fp16, int8 with use_int8)"),
        "save_dir": Field((STR, NULL), None, "also write the results to SAVE_DIR/predictions.json"),
        # PP-ShiTu (inference_general.yaml, inference_det.yaml, ...)
        "det_inference_model_dir": _shitu("the detection model"),
        "rec_inference_model_dir": _shitu("the retrieval (feature) model"),
        "rec_nms_thresold": _shitu("NMS of retrieval results"),
        "max_det_results": _shitu("the detector's box count"),
        "threshold": _shitu("the detector's score threshold"),
        "label_list": _shitu("the detector's labels"),
        "image_shape": _shitu("the detector's input size (a classifier's is its inference.yml's)"),
    },
    "PostProcess": {
        "main_indicator": Field(STR, "Topk", "the post-processing whose result is printed", choices=("Topk",)),
        "Topk": {
            "topk": _predictor_field("topk"),
            "class_id_map_file": _predictor_field("class_id_map_file", help="null: the labels in inference.yml; "
                                                  "PaddleClas's absent imagenet1k_label_list.txt: the bundled one"),
            "delimiter": Field((STR, NULL), None, "separator of class_id_map_file lines (a space)",
                               rule=_delimiter_problem),
        },
        "SavePreLabel": Section({
            "save_dir": Field(STR, doc="copies each image into save_dir/<top-1 class id>/"),
        }, optional=True),
        "ThreshOutput": _other_postprocess("ThreshOutput", "a threshold on one class's score, PULC models"),
        "MultiLabelThreshOutput": _other_postprocess("MultiLabelThreshOutput",
                                                     "multi-label: every class scoring over a threshold"),
        "ScoreOutput": _other_postprocess("ScoreOutput", "raw scores, e.g. aesthetic scoring"),
        "PersonAttribute": _other_postprocess("PersonAttribute", "pedestrian attributes"),
        "VehicleAttribute": _other_postprocess("VehicleAttribute", "vehicle attributes"),
        "TableAttribute": _other_postprocess("TableAttribute", "table image attributes"),
        "FaceAttribute": _other_postprocess("FaceAttribute", "face attributes"),
        "Binarize": _other_postprocess("Binarize", "binary retrieval features"),
    },
    # PaddleClas's inference_cls.yaml carries these; here the model's own
    # inference.yml rules: predict_cls.py compares them and says whether they differ.
    "PreProcess": FREE,
    "DetPreProcess": _shitu("the detector's preprocessing"),
    "DetPostProcess": _shitu("the detector's post-processing"),
    "RecPreProcess": _shitu("the retrieval model's preprocessing"),
    "RecPostProcess": _shitu("the retrieval model's post-processing"),
    "IndexProcess": _shitu("the retrieval index"),
    "Eval": _shitu("retrieval evaluation (evaluation_general.yaml)"),
})
