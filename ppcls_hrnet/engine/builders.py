"""Model, data and device from a validated config: shared by train, eval, infer, export."""
from __future__ import annotations

import logging

import paddle

from ..data import ImageNetDataset, build_dataloader
from ..errors import ConfigError
from ..models import create_model

logger = logging.getLogger("ppcls_hrnet")


def set_device(cfg) -> str:
    device = cfg.Global.device
    if device == "gpu" and not paddle.device.is_compiled_with_cuda():
        raise ConfigError(
            "Global.device is 'gpu' but this Paddle build is CPU-only: add -o Global.device=cpu, "
            "or install paddlepaddle-gpu (see README)"
        )
    if device not in ("cpu", "gpu"):
        raise ConfigError(f"Global.device {device!r} is not supported here; use cpu or gpu")
    paddle.set_device(device)
    return device


def require_trained_weights(cfg, purpose: str) -> None:
    """eval/infer/export on random weights would print meaningless results: refuse."""
    if not cfg.Global.pretrained_model and not cfg.Arch.pretrained:
        raise ConfigError(f"{purpose} needs trained weights: -o Global.pretrained_model=output/<model>/best_model "
                          "(or -o Arch.pretrained=True for PaddleClas's ImageNet weights)")


def build_model(cfg, pretrained=None):
    """The Arch model; ``pretrained`` (path/URL) defaults to Global.pretrained_model."""
    arch = cfg.Arch
    weights = pretrained if pretrained is not None else cfg.Global.get("pretrained_model")
    if not weights and arch.get("pretrained"):
        weights = arch.pretrained  # True (official weights) or a path/URL
    return create_model(arch.name, class_num=arch.class_num, pretrained=weights or False,
                        use_ssld=bool(arch.get("use_ssld")))


def build_dataset(cfg, split: str) -> ImageNetDataset:
    section = cfg.require(f"DataLoader.{split}", f"{split.lower()} data")
    ds = section.dataset
    return ImageNetDataset(
        image_root=ds.image_root, cls_label_path=ds.cls_label_path,
        transform_ops=ds.transform_ops, class_num=cfg.Arch.class_num,
        delimiter=ds.delimiter, skip_bad=ds.skip_bad,
    )


def build_loader(cfg, split: str, distributed: bool):
    section = cfg.DataLoader[split]
    sampler, loader = section.sampler, section.get("loader") or {}
    return build_dataloader(
        build_dataset(cfg, split), batch_size=sampler.batch_size,
        shuffle=bool(sampler.get("shuffle")), drop_last=bool(sampler.get("drop_last")),
        num_workers=int(loader.get("num_workers") or 0), seed=int(cfg.Global.get("seed") or 0),
        distributed=distributed, use_shared_memory=bool(loader.get("use_shared_memory", True)),
    )
