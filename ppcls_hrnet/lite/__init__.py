"""Paddle Lite: ``.nb`` conversion (opt) and an x86 check runner, through a helper venv.

Paddle Lite exists on PyPI only as ``paddlelite==2.12`` for Python 3.7, so
everything Lite does runs in a Python 3.7 venv this package creates on first
use (:mod:`.helper_env`), never in the user's environment:

* :func:`.convert.convert_to_lite` -- opt -> ``PREFIX.nb`` + the demo config,
  recorded in inference.yml (``files.lite_<target>``);
* :class:`.engine.LiteEngine` -- runs an x86 ``.nb`` in a long-lived helper
  process (:mod:`.runner`) for ``--backend lite``.
"""
