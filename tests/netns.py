"""Run a command in a network namespace of its own with only loopback up.

Ray 2.60 tries cloud metadata addresses (169.254.169.254), a DNS look-up
for metadata.google.internal and a UDP connect to 8.8.8.8 by itself when it
starts. Every test or benchmark that starts Ray runs it through
:func:`loopback_only`, so those probes fail at once and no packet leaves
the machine. Needs root (CI runs as root), util-linux's ``unshare`` and
iproute2's ``ip``.
"""
import os
import shutil
import subprocess

import pytest


def loopback_only(command):
    """``command`` (a list) wrapped to run in a new network namespace with ``lo`` up."""
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *map(str, command)]


def namespace_problem():
    """Why a loopback-only namespace cannot be made here, or None."""
    if os.geteuid() != 0:
        return "making a network namespace needs root (CI runs as root)"
    missing = [tool for tool in ("unshare", "ip") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found: apt-get install util-linux iproute2"
    probe = subprocess.run(loopback_only(["ip", "-o", "link"]), capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"unshare --net failed: {probe.stderr.strip()}"
    links = [line.split(":")[1].strip() for line in probe.stdout.splitlines()]
    if links != ["lo"]:
        return f"the new namespace has links {links}, expected only lo"
    return None


def require_loopback_namespace():
    """Skip (or fail under CI=true) when no loopback-only namespace can be made."""
    problem = namespace_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
