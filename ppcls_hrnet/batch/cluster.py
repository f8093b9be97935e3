"""Ray for the batch job: a local Ray on this machine, or a cluster's (``auto``, ``ray://...``).

Ray 2.60's ``ray.init()`` probes, by itself, cloud metadata addresses and a
public DNS server (to guess its IP) and reports usage statistics unless told
not to; the job turns the statistics off unless the user chose otherwise and
binds a local Ray to loopback.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
from typing import Optional

from ..errors import ConfigError, HRNetError

logger = logging.getLogger("ppcls_hrnet")

USAGE_STATS_ENV = "RAY_USAGE_STATS_ENABLED"


class RayUnavailableError(HRNetError):
    """Ray Data is not installed."""


def import_ray():
    """``ray`` with Ray Data, or RayUnavailableError saying how to install it."""
    os.environ.setdefault(USAGE_STATS_ENV, "0")  # before ray is imported: it reads it early
    try:
        ray = importlib.import_module("ray")
        importlib.import_module("ray.data")
    except ImportError as err:
        raise RayUnavailableError(f"predict-batch runs on Ray Data, which is not installed ({err}); "
                                  "install it with: pip install 'ppcls-hrnet[ray]'") from None
    return ray


@contextlib.contextmanager
def ray_session(address: Optional[str], num_cpus: Optional[int]):
    """Ray for the job's duration: started here on loopback (``address`` None, ``num_cpus``
    logical CPUs) or joined (``auto`` or ``ray://host:10001``); shut down afterwards."""
    ray = import_ray()
    if ray.is_initialized():  # the caller's own Ray (a notebook, a test's cluster): used as it is
        yield ray
        return
    if address is None:
        options = dict(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1")
    else:
        if address != "auto" and not address.startswith("ray://") and ":" not in address:
            raise ConfigError(f"--ray_address {address!r}: give auto, ray://HOST:10001 or HOST:6379")
        options = dict(address=address)
    ray.init(logging_level=logging.WARNING, log_to_driver=False, configure_logging=True, **options)
    # Ray Data says at INFO level, and warns, about its own progress bars, which the job replaces
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    try:
        yield ray
    finally:
        ray.shutdown()
