"""Images in, classes out: one predictor over every backend, driven by inference.yml.

    predictor = ClassificationPredictor("output/inference", RuntimeOptions(backend="auto"))
    for result in predictor.predict(["a.jpg", "photos/", "https://.../b.png"]):
        print(result)   # {"file_name", "class_ids", "scores", "label_names"} or {"file_name", "error"}

Preprocessing, input size, labels and top-k come from the model's
``inference.yml`` (written by export); nothing here repeats them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Union

import cv2
import numpy as np

from ..preprocess.errors import DataError
from ..preprocess.images import ImageBatch, iter_image_batches, list_images
from ..preprocess.transforms import opencv_decoder_limit
from .contract import DeployConfig, read_deploy_config
from .postprocess import Topk, default_label_list
from .options import RuntimeOptions
from .backends import create_engine

logger = logging.getLogger("ppcls_hrnet")


@dataclass
class StageTimes:
    """Wall time per stage over all batches (PaddleClas's `benchmark: True` report)."""

    preprocess: float = 0.0
    inference: float = 0.0
    postprocess: float = 0.0
    images: int = 0
    batches: int = 0
    failures: int = 0

    def summary(self) -> str:
        if not self.batches:
            return "no image was predicted"
        per_image = lambda t: 1000 * t / self.images  # noqa: E731
        return (f"{self.images} images in {self.batches} batches: preprocess {per_image(self.preprocess):.2f} "
                f"ms/img, inference {per_image(self.inference):.2f} ms/img, postprocess "
                f"{per_image(self.postprocess):.2f} ms/img")


class ClassificationPredictor:
    """An exported model directory + runtime options -> top-k predictions per image.

    ``max_resize_multiple``: refuse, before it runs, a resize or crop that would make an
    image of more than this many times the model input's pixels (a 2048x1 image resized
    by its short side); ``budget_setting`` names what sets it in that error. None (the
    default): only the global pixel limit applies.
    """

    def __init__(self, model_dir, options: Optional[RuntimeOptions] = None, *, batch_size: int = 1,
                 topk: Optional[int] = None, class_id_map_file: Optional[str] = None,
                 resize_short: Optional[int] = None, crop_size: Optional[int] = None,
                 max_resize_multiple: Optional[float] = None, budget_setting: str = "max_resize_multiple"):
        self.deploy: DeployConfig = read_deploy_config(model_dir)
        if resize_short is not None or crop_size is not None:
            self.deploy = self.deploy.with_preprocess(resize_short, crop_size)
        self.batch_size = int(batch_size)
        budget = None
        if max_resize_multiple is not None:
            budget = self.deploy.input_budget(max_resize_multiple, budget_setting)
        self.transforms = self.deploy.build_transforms(budget)
        # the options the engine runs with: auto's backend and precision resolved
        self.engine, self.options = create_engine(self.deploy, options or RuntimeOptions())
        self.backend = self.options.backend
        # a model exported before labels were bundled may have none: ImageNet-1k's for 1000 classes
        labels = None
        if not class_id_map_file:
            labels = self.deploy.label_list or default_label_list(self.deploy.class_num)
        self.postprocess = Topk(topk or self.deploy.topk, class_id_map_file, label_list=labels)
        self.times = StageTimes()
        logger.info("%s on %s (%s, %s)", self.deploy.model_name, self.backend, self.options.precision,
                    self.engine.source)

    def scores(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities of a preprocessed NCHW batch."""
        out = self.engine.run(batch)
        return out if self.deploy.softmax else _softmax(out)

    def predict(self, sources: Union[str, Sequence[str]]) -> Iterator[dict]:
        """Results in input order for files, folders (listed) and URLs; a bad input yields
        ``{"file_name", "error"}`` and is logged."""
        return self.predict_files(list_images(sources))

    def predict_files(self, inputs: Sequence[str], log_errors: bool = True) -> Iterator[dict]:
        """Results for image files and URLs taken as they are (a folder among them is an input
        that cannot be read, not a folder to list), in input order."""
        clock = time.perf_counter
        batches = iter_image_batches(inputs, self.transforms, self.batch_size)
        while True:
            start = clock()
            batch = next(batches, None)
            self.times.preprocess += clock() - start
            if batch is None:
                return
            yield from self._predict_batch(batch, log_errors)

    def predict_encoded(self, images: Sequence[bytes], names: Optional[Sequence[str]] = None,
                        should_stop: Optional[Callable[[], bool]] = None) -> List[dict]:
        """Encoded image files already in memory (an upload, a request body) -> results in
        input order, ``batch_size`` images per batch; nothing is written to disk.

        ``names`` become the results' ``file_name`` (default ``image_0``, ``image_1``, ...).
        An image that cannot be decoded or transformed yields ``{"file_name", "error"}``
        (not logged: the caller reports it) and the others are still predicted.

        ``should_stop`` is asked before each image's preprocessing and before each model
        run; once it returns True the batch in progress is abandoned and the results of
        the batches already done are returned: fewer results than images.
        """
        names = list(names) if names is not None else [f"image_{i}" for i in range(len(images))]
        if len(names) != len(images):
            raise ValueError(f"{len(images)} images but {len(names)} names")
        stopped = should_stop or (lambda: False)
        results: List[dict] = []
        clock = time.perf_counter
        for first in range(0, len(images), self.batch_size):
            start = clock()
            chunk = images[first:first + self.batch_size]
            arrays, errors = [], {}
            for position, data in enumerate(chunk):
                if stopped():
                    return results
                try:
                    arrays.append(self.transforms(data))
                except DataError as err:
                    errors[position] = str(err)
                except cv2.error as err:  # e.g. over OPENCV_IO_MAX_IMAGE_PIXELS: refused before decoding
                    errors[position] = _opencv_image_error(err, len(data))
            batch = ImageBatch(names[first:first + self.batch_size], np.stack(arrays) if arrays else None, errors)
            self.times.preprocess += clock() - start
            if arrays and stopped():
                return results
            results.extend(self._predict_batch(batch, log_errors=False))
        return results

    def _predict_batch(self, batch: ImageBatch, log_errors: bool = True) -> Iterator[dict]:
        clock = time.perf_counter
        for position, why in batch.errors.items():
            self.times.failures += 1
            if log_errors:
                logger.error("skipping %s: %s", batch.sources[position], why)
        predicted = iter(())
        if batch.images is not None:
            start = clock()
            probabilities = self.scores(batch.images)
            self.times.inference += clock() - start
            start = clock()
            predicted = iter(self.postprocess(probabilities, batch.names))
            self.times.postprocess += clock() - start
            self.times.images += len(batch.images)
            self.times.batches += 1
        for position, source in enumerate(batch.sources):
            if position in batch.errors:
                yield {"file_name": source, "error": batch.errors[position]}
            else:
                yield next(predicted)


def _opencv_image_error(err, size: int) -> str:
    reason = getattr(err, "err", None) or str(err).strip().splitlines()[-1]
    if "CV_IO_MAX_IMAGE_PIXELS" in reason:
        return (f"image of {size} bytes has more pixels than allowed: OpenCV's decoder limit is "
                f"{opencv_decoder_limit()} pixels (OPENCV_IO_MAX_IMAGE_PIXELS)")
    return f"not a decodable image ({size} bytes): OpenCV: {reason}"


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
