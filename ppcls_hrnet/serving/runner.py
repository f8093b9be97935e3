"""The worker's predictor behind a bounded queue, one inference thread and a per-request timeout.

A predictor is not thread-safe and the model already uses every math thread
the worker has, so requests run one at a time on one thread while the event
loop keeps reading and answering. Admission is bounded (``max_queue``
requests waiting or running; the next gets ``busy`` -> 503 + Retry-After),
and a request that has not finished ``timeout`` seconds after admission gets
``timeout`` (a job that has not started by then is dropped; one that has is
left to finish, it cannot be interrupted).
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence

import numpy as np

from ..errors import HRNetError
from . import metrics
from .errors import ServingError

logger = logging.getLogger("ppcls_hrnet.serving")


class InferenceRunner:
    def __init__(self, predictor, max_queue: int, timeout: float):
        self.predictor = predictor
        self.max_queue = int(max_queue)
        self.timeout = float(timeout)
        self.pending = 0  # touched on the event loop thread only
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")

    # ---------------------------------------------------------------- jobs

    async def classify(self, images: Sequence[bytes], names: Optional[Sequence[str]] = None) -> List[dict]:
        """Top-k results per encoded image, in order; a bad image gets ``{"file_name", "error"}``."""
        results = await self._submit(self._classify, list(images), None if names is None else list(names))
        failed = sum("error" in r for r in results)
        metrics.IMAGES.labels("rejected").inc(failed)
        metrics.IMAGES.labels("predicted").inc(len(results) - failed)
        return results

    async def tensor(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a preprocessed float32 NCHW batch."""
        return await self._submit(self._run_tensor, batch)

    def _classify(self, images, names):
        return self.predictor.predict_encoded(images, names)

    def _run_tensor(self, batch):
        try:
            return self.predictor.engine.run(batch)
        except (HRNetError, ValueError) as err:  # InputShapeError: a batch that does not fit the model
            raise ServingError("input", str(err)) from None

    def warm_up(self) -> None:
        """One inference before serving, so the first request does not pay for lazy initialisation."""
        shape = [d if d and d > 0 else 1 for d in self.predictor.deploy.input_shape]
        self.predictor.engine.run(np.zeros(shape, np.float32))

    # ---------------------------------------------------------------- queue

    async def _submit(self, function, *args):
        if self.pending >= self.max_queue:
            raise ServingError("busy", f"server busy: {self.pending} requests already queued in this worker "
                                       f"(--max_queue {self.max_queue}); retry shortly", retry_after=1)
        loop = asyncio.get_running_loop()
        self.pending += 1
        metrics.QUEUE_DEPTH.inc()

        def finished(_):
            loop.call_soon_threadsafe(self._release)

        future = self._executor.submit(self._timed, function, *args)
        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:
            future.cancel()  # dropped if it has not started
            raise ServingError("timeout", f"no answer within {self.timeout:g} s (the server's --timeout)") from None

    def _release(self):
        self.pending -= 1
        metrics.QUEUE_DEPTH.dec()

    @staticmethod
    def _timed(function, *args):
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            metrics.INFERENCE.observe(time.perf_counter() - start)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
