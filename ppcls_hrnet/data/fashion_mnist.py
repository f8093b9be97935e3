"""Fashion-MNIST (Debian package `dataset-fashion-mnist`) -> an ImageNet-style folder.

Output, readable by ImageNetDataset and PaddleClas:

    out_dir/images/{train,test}/<class>/<index>.png   (28x28 grayscale)
    out_dir/train_list.txt, test_list.txt            ("images/train/Trouser/00001.png 1")
    out_dir/label_names.txt                          ("<id> <name>", PaddleClas class_id_map)
    out_dir/holdout_train_list.txt, holdout_val_list.txt
        the training list split 90/10 (class-balanced, fixed seed): tune
        hyper-parameters on these, so the test images are only used once

Each PNG and list is written to a temporary name and renamed, lists last, so
an interrupted run never leaves a list pointing at a missing or partial image.
"""
import gzip
import os

import cv2
import numpy as np
from tqdm import tqdm

from ..preprocess.errors import DataError

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_UBYTE = 0x08


def class_dir_name(class_id):
    """Folder name without '/' or spaces (PaddleClas splits list lines on spaces)."""
    return CLASS_NAMES[class_id].replace("/", "_").replace(" ", "_")


def read_idx(path, ndim):
    """A gzipped IDX file of unsigned bytes with `ndim` dimensions -> uint8 array."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    expected_magic = bytes([0, 0, _IDX_UBYTE, ndim])
    if raw[:4] != expected_magic:
        raise DataError(f"{path}: bad IDX magic {raw[:4].hex()} (expected {expected_magic.hex()})")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header_size)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says shape {shape} but holds {data.size} values")
    return data.reshape(shape)


def load_split(source_dir, split):
    """-> (images N x 28 x 28 uint8, labels N uint8), checked against each other."""
    images_name, labels_name = SPLIT_FILES[split]
    images = read_idx(os.path.join(source_dir, images_name), ndim=3)
    labels = read_idx(os.path.join(source_dir, labels_name), ndim=1)
    if len(images) != len(labels):
        raise DataError(f"{source_dir}: {split} has {len(images)} images but {len(labels)} labels")
    if labels.size and labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{source_dir}: {split} label {labels.max()} is not a Fashion-MNIST class")
    return images, labels


def balanced_subset(labels, limit):
    """Indices of up to `limit` samples, as even across classes as the data allow,
    in their original order; None means all."""
    if limit is None:
        return np.arange(len(labels))
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise DataError(f"limit must be a positive integer or None, got {limit!r}")
    num_classes = len(CLASS_NAMES)
    chosen = []
    for class_id in range(num_classes):
        quota = limit // num_classes + (1 if class_id < limit % num_classes else 0)
        chosen.append(np.flatnonzero(labels == class_id)[:quota])
    return np.sort(np.concatenate(chosen))


HOLDOUT_FRACTION = 0.1
HOLDOUT_SEED = 0


def holdout_split(labels, fraction=HOLDOUT_FRACTION, seed=HOLDOUT_SEED):
    """(train positions, val positions) into ``labels``: ``fraction`` of every
    class (at least one of any class with two or more), drawn with a fixed
    seed, so the split is the same on every machine."""
    rng = np.random.default_rng(seed)
    val = []
    for class_id in np.unique(labels):
        members = np.flatnonzero(labels == class_id)
        size = max(1, int(round(len(members) * fraction))) if len(members) > 1 else 0
        val.append(rng.choice(members, size=size, replace=False))
    val = np.sort(np.concatenate(val)) if val else np.array([], dtype=int)
    train = np.setdiff1d(np.arange(len(labels)), val)
    return train, val


def _write_atomically(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _write_png(path, image):
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise DataError(f"cannot encode {path} as PNG")
    _write_atomically(path, encoded.tobytes())


def _convert_split(out_dir, split, images, labels, indices, progress):
    """Write the split's PNGs; -> its label-list lines."""
    for class_id in range(len(CLASS_NAMES)):
        os.makedirs(os.path.join(out_dir, "images", split, class_dir_name(class_id)), exist_ok=True)
    lines = []
    for index in tqdm(indices, desc=f"fashion-mnist {split}", unit="img", disable=not progress):
        label = int(labels[index])
        relative = f"images/{split}/{class_dir_name(label)}/{index:05d}.png"
        _write_png(os.path.join(out_dir, relative), images[index])
        lines.append(f"{relative} {label}\n")
    return lines


def convert_fashion_mnist(out_dir, source_dir=None, limit_train=None, limit_test=None, progress=True):
    """Convert (a balanced subset of) Fashion-MNIST; -> summary dict."""
    source_dir = str(source_dir or DEFAULT_SOURCE_DIR)
    missing = [name for names in SPLIT_FILES.values() for name in names
               if not os.path.isfile(os.path.join(source_dir, name))]
    if missing:
        raise DataError(f"Fashion-MNIST not found in {source_dir} (missing {', '.join(missing)}); "
                        "install it with `apt-get install dataset-fashion-mnist`, or pass the folder "
                        "holding the four *-ubyte.gz files as source_dir")
    out_dir = str(out_dir)
    limits = {"train": limit_train, "test": limit_test}
    list_lines, written_labels = {}, {}
    for split, limit in limits.items():
        images, labels = load_split(source_dir, split)
        indices = balanced_subset(labels, limit)
        list_lines[split] = _convert_split(out_dir, split, images, labels, indices, progress)
        written_labels[split] = labels[indices]  # in list order

    label_names = os.path.join(out_dir, "label_names.txt")
    _write_atomically(label_names, "".join(f"{i} {name}\n" for i, name in enumerate(CLASS_NAMES)).encode())
    holdout_train, holdout_val = holdout_split(written_labels["train"])
    list_lines["holdout_train"] = [list_lines["train"][i] for i in holdout_train]
    list_lines["holdout_val"] = [list_lines["train"][i] for i in holdout_val]
    list_paths = {}
    for split, lines in list_lines.items():
        list_paths[split] = os.path.join(out_dir, f"{split}_list.txt")
        _write_atomically(list_paths[split], "".join(lines).encode())
    return {
        "out_dir": out_dir,
        "source_dir": source_dir,
        "num_train": len(list_lines["train"]),
        "num_test": len(list_lines["test"]),
        "train_list": list_paths["train"],
        "test_list": list_paths["test"],
        "holdout_train_list": list_paths["holdout_train"],
        "holdout_val_list": list_paths["holdout_val"],
        "label_names": label_names,
        "class_names": list(CLASS_NAMES),
        "class_num": len(CLASS_NAMES),
    }
