"""Paddle Lite in a Python 3.7 helper venv (:mod:`.env`): the ``.nb`` runner (:mod:`.runner`, run by
that Python) and the engine that talks to it (:mod:`.engine`). Conversion is :mod:`ppcls_hrnet.export.lite`.

Paddle Lite exists on PyPI only as ``paddlelite==2.12`` for Python 3.7, so
everything Lite does runs in a venv this package creates on first use, never
in the user's environment."""
