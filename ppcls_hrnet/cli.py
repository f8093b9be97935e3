"""`ppcls-hrnet` command line: a thin dispatcher over the package's modules.

Each subcommand registers its arguments and a handler; the work itself lives
in the module the handler imports.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Callable, Dict, List, Optional

from .errors import HRNetError

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: Dict[str, tuple] = {}  # name -> (help, add_arguments)


def command(name: str, help: str):
    """Register `ppcls-hrnet NAME`: decorate a function that adds its arguments
    and returns the handler."""

    def register(add_arguments):
        _COMMANDS[name] = (help, add_arguments)
        return add_arguments

    return register


@command("models", help="table of every registered model: params and GMACs measured, published figures")
def _models(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("pattern", nargs="?", default=None, help="glob filter, e.g. 'HRNet_W18*'")
    p.add_argument("--image_size", type=int, default=224)
    p.add_argument("--no_cache", action="store_true", help="re-measure instead of reading the cache")

    def run(args):
        from .models import list_models
        from .models.zoo_table import format_table, model_rows

        names = list_models(args.pattern)
        if not names:
            raise HRNetError(f"no model matches {args.pattern!r}; run `ppcls-hrnet models` for all names")
        rows = model_rows(names, args.image_size, use_cache=not args.no_cache)
        print(format_table(rows, args.image_size))
        return 0

    return run


def _config_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="YAML config (PaddleClas schema)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o Global.epochs=2 (repeatable)")


def _load(args):
    from .config import load_config

    return load_config(args.config, args.override)


def _config_command(name: str, help: str, target: str) -> None:
    """Register a `-c CONFIG -o ...` command running ``target`` ("module:function") on the config."""

    def add_arguments(p: argparse.ArgumentParser) -> Handler:
        _config_arguments(p)

        def run(args):
            import importlib

            module, function = target.split(":")
            getattr(importlib.import_module(module, __package__), function)(_load(args))
            return 0

        return run

    command(name, help)(add_arguments)


_config_command("train", "train (or resume with -o Global.checkpoints=...) from a config", ".engine.trainer:train")
_config_command("eval", "evaluate Global.pretrained_model on DataLoader.Eval", ".engine.evaluator:run_eval")
_config_command("infer", "predict Infer.infer_imgs with the dygraph model", ".engine.infer:run_infer")


@command("export", help="write inference.json/.pdiparams (+ .pdmodel with --legacy) and inference.yml")
def _export(p: argparse.ArgumentParser) -> Handler:
    _config_arguments(p)
    p.add_argument("--legacy", action="store_true",
                   help="also write the legacy inference.pdmodel (Paddle Lite, OpenVINO's Paddle reader)")

    def run(args):
        from .export.from_config import export_from_config

        out = export_from_config(_load(args), legacy=args.legacy)
        print(f"exported to {out}")
        return 0

    return run


@command("data", help="prepare a dataset: `data fashion-mnist OUT_DIR`")
def _data(p: argparse.ArgumentParser) -> Handler:
    p.add_argument("dataset", choices=["fashion-mnist"])
    p.add_argument("out_dir")
    p.add_argument("--source", default=None, help="folder of the idx .gz files "
                   "(default: Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)")
    p.add_argument("--limit_train", type=int, default=None, help="class-balanced subset size")
    p.add_argument("--limit_test", type=int, default=None)

    def run(args):
        from .data import convert_fashion_mnist

        summary = convert_fashion_mnist(args.out_dir, source_dir=args.source,
                                        limit_train=args.limit_train, limit_test=args.limit_test)
        print(f"wrote {summary['num_train']} train and {summary['num_test']} test images to {args.out_dir}: "
              f"{summary['train_list']}, {summary['test_list']}, {summary['label_names']}")
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ppcls-hrnet",
        description="HRNet for PaddlePaddle 3.x: PaddleClas-compatible models, training, export and deployment.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=add_arguments(p))
    return parser


def _import_paddle_quietly() -> None:
    # Importing paddle warns about a missing ccache (used only to build C++
    # extensions) and sets a global "always show warnings" filter; keep both
    # out of the user's terminal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paddle  # noqa: F401


def _setup_logging() -> None:
    # paddle configures the root logger on import, so ours gets its own
    # handler (PaddleClas's line format) instead of relying on basicConfig.
    logger = logging.getLogger("ppcls_hrnet")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(asctime)s] ppcls_hrnet %(levelname)s: %(message)s",
                                               "%Y/%m/%d %H:%M:%S"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: Optional[List[str]] = None) -> int:
    _import_paddle_quietly()
    _setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except HRNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run_as_tool(command_name: str) -> None:
    """Entry of the thin tools/*.py scripts (PaddleClas's tools/train.py etc.)."""
    sys.exit(main([command_name, *sys.argv[1:]]))


if __name__ == "__main__":
    sys.exit(main())
