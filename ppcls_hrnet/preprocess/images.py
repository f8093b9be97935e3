"""Which images to read and their bytes: a file, a folder (sorted, recursive),
an http(s) URL, or a list of those."""
from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np

from .errors import DataError, ImageError, describe_unexpected

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
URL_TIMEOUT = 20  # seconds
MAX_URL_BYTES = 64 << 20  # an image, not a video or a disk image


def is_url(source: str) -> bool:
    return urllib.parse.urlsplit(source).scheme in ("http", "https")


def list_images(source: Union[str, Iterable[str]]) -> List[str]:
    if not isinstance(source, (str, os.PathLike)):
        return [p for item in source for p in list_images(item)]
    source = os.fspath(source)
    if is_url(source):
        return [source]  # fetched when read
    if os.path.isfile(source):
        return [source]
    if os.path.isdir(source):
        found = sorted(
            os.path.join(root, name)
            for root, _, names in os.walk(source)
            for name in names
            if name.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not found:
            raise DataError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {source}")
        return found
    raise DataError(f"infer_imgs {source!r} is neither an image file, a folder nor an http(s) URL")


def read_image_bytes(source: str) -> bytes:
    """The encoded bytes of a file or URL; ImageError saying why not."""
    if is_url(source):
        return _fetch(source)
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as err:
        raise ImageError(f"cannot read {source}: {err.strerror or err}") from None


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT) as response:
            data = response.read(MAX_URL_BYTES + 1)
    except urllib.error.HTTPError as err:
        raise ImageError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ImageError(f"cannot download {url}: {reason} (check the address and the network)") from None
    if len(data) > MAX_URL_BYTES:
        raise ImageError(f"{url} is larger than {MAX_URL_BYTES >> 20} MB; not an image")
    return data


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
