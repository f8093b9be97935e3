"""Which images to read and their bytes: a file, a folder (sorted, recursive),
an http(s) URL, or a list of those.

A folder lists every entry named like an image (``IMAGE_EXTENSIONS``): the
regular files, and the odd entries too -- a FIFO, a device, a directory or a
broken link named ``x.jpg`` -- so that each is reported once, as the input
it names, when :mod:`.reading` refuses it without opening it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from .errors import DataError, describe_unexpected
from .reading import fetch_url, is_url, max_image_bytes, read_image_file, url_deadline

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def list_images(source: Union[str, Iterable[str]]) -> List[str]:
    """The inputs ``source`` names, in order; the read limits' settings are checked here,
    once per run, not once per image."""
    max_image_bytes(), url_deadline()
    if not isinstance(source, (str, os.PathLike)):
        return [p for item in source for p in list_images(item)]
    source = os.fspath(source)
    if is_url(source):
        return [source]  # fetched when read
    if os.path.lexists(source) and not os.path.isdir(source):
        return [source]  # a regular file, or an odd one that reading refuses by name
    if os.path.isdir(source):
        # os.walk lists symlinked folders among the folders without entering them; a
        # folder named like an image is entered and also listed, to be reported. Sorted by
        # the names' bytes, as the C++ predictor sorts them (for UTF-8 names that is the
        # code point order; a name that is not UTF-8 sorts by its bytes on both sides).
        found = sorted(
            (os.path.join(root, name)
             for root, folders, names in os.walk(source)
             for name in folders + names
             if name.lower().endswith(IMAGE_EXTENSIONS)),
            key=os.fsencode)
        if not found:
            raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {source}")
        return found
    raise DataError(f"infer_imgs {source!r} is neither an image file, a folder nor an http(s) URL")


def read_image_bytes(source: str) -> bytes:
    """The encoded bytes of a file or URL, bounded (see :mod:`.reading`); ImageError saying why not."""
    return fetch_url(source) if is_url(source) else read_image_file(source)


@dataclass
class ImageBatch:
    """One batch of inputs: the preprocessed readable ones and why the others failed."""

    sources: List[str]  # every input of the batch, in order
    images: Optional[np.ndarray]  # N x C x H x W, the readable sources in order; None if none
    errors: Dict[int, str]  # position in ``sources`` -> why it could not be used

    @property
    def names(self) -> List[str]:
        """The sources of ``images``."""
        return [s for i, s in enumerate(self.sources) if i not in self.errors]


def iter_image_batches(sources: Sequence[str], transforms, batch_size: int) -> Iterator[ImageBatch]:
    """Read and preprocess ``sources`` in batches of up to ``batch_size`` inputs.

    A bad input (unreadable, not an image, too large, unreachable URL, or
    anything else its preprocessing raises) is reported in ``errors`` of its
    batch; the others are still predicted.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(sources), batch_size):
        chunk = list(sources[start:start + batch_size])
        images, errors = [], {}
        for position, source in enumerate(chunk):
            try:
                images.append(transforms(read_image_bytes(source)))
            except DataError as err:
                errors[position] = str(err)
            except Exception as err:  # noqa: BLE001  (one input must not end the others' predictions)
                errors[position] = describe_unexpected(err)
        yield ImageBatch(chunk, np.stack(images) if images else None, errors)
