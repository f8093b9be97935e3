"""What every entry point does: logging set-up, user errors as one line, PaddleClas-style bool flags.

Used by the command line, the server's worker processes and the deploy
scripts (``deploy/python/predict_cls.py``); imports neither Paddle nor any
other layer of the package.
"""
from __future__ import annotations

import argparse
import logging
import sys

from ..errors import HRNetError


def setup_process() -> None:
    """What every entry point (CLI, server workers, deploy scripts) does first.
    Paddle is not imported here: see :mod:`.paddle_import`."""
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
    # A file name that is not valid UTF-8 is printed as the bytes it has on disk (what `ls`
    # shows), not turned into a UnicodeEncodeError that would end the run.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


def run_guarded(function, *args) -> int:
    """Run a command: our errors become one `error: ...` line and exit code 2, not a traceback."""
    try:
        return function(*args)
    except HRNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def str2bool(text) -> bool:
    """PaddleClas writes flags as --use_gpu=False; accept that and a bare --use_gpu."""
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("true", "t", "yes", "y", "1", "on"):
        return True
    if value in ("false", "f", "no", "n", "0", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def add_bool_flag(parser: argparse.ArgumentParser, name: str, default, help: str) -> None:
    """``--name``, ``--name=False`` or ``--name True`` (PaddleClas's flag habits)."""
    parser.add_argument(name, type=str2bool, nargs="?", const=True, default=default, metavar="BOOL", help=help)
