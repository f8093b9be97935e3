"""Optimizer and per-iteration learning-rate schedules from the config.

Schedules are defined in epochs (as in PaddleClas) and stepped once per
optimizer update, so warmup and decay points land on exact iterations.
"""
from __future__ import annotations

import paddle
from paddle.optimizer import lr as lr_sched

from ..errors import ConfigError


def build_lr_scheduler(lr_cfg: dict, epochs: int, steps_per_epoch: int) -> lr_sched.LRScheduler:
    name = lr_cfg.get("name", "Piecewise")
    warmup_steps = int(lr_cfg.get("warmup_epoch", 0) or 0) * steps_per_epoch
    base_lr = float(lr_cfg["learning_rate"]) if "learning_rate" in lr_cfg else None
    if name == "Piecewise":
        values = [float(v) for v in lr_cfg["values"]]
        boundaries = [int(e) * steps_per_epoch for e in lr_cfg["decay_epochs"]]
        schedule = lr_sched.PiecewiseDecay(boundaries=boundaries, values=values)
        peak = values[0]
    elif name == "Cosine":
        decay_steps = max(1, (epochs * steps_per_epoch) - warmup_steps)
        schedule = lr_sched.CosineAnnealingDecay(
            learning_rate=base_lr, T_max=decay_steps, eta_min=float(lr_cfg.get("eta_min", 0.0) or 0.0)
        )
        peak = base_lr
    else:
        raise ConfigError(f"Optimizer.lr.name: unknown schedule {name!r}; use Piecewise or Cosine")
    if warmup_steps:
        schedule = lr_sched.LinearWarmup(
            learning_rate=schedule, warmup_steps=warmup_steps,
            start_lr=float(lr_cfg.get("warmup_start_lr", 0.0) or 0.0), end_lr=peak,
        )
    return schedule


def build_optimizer(opt_cfg: dict, parameters, scheduler) -> paddle.optimizer.Optimizer:
    name = opt_cfg.get("name", "Momentum")
    if name != "Momentum":
        raise ConfigError(f"Optimizer.name: unknown optimizer {name!r}; use Momentum")
    reg = opt_cfg.get("regularizer") or {}
    decay = None
    if reg:
        if reg.get("name", "L2") != "L2":
            raise ConfigError(f"Optimizer.regularizer.name: {reg.get('name')!r} is not supported; use L2")
        decay = paddle.regularizer.L2Decay(float(reg.get("coeff", 0.0)))
    return paddle.optimizer.Momentum(
        learning_rate=scheduler, momentum=float(opt_cfg.get("momentum", 0.9)),
        parameters=parameters, weight_decay=decay,
    )
