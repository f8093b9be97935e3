"""Import Paddle the way every entry point wants it: late, quiet, and without its SIGTERM handler.

Paddle is imported only by the code paths that run it (training, export,
the Paddle Inference backend); predicting on OpenVINO or ONNX Runtime never
imports it, which is most of a cold start's time.
"""
from __future__ import annotations

import signal
import sys
import warnings


def import_paddle():
    """``import paddle``, with two of its side effects undone.

    - It warns about a missing ccache (used only to build C++ extensions)
      and sets a global "always show warnings" filter: both stay out of the
      user's terminal.
    - It installs a SIGTERM handler that aborts the process with a C++ stack
      dump ("FatalError: Termination signal"), so servers could not drain
      requests and exit 0: the handler that was there before is put back.
    """
    if "paddle" in sys.modules:
        return sys.modules["paddle"]
    previous = signal.getsignal(signal.SIGTERM)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import paddle
    if previous is not None:  # None: the handler was not installed from Python; leave Paddle's
        try:
            signal.signal(signal.SIGTERM, previous)
        except ValueError:  # not the main thread: signals cannot be set here
            pass
    return paddle
