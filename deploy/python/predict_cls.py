"""Classify images with an exported ppcls-hrnet model, as PaddleClas's deploy/python/predict_cls.py.

    python deploy/python/predict_cls.py -c deploy/configs/inference_cls.yaml \
        -o Global.inference_model_dir=output/inference -o Global.infer_imgs=images/ \
        -o Global.enable_mkldnn=True -o Global.batch_size=4

Prints one line per image: ``<file>:\tclass id(s): [...], score(s): [...], label_name(s): [...]``.
Everything model-specific (preprocessing, input size, labels) is read from
the model's inference.yml by the package; this script only wires the config
to ``ppcls_hrnet.create_predictor``.
"""
import argparse
import logging
import shutil
import sys
from pathlib import Path

from ppcls_hrnet.cli import run_guarded, setup_process
from ppcls_hrnet.config import PREDICT_SCHEMA, load_config
from ppcls_hrnet.predictors.api import create_predictor
from ppcls_hrnet.predictors.results import format_deploy_result, save_results

logger = logging.getLogger("ppcls_hrnet")


def predict_cls(cfg) -> int:
    g = cfg.Global
    if cfg.PreProcess:
        logger.warning("PreProcess in the config is ignored: preprocessing comes from %s/inference.yml",
                       g.inference_model_dir)
    topk = cfg.PostProcess.Topk
    predictor = create_predictor(
        inference_model_dir=g.inference_model_dir, backend="onnxruntime" if g.use_onnx else g.backend,
        precision=g.precision, use_gpu=g.use_gpu, use_tensorrt=g.use_tensorrt, use_fp16=g.use_fp16,
        enable_mkldnn=g.enable_mkldnn, cpu_num_threads=g.cpu_num_threads, gpu_mem=g.gpu_mem,
        ir_optim=g.ir_optim, batch_size=g.batch_size, topk=topk.topk, class_id_map_file=topk.class_id_map_file)
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
    if g.benchmark:
        logger.info("%s %s: %s", predictor.backend, predictor.options.precision, predictor.times.summary())
    failed = sum("error" in r for r in results)
    if failed:
        logger.error("%d of %d inputs could not be predicted", failed, len(results))
    return 1 if failed else 0


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
