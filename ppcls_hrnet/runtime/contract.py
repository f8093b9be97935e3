"""``inference.yml``: the deploy contract written beside every exported model.

Every predictor (Python, C++, serving, Lite) reads the model files, the input
spec, the preprocessing ops, the post-processing and the labels from here and
keeps no constants of its own. Layout (PaddleClas's PreProcess/PostProcess
sections plus what a deploy target needs to run without the training config):

    model_name: HRNet_W18_C
    class_num: 1000
    files: {pir: inference.json, legacy: inference.pdmodel, params: inference.pdiparams,
            onnx: inference.onnx, onnx_int8: inference_int8.onnx}   # onnx*: added by later steps
    input: {name: x, shape: [-1, 3, 224, 224], dtype: float32, layout: NCHW}
    output: {softmax: true}
    PreProcess: {transform_ops: [{DecodeImage: {...}}, ...]}   # applied to the file's bytes
    PostProcess: {name: Topk, topk: 5, label_list: [...] | null}
    PrecisionCheck: {bf16: {top1_agreement: 0.9972, images: 10000, reference: openvino fp32}}
                    # optional: written by `ppcls-hrnet check-precision`, read by precision auto
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import yaml

from ..errors import ConfigError, HRNetError
from ..preprocess.transforms import Compose, OutputBudget, build_transforms
from .postprocess import default_label_list, load_label_map

DEPLOY_FILE = "inference.yml"
FORMAT_VERSION = 1
# libyaml's loader when PyYAML has it: reading 1000 ImageNet names with the
# pure-Python one costs ~0.13 s of every predictor's start.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)


class DeployConfigError(HRNetError):
    pass


@dataclass(frozen=True)
class DeployConfig:
    model_dir: Path
    model_name: str
    class_num: int
    files: Dict[str, str]
    input_name: str
    input_shape: List[int]  # [-1, C, H, W]
    softmax: bool
    transform_ops: list
    topk: int
    label_list: Optional[List[str]]
    # {"bf16": {"top1_agreement": 0.9972, "images": 10000, "reference": "openvino fp32"}}
    precision_checks: Dict[str, dict] = field(default_factory=dict)

    def build_transforms(self, output_budget: Optional[OutputBudget] = None):
        return build_transforms(self.transform_ops, output_budget=output_budget)

    def input_budget(self, multiple: float, setting: str) -> OutputBudget:
        """At most ``multiple`` times the model input's pixels per preprocessed image: ops
        before the last resize or crop need no bigger image. ``setting`` names what sets
        the multiple, for the refusal."""
        height, width = self.input_shape[2:]
        return OutputBudget(int(multiple * height * width),
                            f"{multiple:g} x the model input {width}x{height}; raise {setting} to allow more")

    def with_preprocess(self, resize_short: Optional[int] = None, crop_size: Optional[int] = None) -> "DeployConfig":
        """This config with PaddleClas's --resize_short/--crop_size applied to its ops.

        The exported graph has a fixed H x W, so a crop size other than the
        model's input size is an error rather than a silent mismatch.
        """
        ops = [dict(op) for op in self.transform_ops]
        for op in ops:
            (name, params), = op.items()
            params = dict(params or {})
            if name == "ResizeImage" and resize_short is not None:
                if "resize_short" not in params:
                    raise DeployConfigError(f"{self.model_dir}: its ResizeImage resizes to a fixed size "
                                            f"({params.get('size')}); --resize_short does not apply")
                params["resize_short"] = int(resize_short)
            if name == "CropImage" and crop_size is not None:
                params["size"] = int(crop_size)
            op[name] = params
        model_size = list(self.input_shape[1:])
        produced = list(transforms_output_shape(ops))
        if produced != model_size:
            raise DeployConfigError(
                f"with resize_short={resize_short}, crop_size={crop_size} the images are {produced} but "
                f"{self.model_dir} takes {model_size} (CHW): re-export at that size instead")
        return replace(self, transform_ops=ops)

    def legacy_program(self, consumer: str, error=None) -> Path:
        """inference.pdmodel, for consumers that cannot read Paddle 3's PIR
        inference.json (Paddle Serving's Paddle 2.6, Paddle Lite's opt)."""
        legacy = self.model_file("legacy")
        if legacy is None or not legacy.is_file():
            raise (error or DeployConfigError)(
                f"{self.model_dir} has no legacy program (inference.pdmodel): {consumer} reads only the legacy "
                "format, not Paddle 3's PIR inference.json. Re-export with `ppcls-hrnet export -c CONFIG "
                "--legacy`, then run this again")
        return legacy

    def model_file(self, fmt: str) -> Optional[Path]:
        name = self.files.get(fmt)
        return self.model_dir / name if name else None

    def identity(self) -> str:
        """What produced a prediction: sha256 (hex, 16 digits) of inference.yml and of every model
        file it names that exists, in name order. Equal for copies of a model directory."""
        digest = hashlib.sha256()
        for name in [DEPLOY_FILE, *sorted(set(self.files.values()))]:
            path = self.model_dir / name
            if path.is_file():
                digest.update(name.encode() + b"\0")
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
        return digest.hexdigest()[:16]


def transforms_output_shape(transforms) -> tuple:
    """Shape the ops (a YAML op list or a built Compose) produce from an image."""
    import cv2

    if not isinstance(transforms, Compose):
        transforms = build_transforms(transforms)
    probe = np.full((300, 400, 3), 128, np.uint8)  # any size: resize/crop ops fix the output
    ok, png = cv2.imencode(".png", probe)
    return tuple(transforms(png.tobytes()).shape)


def build_deploy_config(cfg, files: Dict[str, str], softmax: bool) -> dict:
    infer = cfg.get("Infer")
    if not infer or not infer.get("transforms"):
        raise ConfigError("export needs Infer.transforms (the deploy preprocessing) in the config")
    # the likely mistakes (training ops, not the export size) before the label file is read
    transforms = deploy_transforms(infer.transforms, cfg.Global.image_shape, "Global.image_shape")
    post = infer.PostProcess
    return _content(cfg.Arch.name, cfg.Arch.class_num, files, cfg.Global.image_shape, transforms, softmax,
                    post.topk, _label_list(post.get("class_id_map_file"), cfg.Arch.class_num))


def deploy_transforms(transform_ops, image_shape, shape_source: str) -> Compose:
    """The deploy preprocessing, built once and checked: deterministic, and
    producing the model's input shape."""
    transforms = build_transforms(transform_ops)
    random_ops = [type(op).__name__ for op in transforms if op.random]
    if random_ops:  # training augmentation would make every prediction a different one
        raise ConfigError(f"Infer.transforms holds training augmentation ({', '.join(random_ops)}): the deploy "
                          "preprocessing must be deterministic; use the Eval ops (ResizeImage, CropImage, ...)")
    produced = transforms_output_shape(transforms)
    if list(produced) != list(image_shape):
        raise ConfigError(
            f"Infer.transforms produce images of shape {list(produced)} (CHW) but {shape_source} is "
            f"{list(image_shape)}: make them agree (e.g. the CropImage/ResizeImage size, and end with ToCHWImage)"
        )
    return transforms


