"""`ppcls-hrnet export`: a trained config -> inference.json/.pdiparams (+ .pdmodel) and inference.yml."""
from __future__ import annotations

import argparse

from ..export.from_config import export_from_config
from ..export.serving import write_serving_confs
from .config_command import add_config_arguments, load


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--legacy", action="store_true",
                   help="also write the legacy inference.pdmodel (Paddle Lite, OpenVINO's Paddle reader)")
    p.add_argument("--serving", action="store_true",
                   help="also write Paddle Serving's serving_server_conf.prototxt / serving_client_conf.prototxt "
                        "(implies --legacy: Paddle Serving runs the .pdmodel; see deploy/paddleserving)")


def run(args) -> int:
    out = export_from_config(load(args), legacy=args.legacy or args.serving)
    if args.serving:
        write_serving_confs(out)
    print(f"exported to {out}")
    return 0
