"""Training: the loop, its schedule, checkpoints and logs. Nothing else.

Runs as one process or as one rank under ``python -m paddle.distributed.launch``
(data parallel; only rank 0 evaluates and writes checkpoints and logs).
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import random
import time
from typing import Dict, Optional

import numpy as np
import paddle
import paddle.distributed as dist

from ..preprocess.errors import DataError
from ..errors import ConfigError
from .builders import build_loader, build_model, set_device
from .checkpoint import load_checkpoint, portable_optimizer_state, restore_optimizer_state, save_checkpoint
from .ema import ModelEMA
from .evaluator import evaluate
from .logs import MetricsLog, format_metrics, format_seconds, open_visualdl
from .losses import CombinedLoss
from .metrics import build_topk_acc
from .optim import build_lr_scheduler, build_optimizer

logger = logging.getLogger("ppcls_hrnet")


def seed_everything(seed: Optional[int]) -> None:
    if seed is None:
        return
    paddle.seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class Trainer:
    def __init__(self, cfg):
        self.cfg = cfg
        g = cfg.Global
        if cfg.get("Optimizer") is None:
            raise ConfigError("training needs an Optimizer section in the config")
        self.device = set_device(cfg)
        seed_everything(g.seed)
        self.world_size = dist.get_world_size()
        self.rank = dist.get_rank()
        if self.world_size > 1:
            dist.init_parallel_env()
        self.is_main = self.rank == 0
        self.output_dir = os.path.join(g.output_dir, cfg.Arch.name)

        self.model = build_model(cfg)
        self.train_loader = build_loader(cfg, "Train", distributed=self.world_size > 1)
        self.eval_loader = None
        if g.eval_during_train and cfg.DataLoader.get("Eval"):  # every rank evaluates its shard
            self.eval_loader = build_loader(cfg, "Eval", distributed=self.world_size > 1, pad_shards=False)
        self.train_loss = CombinedLoss(cfg.Loss.Train)
        self.eval_loss = CombinedLoss(cfg.Loss.Eval)
        self.train_metric = build_topk_acc(cfg, "Train")
        self.eval_metric = build_topk_acc(cfg, "Eval")

        self.epochs = g.epochs
        self.update_freq = g.update_freq
        self.steps_per_epoch = math.ceil(len(self.train_loader) / self.update_freq)
        self.scheduler = build_lr_scheduler(cfg.Optimizer.lr, self.epochs, self.steps_per_epoch)
        self.optimizer = build_optimizer(cfg.Optimizer, self.model.parameters(), self.scheduler)
        self.ema = ModelEMA(self.model, cfg.EMA.decay) if cfg.get("EMA") else None
        self.scaler, self.autocast = self._amp()

        self.start_epoch = 1
        self.best = {"metric": -1.0, "epoch": 0}
        if g.checkpoints:
            self._resume(g.checkpoints)
        if g.to_static:
            # forward becomes one static program per input shape instead of a
            # Python call per op; the Layer (and its state dict) stays the same
            self.model = paddle.jit.to_static(self.model, full_graph=True)
        self.net = paddle.DataParallel(self.model) if self.world_size > 1 else self.model
        self.metrics_log = MetricsLog(self._metrics_log_path()) if self.is_main else None
        self.visualdl = open_visualdl(os.path.join(self.output_dir, "vdl")) if g.use_visualdl and self.is_main else None

    # -- set-up ----------------------------------------------------------
    def _amp(self):
        amp = self.cfg.AMP
        if not amp.use_amp:
            return None, contextlib.nullcontext
        dtype, level = amp.dtype, amp.level
        if self.device != "gpu":
            from paddle.base import core

            if dtype != "bfloat16":
                logger.warning("AMP.use_amp is set but fp16 autocast needs a GPU; training in fp32 on %s "
                               "(AMP.dtype=bfloat16 runs on CPUs with AVX512-BF16)", self.device)
                return None, contextlib.nullcontext
            if not core.supports_bfloat16_fast_performance():
                logger.warning("AMP.dtype=bfloat16: this CPU has no AVX512-BF16/AMX, where bf16 would be "
                               "emulated and slower; training in fp32")
                return None, contextlib.nullcontext
            if level != "O1":  # O2 keeps bf16 master weights: the optimizer would lose precision
                raise ConfigError("AMP.dtype=bfloat16 on CPU supports AMP.level O1 only")
            logger.info("training with bfloat16 autocast (O1) on the CPU")
        # bf16 has fp32's exponent range: no loss scaling
        scaler = None if dtype == "bfloat16" else paddle.amp.GradScaler(
            init_loss_scaling=amp.scale_loss, use_dynamic_loss_scaling=amp.use_dynamic_loss_scaling)
        if level == "O2":
            self.model, self.optimizer = paddle.amp.decorate(self.model, self.optimizer, level="O2", dtype=dtype)
        return scaler, lambda: paddle.amp.auto_cast(level=level, dtype=dtype, use_promote=amp.use_promote)

    def _metrics_log_path(self) -> str:
        return self.cfg.Global.metrics_log or os.path.join(self.output_dir, "metrics.jsonl")

    def _resume(self, path: str) -> None:
        ckpt = load_checkpoint(path)
        self.model.set_state_dict(ckpt[".pdparams"])
        self.optimizer.set_state_dict(restore_optimizer_state(ckpt[".pdopt"], self.model))
        if self.ema is not None and ".pdema" in ckpt:
            self.ema.set_state_dict(ckpt[".pdema"])
        states = ckpt["states"]
        self.start_epoch = int(states["epoch"]) + 1
        self.best = dict(states.get("best", self.best))
        logger.info("resumed from %s: epoch %d done, next lr %.8f", path, states["epoch"], self.scheduler.get_lr())

    # -- the loop --------------------------------------------------------
    def fit(self) -> Dict[str, float]:
        last_eval: Dict[str, float] = {}
        if self.start_epoch > self.epochs:
            logger.info("nothing to do: %d epochs already trained", self.epochs)
        for epoch in range(self.start_epoch, self.epochs + 1):
            self.train_loader.set_epoch(epoch - 1)
            train_stats = self.train_epoch(epoch)
            if self.world_size > 1:
                self._average_bn_statistics()
            self._log("train", epoch, train_stats)
            if self.eval_loader is not None and epoch % self.cfg.Global.eval_interval == 0:
                last_eval = self.evaluate(epoch)
            if self.is_main:
                self._save(epoch, last_eval)
            if self.world_size > 1:
                dist.barrier()
        if self.world_size > 1:
            self._check_ranks_agree()
        return last_eval

    @paddle.no_grad()
    def _average_bn_statistics(self) -> None:
        # Gradients are all-reduced but BN running statistics are per rank
        # (each saw its own shard); average them so every rank evaluates and
        # saves the same model (timm's distribute_bn does the same).
        for name, buffer in self.model.state_dict().items():
            if name.endswith(("._mean", "._variance")):
                dist.all_reduce(buffer)
                buffer.set_value(buffer / self.world_size)

    def _check_ranks_agree(self) -> None:
        """Data parallel keeps one model on every rank; prove it (and record it)."""
        digest = hashlib.sha256()
        for name, value in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(value.numpy().tobytes())
        digests: list = []
        dist.all_gather_object(digests, digest.hexdigest())
        if self.is_main:
            self.metrics_log.write({"phase": "ranks", "weight_sha256": digests})
            if len(set(digests)) != 1:
                raise RuntimeError(f"data-parallel ranks ended with different weights: {digests}")
            logger.info("all %d ranks ended with identical weights (sha256 %s)", len(digests), digests[0][:16])

    def train_epoch(self, epoch: int) -> Dict[str, float]:
        self.net.train()
        self.train_metric.reset()
        sums: Dict[str, float] = {}
        seen = 0
        n_iters = len(self.train_loader)
        print_every = self.cfg.Global.print_batch_step
        tic = last = time.perf_counter()
        reader_cost = 0.0
        for it, (images, labels) in enumerate(self.train_loader, start=1):
            reader_cost += time.perf_counter() - last
            losses, logits = self._train_step(images, labels, it == n_iters or it % self.update_freq == 0)
            batch = int(labels.shape[0])
            seen += batch
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + float(value) * batch
            batch_acc = self.train_metric.update(logits.numpy(), labels.numpy())
            if self.is_main and (it % print_every == 0 or it == n_iters):
                cost = time.perf_counter() - tic
                self._log_iter(epoch, it, n_iters, {**batch_acc, **{k: float(v) for k, v in losses.items()}},
                               cost / it, reader_cost / it, batch * self.world_size / max(cost / it, 1e-9))
            last = time.perf_counter()
        if seen == 0:
            raise DataError(f"epoch {epoch} trained on no image: every batch was dropped because all its images "
                            "were skipped as bad (see the warnings above); fix the images or the train list")
        stats = {k: v / max(1, seen) for k, v in sums.items()}
        stats.update(self.train_metric.result())
        stats["lr"] = self.scheduler.get_lr()
        return stats

    def _train_step(self, images, labels, do_update: bool):
        sync = contextlib.nullcontext() if do_update or self.world_size == 1 else self.net.no_sync()
        with sync:
            with self.autocast():
                logits = self.net(images)
                losses = self.train_loss(logits, labels)
            loss = losses["loss"] / self.update_freq
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
            else:
                loss.backward()
        if do_update:
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.clear_grad()
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update(self.model)
        return losses, logits

    def evaluate(self, epoch: int) -> Dict[str, float]:
        model = self.model
        backup = None
        if self.ema is not None:  # evaluate (and keep as best) the averaged weights
            backup = {k: v.clone() for k, v in model.state_dict().items()}
            model.set_state_dict(self.ema.state_dict())
        try:
            stats = evaluate(model, self.eval_loader, self.eval_loss, self.eval_metric,
                             desc=f"eval epoch {epoch}", progress=self.is_main, over_ranks=self.world_size > 1)
        finally:
            if backup is not None:
                model.set_state_dict(backup)
        if self.world_size > 1:
            logger.info("eval epoch %d: rank %d of %d read %d of the %d images", epoch, self.rank,
                        self.world_size, len(self.eval_loader.dataset), stats["samples"])
        self._log("eval", epoch, stats)
        return stats

    # -- outputs ---------------------------------------------------------
    def _save(self, epoch: int, eval_stats: Dict[str, float]) -> None:
        payload = {".pdparams": self.model.state_dict(),
                   ".pdopt": portable_optimizer_state(self.optimizer.state_dict(), self.model)}
        if self.ema is not None:
            payload[".pdema"] = self.ema.state_dict()
        metric = eval_stats.get("top1")
        improved = metric is not None and metric > self.best["metric"]
        if improved:
            self.best = {"metric": metric, "epoch": epoch}
        states = {"epoch": epoch, "best": self.best, "metrics": eval_stats, "model": self.cfg.Arch.name,
                  "class_num": self.cfg.Arch.class_num}
        save_checkpoint(self.output_dir, "latest", payload, states)
        if epoch % self.cfg.Global.save_interval == 0:
            save_checkpoint(self.output_dir, f"epoch_{epoch}", payload, states)
        if improved:
            best_payload = dict(payload)
            if self.ema is not None:  # best_model holds the weights that scored best
                best_payload[".pdparams"] = self.ema.state_dict()
            save_checkpoint(self.output_dir, "best_model", best_payload, states)
            logger.info("[Eval][Epoch %d][best metric: %.5f] saved best_model", epoch, metric)

    def _log_iter(self, epoch, it, n_iters, values, batch_cost, reader_cost, ips):
        remaining = ((self.epochs - epoch) * n_iters + (n_iters - it)) * batch_cost
        logger.info(
            "[Train][Epoch %d/%d][Iter: %d/%d]lr(%s): %.8f, %s, batch_cost: %.5fs, reader_cost: %.5fs, "
            "ips: %.5f samples/s, eta: %s", epoch, self.epochs, it, n_iters, type(self.scheduler).__name__,
            self.scheduler.get_lr(), format_metrics(values), batch_cost, reader_cost, ips, format_seconds(remaining))

    def _log(self, phase: str, epoch: int, stats: Dict[str, float]) -> None:
        if not self.is_main:
            return
        shown = {k: v for k, v in stats.items() if k not in ("samples", "lr")}
        logger.info("[%s][Epoch %d][Avg]%s", phase.capitalize(), epoch, format_metrics(shown))
        self.metrics_log.write({"phase": phase, "epoch": epoch, **stats})
        if self.visualdl is not None:
            for name, value in shown.items():
                self.visualdl.add_scalar(tag=f"{phase}/{name}", step=epoch, value=value)


def train(cfg) -> Dict[str, float]:
    """`ppcls-hrnet train`: fit, returning the last eval metrics."""
    return Trainer(cfg).fit()
