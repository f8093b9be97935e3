"""Which images to read: a file, a folder (sorted, recursive) or a list of those."""
from __future__ import annotations

import os
from typing import Iterable, List, Union

from .errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def list_images(source: Union[str, Iterable[str]]) -> List[str]:
    if not isinstance(source, str):
        return [p for item in source for p in list_images(item)]
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
    raise DataError(f"infer_imgs {source!r} is neither an image file nor a folder")
