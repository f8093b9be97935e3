"""ImageNet-style classification dataset: a label list of `relative/path.jpg <label>` lines.

The label list is validated in full at construction (cheap); images are read
lazily. A bad line or image is an error naming the file and line, or, with
`skip_bad=True`, is skipped and counted so the trainer can report it.
"""
import logging
import multiprocessing
import os
from dataclasses import dataclass

import numpy as np

from ..preprocess.errors import DataError, ImageError
from ..preprocess.reading import UnreadableFileError, read_image_file
from ..preprocess.transforms import HWC, Compose, build_transforms

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelEntry:
    path: str        # as written in the list, relative to image_root
    label: int
    line_no: int     # 1-based, for error messages


def parse_label_line(line, delimiter=" ", class_num=None):
    """`path<delimiter>label` -> (path, label). The label is split off the
    right, so paths may contain the delimiter. Raises ValueError with the problem."""
    parts = line.strip().rsplit(delimiter, 1)
    if len(parts) != 2 or not parts[0].strip():
        raise ValueError(f"expected '<image path>{delimiter}<integer label>'")
    path, label_text = parts[0].strip(), parts[1].strip()
    try:
        label = int(label_text)
    except ValueError:
        raise ValueError(f"label {label_text!r} is not an integer") from None
    if label < 0:
        raise ValueError(f"label {label} is negative")
    if class_num is not None and label >= class_num:
        raise ValueError(f"label {label} is out of range for class_num {class_num} (labels are 0..{class_num - 1})")
    return path, label


def read_label_list(list_path, delimiter=" ", class_num=None, skip_bad=False):
    """-> (entries, skipped): skipped holds one message per bad line when
    skip_bad, else the first bad line raises DataError."""
    try:
        with open(list_path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read label list {list_path}: {e}") from None
    entries, skipped = [], []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            path, label = parse_label_line(line, delimiter, class_num)
        except ValueError as e:
            message = f"{list_path}:{line_no}: {e}: {line!r}"
            if not skip_bad:
                raise DataError(message) from None
            skipped.append(message)
            continue
        entries.append(LabelEntry(path, label, line_no))
    return entries, skipped


def read_entry_image(image_root, entry: LabelEntry, transform, where: str = "", rng=None):
    """A label-list entry's image through ``transform``; DataError naming the
    file and its line (``where``: e.g. " of train_list.txt") if it cannot be used."""
    path = os.path.join(str(image_root), entry.path)
    try:
        return transform(read_image_file(path), rng)  # a regular file of bounded size
    except UnreadableFileError as e:
        reason = e.reason
    except ImageError as e:
        reason = str(e)
    raise DataError(f"image {path} (line {entry.line_no}{where}): {reason}")


class ImageNetDataset:
    """PaddleClas's ImageNetDataset: item i -> (CHW float32 image, int64 label).

    `transform_ops` is the YAML op list (or a built Compose). As in PaddleClas,
    an HWC result is transposed to CHW here, so train lists need no ToCHWImage.

    Indexing takes `i` or `(i, seed)`: the loader passes a per-sample seed so
    random augmentation is reproducible whatever worker loads the sample; a
    bare `i` draws from the dataset's own generator (`seed`).

    With skip_bad, a bad image makes the item None (the loader drops it from
    its batch) and adds to `skipped_images`, a counter shared with loader
    workers; bad label lines are listed in `skipped_lines`.
    """

    def __init__(self, image_root, cls_label_path, transform_ops, class_num=None,
                 delimiter=" ", skip_bad=False, seed=None):
        self.image_root = str(image_root)
        self.cls_label_path = str(cls_label_path)
        self.class_num = class_num
        self.skip_bad = skip_bad
        self.transform = transform_ops if isinstance(transform_ops, Compose) else build_transforms(transform_ops)
        if not os.path.isdir(self.image_root):
            raise DataError(f"image_root {self.image_root} is not a directory")
        self.entries, self.skipped_lines = read_label_list(
            self.cls_label_path, delimiter, class_num, skip_bad)
        if not self.entries:
            raise DataError(f"label list {self.cls_label_path} has no usable lines")
        for message in self.skipped_lines:
            logger.warning("skipping bad label line %s", message)
        # Shared memory so increments made in loader worker processes are seen here.
        self._skipped_images = multiprocessing.Value("q", 0)
        self._rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.entries)

    @property
    def labels(self):
        return [entry.label for entry in self.entries]

    @property
    def skipped_images(self):
        return self._skipped_images.value

    @property
    def num_skipped(self):
        """Bad label lines plus bad images met so far."""
        return len(self.skipped_lines) + self.skipped_images

    def describe(self, index):
        """"image PATH (line N of LIST)": how messages name item `index`."""
        entry = self.entries[index]
        return f"image {os.path.join(self.image_root, entry.path)} (line {entry.line_no} of {self.cls_label_path})"

    def _load(self, entry, rng):
        try:
            return read_entry_image(self.image_root, entry, self.transform, f" of {self.cls_label_path}", rng)
        except DataError as e:
            if not self.skip_bad:
                raise
            message = str(e)
        with self._skipped_images.get_lock():
            self._skipped_images.value += 1
        logger.warning("skipping %s", message)
        return None

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        entry = self.entries[index]
        rng = None
        if self.transform.is_random:
            rng = self._rng if seed is None else np.random.default_rng(seed)
        img = self._load(entry, rng)
        if img is None:
            return None
        if self.transform.output_layout == HWC:
            img = img.transpose((2, 0, 1))
        img = np.ascontiguousarray(img)
        if not np.issubdtype(img.dtype, np.floating):
            img = img.astype(np.float32)
        return img, np.int64(entry.label)
