"""Timing several engines fairly on one noisy machine: interleaved rounds, idle waits, medians, memory.

Between two timed runs the caller can wait until the process is idle:
Paddle's OpenMP threads keep spinning for 200 ms after every run
(KMP_BLOCKTIME) and ONNX Runtime's for ~40 ms; on a 2-core machine they
would otherwise take a core from whichever engine runs next.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

Clock = Callable[[], float]


def wait_until_idle(max_seconds: float, window: float = 0.005, busy_fraction: float = 0.1) -> None:
    """Sleep until this process uses (almost) no CPU, at most ``max_seconds``.

    The process's CPU clock counts all its threads: while a runtime's thread
    pool still spins after a run, a ``window`` of sleep costs ~``window`` of CPU.
    """
    deadline = time.perf_counter() + max_seconds
    while time.perf_counter() < deadline:
        cpu = time.process_time()
        time.sleep(window)
        if time.process_time() - cpu < busy_fraction * window:
            return


def idle_wait(settle_ms: float) -> Callable[[], None]:
    """What to call before each timed run: wait up to ``settle_ms`` for idleness (0: nothing)."""
    if not settle_ms:
        return lambda: None
    return lambda: wait_until_idle(settle_ms / 1000)


def measure_interleaved(runners: Mapping[str, Callable[[], object]], warmup: int, runs: int, *,
                        clock: Clock = time.perf_counter, settle: Callable[[], None] = lambda: None,
                        on_round: Callable[[], None] = lambda: None) -> Dict[str, List[float]]:
    """Seconds per call of each runner over ``runs`` rounds after ``warmup`` rounds.

    A round calls every runner once, in the mapping's order, so slow phases of
    a noisy machine fall on all of them. ``settle()`` runs before each call,
    outside the timed span.
    """
    seconds: Dict[str, List[float]] = {key: [] for key in runners}
    for round_index in range(warmup + runs):
        for key, run in runners.items():
            settle()
            start = clock()
            run()
            elapsed = clock() - start
            if round_index >= warmup:
                seconds[key].append(elapsed)
        on_round()
    return seconds


def summarize(seconds: Sequence[float], batch: int) -> Tuple[float, float]:
    """(median ms per batch, images per second at that median)."""
    median = statistics.median(seconds)
    return median * 1000, batch / median


def rss_mb() -> Optional[float]:
    """Resident memory of this process (Linux), or None."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
