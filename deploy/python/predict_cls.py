"""Classify images with an exported ppcls-hrnet model, as PaddleClas's deploy/python/predict_cls.py.

    python deploy/python/predict_cls.py -c deploy/configs/inference_cls.yaml \
        -o Global.inference_model_dir=output/inference -o Global.infer_imgs=images/ \
        -o Global.enable_mkldnn=True -o Global.batch_size=4

Prints one line per image: ``<file>:\tclass id(s): [...], score(s): [...], label_name(s): [...]``.
Everything model-specific (preprocessing, input size, labels) is read from
the model's inference.yml by the package; this script only wires the config
to ``ppcls_hrnet.create_predictor``.

PaddleClas's own deploy configs (deploy/configs/inference_cls.yaml) and the
``-o`` flags of its TIPC chain are accepted: ``enable_benchmark`` counts as
``benchmark`` when that is unset, ``save_log_path`` receives the timing summary, a
``PreProcess`` section is compared with the model's (and ignored), and keys
for behaviour this package does not have (other post-processing, PP-ShiTu)
are refused by the config check with a message naming them.
"""
import argparse
import logging
import math
import shutil
import sys
from pathlib import Path

from ppcls_hrnet.base.process import run_guarded, setup_process
from ppcls_hrnet.config import PREDICT_SCHEMA, load_config
from ppcls_hrnet.errors import ConfigError, HRNetError
from ppcls_hrnet.api import create_predictor
from ppcls_hrnet.runtime.results import format_deploy_result, save_results

logger = logging.getLogger("ppcls_hrnet")


def predict_cls(cfg) -> int:
    g = cfg.Global
    benchmark = g.enable_benchmark if g.benchmark is None else g.benchmark
    if g.enable_profile:
        logger.warning("Global.enable_profile: Paddle Inference's operator profiler is not wired into "
                       "ppcls-hrnet; ignored (time a model with `ppcls-hrnet benchmark`, or Global.benchmark)")
    if g.save_log_path and not benchmark:
        logger.info("Global.save_log_path %s is written only with Global.benchmark: True (as in PaddleClas)",
                    g.save_log_path)
    topk = cfg.PostProcess.Topk
    predictor = create_predictor(
        inference_model_dir=g.inference_model_dir, backend="onnxruntime" if g.use_onnx else g.backend,
        precision=_precision(g), use_gpu=g.use_gpu, use_tensorrt=g.use_tensorrt, use_fp16=g.use_fp16,
        enable_mkldnn=g.enable_mkldnn, cpu_num_threads=g.cpu_num_threads, gpu_mem=g.gpu_mem,
        ir_optim=g.ir_optim, batch_size=g.batch_size, topk=topk.topk, class_id_map_file=topk.class_id_map_file)
    if cfg.PreProcess:
        compare_preprocess(cfg.PreProcess, predictor.deploy)
    results = []
    for result in predictor.predict(g.infer_imgs):
        results.append(result)
        if "error" in result:
            continue  # logged by the predictor; the rest are still predicted
        print(format_deploy_result(result))
        if cfg.PostProcess.SavePreLabel:
            save_pre_label(result, cfg.PostProcess.SavePreLabel.save_dir)
    if g.save_dir:
        logger.info("results saved to %s", save_results(results, g.save_dir, predictor))
    if benchmark:
        logger.info("%s %s: %s", predictor.backend, predictor.options.precision, predictor.times.summary())
        if g.save_log_path:
            logger.info("benchmark log written to %s", write_benchmark_log(g.save_log_path, g, predictor))
    failed = sum("error" in r for r in results)
    if failed:
        logger.error("%d of %d inputs could not be predicted", failed, len(results))
    return 1 if failed else 0


def _precision(g):
    """Global.precision, or PaddleClas's use_int8 (use_fp16 is create_predictor's)."""
    if not g.use_int8:
        return g.precision
    if g.precision not in (None, "int8"):
        raise ConfigError(f"Global.use_int8 contradicts Global.precision={g.precision!r}; give one of them")
    return "int8"


