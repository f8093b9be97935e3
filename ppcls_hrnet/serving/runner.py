"""The worker's predictor behind a bounded queue, one inference thread and a per-request timeout.

A predictor is not thread-safe and the model already uses every math thread
the worker has, so requests run one at a time on one thread while the event
loop keeps reading and answering. Admission is bounded (``max_queue``
requests waiting or running; the next gets ``busy`` -> 503 + Retry-After),
and a request that has not finished ``timeout`` seconds after admission gets
``timeout``. Its job is stopped: dropped if it has not started, else stopped
before its next image or model run (the image in progress cannot be
interrupted), so the next request waits for one image at most; the images
never computed are counted as ``dropped``.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Callable, List, Optional, Sequence

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
        images = list(images)
        job = partial(self._classify, images, None if names is None else list(names))
        return await self._submit(job, image_count=len(images))

    async def tensor(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for a preprocessed float32 NCHW batch."""
        return await self._submit(partial(self._run_tensor, batch))

    # Jobs run on the inference thread and take the event their request sets when it times out.
    # They count their own images and model runs: a timed-out request is answered before its
    # job ends.

    def _classify(self, images, names, stop: threading.Event) -> List[dict]:
        runs_before = self.predictor.times.batches  # this thread is the only one running the model
        try:
            results = self.predictor.predict_encoded(images, names, should_stop=stop.is_set)
        finally:
            metrics.MODEL_RUNS.inc(self.predictor.times.batches - runs_before)
        failed = sum("error" in r for r in results)
        metrics.IMAGES.labels("rejected").inc(failed)
        metrics.IMAGES.labels("predicted").inc(len(results) - failed)
        metrics.IMAGES.labels("dropped").inc(len(images) - len(results))  # stopped: fewer results
        return results

    def _run_tensor(self, batch, stop: threading.Event):
        try:
            output = self.predictor.engine.run(batch)
        except (HRNetError, ValueError) as err:  # InputShapeError: a batch that does not fit the model
            raise ServingError("input", str(err)) from None
        metrics.MODEL_RUNS.inc()
        return output

    def warm_up(self) -> None:
        """One inference before serving, so the first request does not pay for lazy initialisation."""
        shape = [d if d and d > 0 else 1 for d in self.predictor.deploy.input_shape]
        self.predictor.engine.run(np.zeros(shape, np.float32))

    # ---------------------------------------------------------------- queue

    async def _submit(self, job: Callable[[threading.Event], object], image_count: int = 0):
        """``job(stop)`` on the inference thread, within the timeout; ``image_count``: the images it
        would compute, counted as dropped if it never starts."""
        if self.pending >= self.max_queue:
            raise ServingError("busy", f"server busy: {self.pending} requests already queued in this worker "
                                       f"(--max_queue {self.max_queue}); retry shortly", retry_after=1)
        loop = asyncio.get_running_loop()
        self.pending += 1
        metrics.QUEUE_DEPTH.inc()

        def finished(_):
            loop.call_soon_threadsafe(self._release)

        stop = threading.Event()
        future = self._executor.submit(self._timed, job, stop)
        future.add_done_callback(finished)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except asyncio.TimeoutError:
            self._abandon(future, stop, image_count)
            raise ServingError("timeout", f"no answer within {self.timeout:g} s (the server's --timeout)") from None
        except asyncio.CancelledError:  # a gRPC call cancelled by its client or past its deadline
            self._abandon(future, stop, image_count)
            raise

    @staticmethod
    def _abandon(future, stop: threading.Event, image_count: int) -> None:
        stop.set()  # a running job stops before its next image or model run
        if future.cancel():  # it had not started (or was cancelled already): nothing of it runs
            metrics.IMAGES.labels("dropped").inc(image_count)

    def _release(self):
        self.pending -= 1
        metrics.QUEUE_DEPTH.dec()

    @staticmethod
    def _timed(job, stop):
        start = time.perf_counter()
        try:
            return job(stop)
        finally:
            metrics.INFERENCE.observe(time.perf_counter() - start)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