def deploy_config_content(model_name: str, class_num: int, files: Dict[str, str], image_shape,
                          transform_ops, softmax: bool, *, topk: int = 5,
                          label_list: Optional[List[str]] = None, shape_source: str = "the export size") -> dict:
    """The inference.yml mapping; checks the transforms (a YAML op list) with
    deploy_transforms. Without a label list a 1000-class model gets the
    ImageNet-1k names."""
    transforms = deploy_transforms(transform_ops, image_shape, shape_source)
    if label_list is None:
        label_list = default_label_list(class_num)
    return _content(model_name, class_num, files, image_shape, transforms, softmax, topk, label_list)


def _content(model_name, class_num, files, image_shape, transforms: Compose, softmax, topk, label_list) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "model_name": model_name,
        "class_num": int(class_num),
        "files": dict(files),
        "input": {"name": "x", "shape": [-1, *image_shape], "dtype": "float32", "layout": "NCHW"},
        "output": {"softmax": bool(softmax)},
        "PreProcess": {"transform_ops": transforms.to_config()},
        "PostProcess": {"name": "Topk", "topk": int(topk), "label_list": label_list},
    }


def imagenet_transform_ops(resize_short: int = 256, crop_size: int = 224) -> list:
    """PaddleClas's ImageNet eval preprocessing (its Infer.transforms), for models
    exported from weights alone (``ppcls-hrnet --model_name``)."""
    return [
        {"DecodeImage": {"to_rgb": True, "channel_first": False}},
        {"ResizeImage": {"resize_short": int(resize_short)}},
        {"CropImage": {"size": int(crop_size)}},
        {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": [0.485, 0.456, 0.406],
                            "std": [0.229, 0.224, 0.225], "order": ""}},
        {"ToCHWImage": None},
    ]


