"""Paddle Serving 0.9 pipeline for an exported ppcls-hrnet model (PaddleClas's
classification_web_service.py, driven by the model's inference.yml).

    python web_service.py --model_dir ../../output/inference [--config config.yml]

Runs on Python 3.8 with paddlepaddle 2.6.2 and paddle-serving-server 0.9.0
(setup_venv.sh); needs ppcls_hrnet importable without Paddle 3 (this checkout is
put on sys.path when it is not installed). The model directory must hold the
legacy inference.pdmodel and serving_server_conf.prototxt
(`ppcls-hrnet export -c CONFIG --serving`, or
`python -m ppcls_hrnet.export.serving MODEL_DIR` for an existing export).

HTTP, as PaddleClas's pipeline: POST http://127.0.0.1:18080/imagenet/prediction
with {"key": ["image"], "value": ["<base64 of the image file>"]} (several keys:
several images, one batch) -> {"err_no": 0, "err_msg": "", "key": ["label", "prob"],
"value": ["['daisy']", "[0.93...]"], "tensors": []}: str() of the top-1 label
names (commas removed) and top-1 probabilities, one entry per image. An image
that cannot be decoded gives err_no 51 (BAD_INPUT) and its key in err_msg.

Preprocessing and labels are the package's: the transform ops and label list
of inference.yml (ppcls_hrnet.runtime.contract), nothing repeated here.
"""
import argparse
import base64
import binascii
import os
import sys
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
OP_NAME = "imagenet"  # URL path /imagenet/prediction, as PaddleClas's
BAD_INPUT = 51  # Paddle Serving's product error codes are 51..99

try:
    import ppcls_hrnet  # noqa: F401  (an installed package wins)
except ImportError:  # a checkout: deploy/paddleserving/ -> repository root
    sys.path.insert(0, str(HERE.parents[1]))

from ppcls_hrnet.preprocess.errors import DataError  # noqa: E402
from ppcls_hrnet.runtime.contract import read_deploy_config  # noqa: E402
from ppcls_hrnet.errors import HRNetError  # noqa: E402
from ppcls_hrnet.runtime.postprocess import default_label_list, topk_indices  # noqa: E402


class ServiceSetupError(Exception):
    pass


class ClassifierModel:
    """What the op needs from the model directory: transforms, feed name, labels."""

    def __init__(self, model_dir):
        self.deploy = read_deploy_config(model_dir)
        # what Paddle Serving's local predictor opens in model_config
        missing = [name for name in ("inference.pdmodel", "inference.pdiparams", "serving_server_conf.prototxt")
                   if not (self.deploy.model_dir / name).is_file()]
        if missing:
            raise ServiceSetupError(
                f"{model_dir} has no {' or '.join(missing)}: export it with `ppcls-hrnet export -c CONFIG "
                f"--serving`, or run `python -m ppcls_hrnet.export.serving {model_dir}` on a --legacy export")
        self.transforms = self.deploy.build_transforms()
        self.feed_name = self.deploy.input_name
        self.labels = self.deploy.label_list or default_label_list(self.deploy.class_num)

    def preprocess(self, images: dict) -> np.ndarray:
        """{key: base64 text of an image file} -> N x C x H x W float32, in key order."""
        batch = []
        for key, value in images.items():
            try:
                data = base64.b64decode(value.encode("utf8") if isinstance(value, str) else value, validate=True)
                batch.append(self.transforms(data))
            except (binascii.Error, ValueError, DataError) as e:
                raise BadInput(f"{key}: {e}") from None
        if not batch:
            raise BadInput('no image in the request: send {"key": ["image"], "value": ["<base64>"]}')
        return np.stack(batch)

    def postprocess(self, scores: np.ndarray) -> dict:
        """Scores -> PaddleClas's reply: str() of top-1 label names and probabilities."""
        scores = np.asarray(scores, dtype=np.float32)
        if not self.deploy.softmax:
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
        ids, values = topk_indices(scores, 1)
        labels = [(self.labels[int(i)] if self.labels else str(int(i))).strip().replace(",", "")
                  for i in ids[:, 0]]
        return {"label": str(labels), "prob": str([float(v) for v in values[:, 0]])}


