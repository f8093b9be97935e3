"""``ppcls_hrnet.predict(...)``: PaddleClas's whl arguments, as a function.

    import ppcls_hrnet
    results = ppcls_hrnet.predict("photo.jpg", model_name="HRNet_W18_C", pretrained="HRNet_W18_C.pdparams")
    results = ppcls_hrnet.predict("photos/", inference_model_dir="output/inference", backend="openvino")

The CLI (``ppcls-hrnet --model_name=...``) and the deploy script call the same
:func:`create_predictor`.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Union

from .base.paddle_import import import_paddle
from .errors import ConfigError
from .models.registry import get_spec
from .runtime.options import RuntimeOptions
from .runtime.predictor import ClassificationPredictor


def create_predictor(model_name: Optional[str] = None, inference_model_dir=None, pretrained=None, *,
                     use_ssld: bool = False, backend: str = "auto", precision: Optional[str] = None,
                     use_gpu: bool = False, use_tensorrt: bool = False, use_fp16: bool = False,
                     enable_mkldnn: bool = True, cpu_num_threads: int = 2, gpu_mem: int = 500,
                     ir_optim: bool = True, batch_size: int = 1, topk: Optional[int] = None,
                     class_id_map_file: Optional[str] = None, resize_short: Optional[int] = None,
                     crop_size: Optional[int] = None, cpu_pinning: Optional[bool] = None) -> ClassificationPredictor:
    """A predictor for an exported model dir, or for ``model_name`` + weights (exported once, cached)."""
    if precision is None:
        precision = "fp16" if use_fp16 else "auto"
    elif use_fp16 and precision != "fp16":
        raise ConfigError(f"use_fp16 contradicts precision={precision!r}; give one of them")
    options = RuntimeOptions(backend=backend, precision=precision, use_gpu=use_gpu, use_tensorrt=use_tensorrt,
                             enable_mkldnn=enable_mkldnn, cpu_threads=cpu_num_threads, gpu_mem=gpu_mem,
                             ir_optim=ir_optim, max_batch_size=max(batch_size, 1), cpu_pinning=cpu_pinning)
    if inference_model_dir is None:
        if not model_name:
            raise ConfigError("give model_name (e.g. HRNet_W18_C, with pretrained weights) or "
                              "inference_model_dir (an exported model)")
        # Paddle (quietly, see base.paddle_import) only when a model must be exported from weights
        import_paddle()
        from .export.from_weights import export_from_weights

        # the model's native input side (224 for PaddleClas's models), resized
        # short side in PaddleClas's 256:224 proportion
        crop_size = crop_size or get_spec(model_name).native_size
        inference_model_dir = export_from_weights(
            model_name, True if pretrained is None else pretrained, use_ssld=use_ssld,
            resize_short=resize_short or int(crop_size * 256 / 224 + 0.5), crop_size=crop_size)
        resize_short = crop_size = None  # already exported with them
    elif pretrained is not None:
        raise ConfigError("pretrained applies to model_name; an inference_model_dir already holds its weights")
    return ClassificationPredictor(inference_model_dir, options, batch_size=batch_size, topk=topk,
                                   class_id_map_file=class_id_map_file, resize_short=resize_short,
                                   crop_size=crop_size)


def predict(images: Union[str, Sequence[str]], **kwargs) -> List[dict]:
    """Top-k results per image (file, folder or URL), in input order.

    Keyword arguments are :func:`create_predictor`'s. A bad input gives
    ``{"file_name": ..., "error": ...}`` in its place.
    """
    return list(create_predictor(**kwargs).predict(images))
