"""Data layer: PaddleClas transform ops, ImageNet-style dataset, loader, Fashion-MNIST.

Everything but `build_dataloader` is pure numpy/cv2; that one imports paddle
when called.
"""
from .dataset import ImageNetDataset, read_label_list
from ..preprocess.errors import DataError, ImageError
from .fashion_mnist import CLASS_NAMES as FASHION_MNIST_CLASSES, convert_fashion_mnist
from .loader import build_dataloader
from ..preprocess.transforms import OPS, Compose, build_transforms, parse_fraction

__all__ = ["ImageNetDataset", "read_label_list", "DataError", "ImageError", "FASHION_MNIST_CLASSES",
           "convert_fashion_mnist", "build_dataloader", "OPS", "Compose", "build_transforms",
           "parse_fraction"]
