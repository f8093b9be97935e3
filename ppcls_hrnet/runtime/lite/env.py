"""The Paddle Lite helper venv: Python 3.7 + ``paddlelite==2.12`` + numpy.

Created on first use under ``$PPCLS_HRNET_HOME/lite-py37`` (or
``$PPCLS_HRNET_LITE_VENV``) from a Python 3.7 found as
``$PPCLS_HRNET_LITE_PYTHON``, ``python3.7`` on PATH or pyenv's 3.7.x. A file
lock keeps two processes from building it at once; a stamp file written last
marks a complete venv (a half-built one is rebuilt).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

from ...errors import HRNetError
from ...base.home import home_subdir

PYTHON_ENV = "PPCLS_HRNET_LITE_PYTHON"
VENV_ENV = "PPCLS_HRNET_LITE_VENV"
PADDLELITE = "paddlelite==2.12"
REQUIREMENTS = (PADDLELITE, "numpy")
STAMP = ".ppcls_hrnet_complete"
PIP_TIMEOUT = 900  # s, the whole install (the paddlelite wheel is ~50 MB)


class LiteUnavailableError(HRNetError):
    """No Python 3.7 or the helper venv cannot be built."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def venv_dir() -> Path:
    return Path(os.path.expanduser(os.environ.get(VENV_ENV) or str(home_subdir("lite-py37"))))


def _python_version(python: str) -> Optional[str]:
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def find_python37() -> str:
    """A Python 3.7 interpreter, or LiteUnavailableError saying where it looked."""
    explicit = os.environ.get(PYTHON_ENV)
    if explicit:
        version = _python_version(explicit)
        if version != "3.7":
            found = f"is Python {version}" if version else "does not run"
            raise LiteUnavailableError(
                f"{PYTHON_ENV}={explicit} {found}; Paddle Lite (paddlelite==2.12) needs Python 3.7: "
                f"point {PYTHON_ENV} at a python3.7 (e.g. `pyenv install 3.7.16`)")
        return explicit
    candidates = []
    on_path = shutil.which("python3.7")
    if on_path:
        candidates.append(on_path)
    pyenv_root = os.environ.get("PYENV_ROOT") or _pyenv_root() or os.path.expanduser("~/.pyenv")
    versions = Path(pyenv_root) / "versions"
    if versions.is_dir():
        candidates += [str(p / "bin" / "python") for p in sorted(versions.glob("3.7*"), reverse=True)]
    for python in candidates:
        if _python_version(python) == "3.7":
            return python
    raise LiteUnavailableError(
        "Paddle Lite (paddlelite==2.12) needs Python 3.7 and none was found (python3.7 on PATH, "
        f"{versions}/3.7*): install one (`pyenv install 3.7.16`) or set {PYTHON_ENV}=/path/to/python3.7")


def _pyenv_root() -> Optional[str]:
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return None
    try:
        out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def venv_python(directory: Optional[Path] = None) -> Path:
    return (directory or venv_dir()) / "bin" / "python"


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _complete(directory: Path) -> bool:
    """The stamp is written last, and names what was installed (a cached venv of other pins is rebuilt)."""
    stamp = directory / STAMP
    try:
        return stamp.read_text().strip() == " ".join(REQUIREMENTS) and venv_python(directory).exists()
    except OSError:
        return False


def ensure_helper_env() -> Path:
    """The helper venv's python, building the venv first if needed."""
    directory = venv_dir()
    if _complete(directory) and not os.environ.get(PYTHON_ENV):
        return venv_python(directory)
    python37 = find_python37()  # a clear error before any building
    if _complete(directory):
        return venv_python(directory)
    with _locked(directory.parent / (directory.name + ".lock")):
        if _complete(directory):  # another process finished it while we waited
            return venv_python(directory)
        if directory.exists():
            shutil.rmtree(directory)
        _say(f"creating the Paddle Lite helper environment (Python 3.7, {python37}) in {directory} ...")
        _run([python37, "-m", "venv", str(directory)], "python3.7 -m venv", timeout=300)
        _say(f"installing {' '.join(REQUIREMENTS)} into it (once) ...")
        _run([str(venv_python(directory)), "-m", "pip", "install", "--disable-pip-version-check", "-q",
              *REQUIREMENTS], f"pip install {PADDLELITE}", timeout=PIP_TIMEOUT)
        _run([str(venv_python(directory)), "-c", "import paddlelite.lite"], "import paddlelite.lite", timeout=120)
        (directory / STAMP).write_text(" ".join(REQUIREMENTS) + "\n")
        _say(f"the Paddle Lite helper environment is ready: {directory}")
    return venv_python(directory)


def _run(cmd, what: str, timeout: float) -> None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise LiteUnavailableError(f"building the Paddle Lite helper environment: {what} took over "
                                   f"{timeout:.0f} s") from None
    if out.returncode != 0:
        lines = [l for l in (out.stderr + out.stdout).splitlines() if l.strip() and "WARNING" not in l]
        reason = lines[-1].strip() if lines else f"exit code {out.returncode}"
        raise LiteUnavailableError(f"building the Paddle Lite helper environment: {what} failed: {reason}")


def helper_bin(name: str) -> Path:
    """A script installed in the helper venv (e.g. paddle_lite_opt)."""
    return venv_python().parent / name
