"""Batches for training and eval: paddle.io.DataLoader over paddle.io.DistributedBatchSampler.

Reproducible from one `seed`: the sample order and every sample's
augmentation depend on (seed, epoch, rank) only, not on num_workers or on
which worker loads a sample. Paddle is imported when a loader is built, so
the rest of the data package stays importable without it.
"""
import functools
import itertools
import random

import numpy as np

from ..errors import ConfigError
from .errors import DataError


class SeededBatchSampler:
    """DistributedBatchSampler's sharding, padding and batching, yielding
    batches of `(index, sample_seed)` for the dataset.

    Paddle shuffles with RandomState(epoch) alone; mapping its positions
    through a permutation drawn from `seed` makes the order depend on the
    seed as well, identically on every rank, so shards stay disjoint.
    """

    def __init__(self, sampler, seed):
        self.sampler = sampler
        # Unseeded (None): paddle's order, the same on every rank as sharding
        # needs, and augmentation from fresh entropy.
        self.seed = np.random.SeedSequence().entropy if seed is None else seed
        self.epoch = 0
        self.batch_size = sampler.batch_size
        self.drop_last = sampler.drop_last
        self.rank = sampler.local_rank
        self.num_replicas = sampler.nranks
        size = len(sampler.dataset)
        seeded_order = sampler.shuffle and seed is not None
        self._order = np.random.default_rng(seed).permutation(size) if seeded_order else np.arange(size)

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        epoch = self.epoch
        self.sampler.set_epoch(epoch)
        sample_no = itertools.count()
        for batch in self.sampler:
            yield [(int(self._order[i]), (self.seed, epoch, self.rank, next(sample_no))) for i in batch]


def seed_worker_globals(batch_sampler, worker_id):
    """worker_init_fn: seed `random` and numpy's global RNG per (seed, epoch,
    rank, worker) for code that uses them; our ops use per-sample generators."""
    entropy = np.random.SeedSequence(
        [batch_sampler.seed, batch_sampler.epoch, batch_sampler.rank, worker_id])
    np.random.seed(entropy.generate_state(4))
    random.seed(int(entropy.generate_state(1)[0]))


def _no_samples_left():
    # Paddle's worker transport cannot carry 0-size arrays, so a batch whose
    # samples were all skipped travels as this 1-D marker and is dropped after.
    return [np.zeros((1,), np.float32), np.full((1,), -1, np.int64)]


def _is_no_samples_marker(batch):
    return len(batch[0].shape) == 1


def collate_skipping_bad(samples):
    """Paddle's default collate, minus samples a skip_bad dataset returned as None."""
    from paddle.io.dataloader.collate import default_collate_fn

    kept = [sample for sample in samples if sample is not None]
    return default_collate_fn(kept) if kept else _no_samples_left()


class EpochDataLoader:
    """Iterates batches `[images, labels]` (paddle Tensors); each full or
    abandoned pass advances the epoch, which `set_epoch` can also set."""

    def __init__(self, loader, batch_sampler):
        self.loader = loader
        self.batch_sampler = batch_sampler
        self.dataset = loader.dataset

    @property
    def epoch(self):
        return self.batch_sampler.epoch

    def set_epoch(self, epoch):
        self.batch_sampler.epoch = int(epoch)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        try:
            for batch in self.loader:
                if not _is_no_samples_marker(batch):
                    yield batch
                elif self.batch_sampler.num_replicas > 1:
                    # Dropping a batch on one rank only would hang the gradient all-reduce.
                    raise DataError("every image of a batch was unreadable (see the warnings above); "
                                    "fix or remove them, distributed training cannot drop a whole batch")
        finally:
            self.batch_sampler.epoch += 1


def build_dataloader(dataset, batch_size, shuffle=False, drop_last=False, num_workers=0, seed=0,
                     distributed=False, use_shared_memory=True):
    """-> EpochDataLoader. `distributed=True` shards by the rank and world size of
    `paddle.distributed.launch` (one process: the whole dataset); False always
    reads the whole dataset in this process. `seed=None`: not reproducible."""
    import paddle.io

    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"loader seed must be a non-negative integer or None, got {seed!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    shard = {} if distributed else {"num_replicas": 1, "rank": 0}
    sampler = paddle.io.DistributedBatchSampler(
        dataset, batch_size=batch_size, shuffle=bool(shuffle), drop_last=bool(drop_last), **shard)
    batch_sampler = SeededBatchSampler(sampler, seed)
    loader = paddle.io.DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        use_shared_memory=use_shared_memory,
        collate_fn=collate_skipping_bad,
        worker_init_fn=functools.partial(seed_worker_globals, batch_sampler),
        return_list=True,
    )
    return EpochDataLoader(loader, batch_sampler)