# PaddleClas's predict_cls.py reads images with cv2 and flips them to RGB
# before its PreProcess ops; our inference.yml starts with that DecodeImage.
_PADDLECLAS_DECODE = {"DecodeImage": {"to_rgb": True, "channel_first": False}}


def compare_preprocess(section, deploy) -> None:
    """Say whether a PaddleClas PreProcess section matches the model's inference.yml.

    The model is always fed as it was exported (inference.yml); the section is
    never applied, so a difference is reported, not followed.
    """
    from ppcls_hrnet.preprocess.transforms import build_transforms

    where = deploy.model_dir / "inference.yml"
    ops = section.get("transform_ops") if isinstance(section, dict) else None
    try:
        if not isinstance(ops, list):
            raise ConfigError("no transform_ops list")
        if not (ops and isinstance(ops[0], dict) and "DecodeImage" in ops[0]):
            ops = [_PADDLECLAS_DECODE, *ops]
        theirs = build_transforms(ops).to_config()
    except HRNetError as e:
        logger.warning("PreProcess in the config is ignored (%s): the model's preprocessing in %s is used",
                       e, where)
        return
    ours = deploy.transform_ops
    difference = _first_difference(theirs, ours)
    if difference is None:
        logger.info("PreProcess in the config is the model's own (%s), which is used", where)
    else:
        logger.warning("PreProcess in the config differs from the model's and is ignored: the model is fed as "
                       "exported (%s); %s", where, difference)


def _first_difference(theirs, ours):
    for index in range(max(len(theirs), len(ours))):
        a = theirs[index] if index < len(theirs) else None
        b = ours[index] if index < len(ours) else None
        if not _same(a, b):
            return f"op {index}: the config has {a}, the model {b}"
    return None


def _same(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-6)  # PaddleClas writes 1/255 as 0.00392157
    return a == b


def write_benchmark_log(path, g, predictor) -> Path:
    """The timing summary, where PaddleClas's auto_log writes its report (Global.save_log_path)."""
    times = predictor.times
    per_image = (lambda seconds: f"{1000 * seconds / times.images:.4f}") if times.images else (lambda s: "n/a")
    lines = [
        "ppcls-hrnet deploy/python/predict_cls.py benchmark",
        f"model_name: {g.model_name or predictor.deploy.model_name}",
        f"model_dir: {predictor.deploy.model_dir}",
        f"backend: {predictor.backend}",
        f"precision: {predictor.options.precision}",
        f"device: {predictor.options.device}",
        f"enable_mkldnn: {predictor.options.enable_mkldnn}",
        f"cpu_num_threads: {predictor.options.cpu_threads}",
        f"batch_size: {predictor.batch_size}",
        f"data_shape: {list(predictor.deploy.input_shape[1:])}",
        f"images: {times.images}",
        f"batches: {times.batches}",
        f"failures: {times.failures}",
        f"preprocess_time(ms/img): {per_image(times.preprocess)}",
        f"inference_time(ms/img): {per_image(times.inference)}",
        f"postprocess_time(ms/img): {per_image(times.postprocess)}",
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def save_pre_label(result, save_dir) -> None:
    """PaddleClas's SavePreLabel: copy the image into save_dir/<top-1 class id>/."""
    target = Path(save_dir) / str(result["class_ids"][0])
    target.mkdir(parents=True, exist_ok=True)
    if Path(result["file_name"]).is_file():  # URLs are not copied
        shutil.copy(result["file_name"], target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", default=str(Path(__file__).parents[1] / "configs/inference_cls.yaml"))
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    setup_process()
    return run_guarded(lambda: predict_cls(load_config(args.config, args.override, schema=PREDICT_SCHEMA)))


if __name__ == "__main__":
    sys.exit(main())