class BadInput(ValueError):
    pass


def build_service(model_dir):
    """The WebService (its Op classes need paddle_serving_server: imported here)."""
    from paddle_serving_server.web_service import Op, WebService

    class ImagenetOp(Op):
        def init_op(self):
            self.model = ClassifierModel(model_dir)

        def preprocess(self, input_dicts, data_id, log_id):
            (_, input_dict), = input_dicts.items()
            try:
                return {self.model.feed_name: self.model.preprocess(input_dict)}, False, None, ""
            except BadInput as e:
                return None, True, BAD_INPUT, str(e)

        def postprocess(self, input_dicts, fetch_dict, data_id, log_id):
            (scores,) = [v for k, v in fetch_dict.items() if not k.endswith(".lod")]
            return self.model.postprocess(scores), None, ""

    class ImageService(WebService):
        def get_pipeline_response(self, read_op):
            return ImagenetOp(name=OP_NAME, input_ops=[read_op])

    return ImageService(name=OP_NAME)


def bind_rpc_to(host: str) -> None:
    """Make the pipeline's gRPC server listen on ``host`` instead of all interfaces.

    Paddle Serving 0.9 hard-codes ``add_insecure_port("[::]:<rpc_port>")``; this
    process's grpc.server is wrapped to rewrite that address. (Its HTTP gateway,
    a Go library, listens on all interfaces regardless.)
    """
    import grpc

    make_server = grpc.server

    def server(*args, **kwargs):
        made = make_server(*args, **kwargs)
        add_port = made.add_insecure_port
        made.add_insecure_port = lambda address: add_port(
            f"{host}:{address[len('[::]:'):]}" if address.startswith("[::]:") else address)
        return made

    grpc.server = server


def load_config(config_file, model_dir=None) -> dict:
    """config.yml with model_config made absolute (relative paths: from the config's folder)
    and replaced by ``model_dir`` when given."""
    config_file = Path(config_file)
    conf = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    try:
        service = conf["op"][OP_NAME]["local_service_conf"]
    except (KeyError, TypeError):
        raise ServiceSetupError(f"{config_file}: expected op: {{{OP_NAME}: {{local_service_conf: ...}}}} "
                                "as in PaddleClas's deploy/paddleserving/config.yml") from None
    if model_dir is not None:
        service["model_config"] = str(Path(model_dir).resolve())
    elif service.get("model_config"):
        service["model_config"] = str((config_file.parent / service["model_config"]).resolve())
    else:
        raise ServiceSetupError(f"{config_file} names no model_config; pass --model_dir")
    return conf


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Paddle Serving pipeline for an exported ppcls-hrnet model")
    parser.add_argument("--config", default=str(HERE / "config.yml"), help="PaddleClas-style config.yml")
    parser.add_argument("--model_dir", default=None,
                        help="exported model with inference.pdmodel + serving_server_conf.prototxt "
                             "(default: the config's op.imagenet.local_service_conf.model_config)")
    parser.add_argument("--rpc_host", default=None,
                        help="address for the gRPC port, e.g. 127.0.0.1 (default: all interfaces, as Paddle "
                             "Serving; the HTTP gateway always listens on all interfaces)")
    args = parser.parse_args(argv)
    try:
        conf = load_config(args.config, args.model_dir)
        model_dir = conf["op"][OP_NAME]["local_service_conf"]["model_config"]
        ClassifierModel(model_dir)  # fail here, with a message, rather than in a worker process
    except (ServiceSetupError, HRNetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"serving {model_dir} on http_port {conf.get('http_port')}, rpc_port {conf.get('rpc_port')} "
          f"(logs: {os.getcwd()}/PipelineServingLogs)", flush=True)
    if args.rpc_host:
        bind_rpc_to(args.rpc_host)
    service = build_service(model_dir)
    service.prepare_pipeline_config(yml_dict=conf)
    service.run_service()
    return 0


if __name__ == "__main__":
    sys.exit(main())