def _label_list(class_id_map_file, class_num: int) -> Optional[List[str]]:
    mapping = load_label_map(class_id_map_file)
    if mapping is None:
        return None
    missing = [i for i in range(class_num) if i not in mapping]
    if missing:
        raise ConfigError(f"class_id_map_file {class_id_map_file} has no label for class ids {missing[:10]}")
    return [mapping[i] for i in range(class_num)]


def write_deploy_config(directory: Path, content: dict) -> Dict[str, str]:
    (Path(directory) / DEPLOY_FILE).write_text(
        yaml.safe_dump(content, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return {"deploy_config": DEPLOY_FILE}


def register_model_files(model_dir, files: Dict[str, str]) -> DeployConfig:
    """Record files made after export (``{"onnx": "inference.onnx"}``) in inference.yml."""
    return _update_deploy_config(model_dir, lambda data: data["files"].update(files))


def record_precision_check(model_dir, precision: str, check: dict) -> DeployConfig:
    """Record how ``precision`` compared with fp32 on this model (``PrecisionCheck``), replacing
    an earlier record for it."""
    def change(data):
        data.setdefault("PrecisionCheck", {})[precision] = dict(check)
    return _update_deploy_config(model_dir, change)


def _update_deploy_config(model_dir, change) -> DeployConfig:
    """Apply ``change(data)`` to inference.yml. The file is rewritten through a temporary file
    and a rename, so a crash leaves either the old or the new contract, never half of one."""
    deploy = read_deploy_config(model_dir)  # validates before we touch it
    path = deploy.model_dir / DEPLOY_FILE
    data = _load_yaml(path)
    change(data)
    tmp = path.with_name(f".{DEPLOY_FILE}.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, path)
    return read_deploy_config(model_dir)


def _precision_checks(section) -> Dict[str, dict]:
    checks = {str(name): dict(check) for name, check in (section or {}).items()}
    for check in checks.values():
        if "top1_agreement" in check:
            check["top1_agreement"] = float(check["top1_agreement"])
    return checks


def read_deploy_config(model_dir) -> DeployConfig:
    model_dir = Path(model_dir)
    path = model_dir / DEPLOY_FILE
    if not model_dir.is_dir():
        raise DeployConfigError(f"inference model directory {model_dir} does not exist; "
                                "export one with `ppcls-hrnet export -c CONFIG`")
    if not path.is_file():
        raise DeployConfigError(
            f"{model_dir} has no {DEPLOY_FILE} (the deploy contract: input size, preprocessing, labels). "
            "Re-export the model with `ppcls-hrnet export -c CONFIG` to write it")
    try:
        data = _load_yaml(path)
        deploy = DeployConfig(
            model_dir=model_dir, model_name=data["model_name"], class_num=int(data["class_num"]),
            files=dict(data["files"]), input_name=data["input"]["name"],
            input_shape=list(data["input"]["shape"]), softmax=bool(data["output"]["softmax"]),
            transform_ops=list(data["PreProcess"]["transform_ops"]),
            topk=int(data["PostProcess"]["topk"]), label_list=data["PostProcess"].get("label_list"),
            precision_checks=_precision_checks(data.get("PrecisionCheck")),
        )
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise DeployConfigError(f"{path} is not a valid {DEPLOY_FILE} ({type(e).__name__}: {e}); "
                                "re-export the model to rewrite it") from None
    if deploy.label_list is not None and len(deploy.label_list) != deploy.class_num:
        raise DeployConfigError(f"{path}: label_list has {len(deploy.label_list)} names "
                                f"for {deploy.class_num} classes")
    return deploy

