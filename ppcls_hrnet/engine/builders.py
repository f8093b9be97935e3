"""Model, data and device from a validated config: shared by train, eval, infer, export."""
from __future__ import annotations

import logging
import os

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
    if device == "cpu":
        set_cpu_threads()
    return device


def requested_cpu_threads():
    """OMP_NUM_THREADS when set, else None: Paddle's own default (1 thread).

    Two threads for one process measured 1.03x (EffHRNet_H2) and 0.91x
    (HRNet_W18_C), and changed the trained weights; two ranks (1.6x) are the
    documented way to use 2 cores (docs/benchmarks.md)."""
    explicit = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(explicit) if explicit.isdigit() and int(explicit) > 0 else None


def set_cpu_threads():
    threads = requested_cpu_threads()
    if threads is not None:
        paddle.base.core.set_num_threads(threads)
        logger.info("CPU: %d math thread(s) in this process (OMP_NUM_THREADS)", threads)
    return threads


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


def build_loader(cfg, split: str, distributed: bool, pad_shards: bool = True):
    section = cfg.DataLoader[split]
    sampler, loader = section.sampler, section.get("loader") or {}
    data_loader = build_dataloader(
        build_dataset(cfg, split), batch_size=sampler.batch_size,
        shuffle=bool(sampler.get("shuffle")), drop_last=bool(sampler.get("drop_last")),
        num_workers=int(loader.get("num_workers") or 0), seed=int(cfg.Global.get("seed") or 0),
        distributed=distributed, use_shared_memory=bool(loader.get("use_shared_memory", True)),
        skip_bad_setting=f"DataLoader.{split}.dataset.skip_bad", pad_shards=pad_shards,
    )
    check_has_batches(data_loader, split)
    return data_loader


def check_has_batches(data_loader, split: str) -> None:
    """Refuse a loader that yields no batch on this rank: an "epoch" of no steps
    would log zeros and save an untrained model as best."""
    if len(data_loader) > 0:
        return
    sampler = data_loader.batch_sampler
    images, ranks, batch_size = len(data_loader.dataset), sampler.num_replicas, sampler.batch_size
    per_rank = -(-images // ranks)  # DistributedBatchSampler pads the list to a multiple of the ranks
    share = f"{images} images" if ranks == 1 else f"{images} images ({per_rank} per rank on {ranks} ranks)"
    raise ConfigError(
        f"DataLoader.{split}: {share} make no full batch of batch_size {batch_size} with drop_last: True, "
        f"so every epoch would run 0 steps; set DataLoader.{split}.sampler.batch_size to at most {per_rank} "
        f"or DataLoader.{split}.sampler.drop_last: False (or use more images)")
