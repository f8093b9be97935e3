"""Keep the calling thread's alternate signal stack across a native call.

OpenVINO's CPU plugin (2026.4) installs an alternate signal stack of its own
on the thread that compiles a model and puts the previous one back when that
compiled model is destroyed. Destroyed in any other order than last-in
first-out (two engines, the first freed first), the thread is left with a
stack that has been unmapped; the next signal whose handler runs on the
alternate stack (every Python-level handler: CPython installs them with
SA_ONSTACK, e.g. a SIGCHLD handler when a child exits) cannot be delivered
and the kernel kills the process with SIGSEGV. It took pytest down in CI
(reproduced in a dozen lines: tests/test_signal_stack.py). Putting the
previous stack back right after the call keeps every thread on a stack that
stays valid (Python's faulthandler's, or none); OpenVINO's own restore then
writes back that same stack.
"""
from __future__ import annotations

import contextlib
import ctypes
import sys


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.sigaltstack  # noqa: B018 - present on glibc and musl
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def current() -> tuple:
    """(address, flags, size) of this thread's alternate signal stack, or None off Linux."""
    if _LIBC is None:
        return None
    stack = _StackT()
    if _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return stack.ss_sp, stack.ss_flags, stack.ss_size


@contextlib.contextmanager
def kept():
    """Run the block, then give the thread back the alternate stack it had before."""
    if _LIBC is None:
        yield
        return
    before = _StackT()
    saved = _LIBC.sigaltstack(None, ctypes.byref(before)) == 0
    try:
        yield
    finally:
        if saved:
            SS_ONSTACK = 1  # never set for sigaltstack(); clear it if it was reported
            before.ss_flags &= ~SS_ONSTACK
            _LIBC.sigaltstack(ctypes.byref(before), None)
