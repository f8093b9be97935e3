"""`ppcls-hrnet data`: prepare a dataset (Fashion-MNIST from Debian's package)."""
from __future__ import annotations

import argparse

from ..data import convert_fashion_mnist


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", choices=["fashion-mnist"])
    p.add_argument("out_dir")
    p.add_argument("--source", default=None, help="folder of the idx .gz files "
                   "(default: Debian's dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)")
    p.add_argument("--limit_train", type=int, default=None, help="class-balanced subset size")
    p.add_argument("--limit_test", type=int, default=None)


def run(args) -> int:
    summary = convert_fashion_mnist(args.out_dir, source_dir=args.source,
                                    limit_train=args.limit_train, limit_test=args.limit_test)
    print(f"wrote {summary['num_train']} train and {summary['num_test']} test images to {args.out_dir}: "
          f"{summary['train_list']}, {summary['test_list']}, {summary['label_names']}")
    print(f"held-out split of the training list (tune on these, not on the test images): "
          f"{summary['holdout_train_list']}, {summary['holdout_val_list']}")
    return 0
