"""Batches for training and eval: paddle.io.DataLoader over paddle.io.DistributedBatchSampler.

Reproducible from one `seed`: the sample order and every sample's
augmentation depend on (seed, epoch, rank) only, not on num_workers or on
which worker loads a sample. Paddle is imported when a loader is built, so
the rest of the data package stays importable without it.

A sample that fails to load must stop training with its error, but Paddle's
DataLoader hangs when the dataset raises in its reader thread (num_workers 0)
and can hang at exit when a worker raises. So nothing raises there: the
dataset is wrapped to return a `SampleFailure`, the collate function turns it
into a marker batch carrying the message (as uint8: Paddle's worker transport
carries numpy arrays), and `EpochDataLoader` raises DataError with it in the
main process. A worker process that dies (killed, crashed in native code) is
reported by Paddle within seconds; that too becomes a DataError.
"""
import functools
import itertools
import logging
import random
import re
import signal
import threading

import numpy as np

from ..errors import ConfigError, HRNetError
from ..preprocess.errors import DataError, describe_unexpected

logger = logging.getLogger(__name__)


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


class EvalShard:
    """One rank's share of an eval dataset: every `world_size`-th sample from
    `rank` on, without padding. DistributedBatchSampler pads the shards to equal
    length by repeating samples, which would count those samples twice."""

    def __init__(self, dataset, rank, world_size):
        if len(dataset) < world_size:
            raise ConfigError(f"{len(dataset)} eval images cannot be shared by {world_size} ranks: "
                              "evaluate with fewer ranks or a larger eval list")
        self.dataset = dataset
        self.indices = range(rank, len(dataset), world_size)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        return self.dataset[(self.indices[index], seed)]

    def describe(self, index):
        return self.dataset.describe(self.indices[index])

    def __getattr__(self, name):  # the dataset's other attributes (entries, skip counts, ...)
        if name in ("dataset", "indices"):  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)


class SampleFailure:
    """Returned by `ReportingDataset` instead of raising: why a sample could not be loaded."""

    def __init__(self, message):
        self.message = message


class ReportingDataset:
    """The loader's view of a dataset: item errors come back as SampleFailure.

    `skip_bad_setting` names the switch that skips bad images (e.g.
    "DataLoader.Train.dataset.skip_bad") for the message.
    """

    def __init__(self, dataset, skip_bad_setting=None):
        self.dataset = dataset
        self.skip_bad_setting = skip_bad_setting

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        try:
            return self.dataset[key]
        except DataError as err:
            setting = self.skip_bad_setting or "the dataset's skip_bad"
            return SampleFailure(f"{err}; set {setting}: True to skip bad images, or fix or remove that line")
        except Exception as err:  # a bug or an unforeseen image: still one line naming the image
            return SampleFailure(f"{self._which(key)}: {describe_unexpected(err)} "
                                 "(not a known bad-image error, so skip_bad does not skip it; "
                                 "num_workers: 0 shows the same error in the main process)")

    def _which(self, key):
        index = key[0] if isinstance(key, tuple) else key
        describe = getattr(self.dataset, "describe", None)
        if describe is not None:
            try:
                return describe(index)
            except Exception:  # noqa: BLE001  (the message must get out whatever happened)
                pass
        return f"sample {index}"


# Marker batches: Paddle's worker transport cannot carry 0-size arrays, so they
# are 1-D (a real batch is N x C x H x W). A batch whose samples were all
# skipped is dropped; a failure carries its message as uint8 bytes.
_SKIPPED_LABEL, _FAILED_LABEL = -1, -2


def _no_samples_left():
    return [np.zeros((1,), np.float32), np.full((1,), _SKIPPED_LABEL, np.int64)]


def _failure_marker(message):
    data = message.encode("utf-8", "backslashreplace") or b"?"
    return [np.frombuffer(data, np.uint8).copy(), np.full((1,), _FAILED_LABEL, np.int64)]


def _is_marker(batch):
    return len(batch[0].shape) == 1


def _marker_failure(batch):
    """The message of a failure marker batch; None for a skipped-samples marker."""
    if int(np.asarray(batch[1]).reshape(-1)[0]) != _FAILED_LABEL:
        return None
    return np.asarray(batch[0]).astype(np.uint8).tobytes().decode("utf-8", "replace")


def _shapes(samples):
    shapes = sorted({str(tuple(np.shape(sample[0]))) for sample in samples})
    return ", ".join(shapes[:4]) + (", ..." if len(shapes) > 4 else "")


def collate_skipping_bad(samples):
    """Paddle's default collate, minus samples a skip_bad dataset returned as None;
    a failed sample (or a batch that cannot be stacked) becomes a failure marker."""
    from paddle.io.dataloader.collate import default_collate_fn

    for sample in samples:
        if isinstance(sample, SampleFailure):
            return _failure_marker(sample.message)
    kept = [sample for sample in samples if sample is not None]
    if not kept:
        return _no_samples_left()
    try:
        return default_collate_fn(kept)
    except Exception as err:  # noqa: BLE001  (raising here would hang the loader)
        return _failure_marker(f"cannot make a batch of the images (shapes {_shapes(kept)}): "
                               f"{type(err).__name__}: {err}; images of one batch must end the "
                               "same size: resize or crop them in transform_ops")


class EpochDataLoader:
    """Iterates batches `[images, labels]` (paddle Tensors); each full or
    abandoned pass advances the epoch, which `set_epoch` can also set."""

    def __init__(self, loader, batch_sampler, dataset=None):
        self.loader = loader
        self.batch_sampler = batch_sampler
        self.dataset = loader.dataset if dataset is None else dataset
        self.num_workers = loader.num_workers

    @property
    def epoch(self):
        return self.batch_sampler.epoch

    def set_epoch(self, epoch):
        self.batch_sampler.epoch = int(epoch)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        iterator = iter(self.loader)
        try:
            while True:
                try:
                    batch = next(iterator)
                except StopIteration:
                    return
                except HRNetError:
                    raise
                except Exception as err:  # Paddle's own: a worker died, its queue was killed
                    raise self._loader_error(err) from None
                if not _is_marker(batch):
                    yield batch
                    continue
                message = _marker_failure(batch)
                if message is not None:
                    raise DataError(message)
                if self.batch_sampler.num_replicas > 1:
                    # Dropping a batch on one rank only would hang the gradient all-reduce.
                    raise DataError("every image of a batch was unreadable (see the warnings above); "
                                    "fix or remove them, distributed training cannot drop a whole batch")
        finally:
            self.batch_sampler.epoch += 1
            _shut_down(iterator)

    def _loader_error(self, err):
        if self.num_workers > 0:
            return _worker_died(err)
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return DataError(f"the DataLoader failed: {type(err).__name__}: {first}")


def _shut_down(iterator):
    """Stop Paddle's reader thread and worker processes now, not at garbage collection
    (at interpreter exit they may already be terminated, and Paddle's shutdown can block)."""
    shutdown = getattr(iterator, "_try_shutdown_all", None)
    if shutdown is None or getattr(iterator, "_shutdown", False):
        return
    try:
        workers = getattr(iterator, "_workers", None)
        if workers is None:
            shutdown()
            return
        queue = getattr(iterator, "_data_queue", None)
        if queue is not None and not all(worker.is_alive() for worker in workers):
            # Paddle's shutdown drains this queue; a message half written by a
            # worker that died would block that forever.
            iterator._data_queue = None
            queue.cancel_join_thread()
            queue.close()
        shutdown(1)
    except Exception as err:  # noqa: BLE001  (never hide the error that ended the epoch)
        logger.debug("DataLoader shutdown: %s", err)


def _worker_died(err):
    """DataError for Paddle's "DataLoader process (pid N) exited ..." SystemError."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"\s*\(at /paddle/[^)]*\)", "", text).replace("(Fatal) ", "").strip().rstrip(".")
    return DataError(f"a DataLoader worker process died: {text}; it was killed (out of memory?) or crashed "
                     "outside Python. Set the loader's num_workers: 0 to load in the main process, where a "
                     "crash shows its error")


def _install_worker_death_handler():
    """Paddle raises a SystemError from its SIGCHLD handler, wherever the main
    thread is, when a loader worker dies; make that a DataError (one line from
    the CLI, no traceback)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        from paddle.io import multiprocess_utils

        multiprocess_utils._set_SIGCHLD_handler()  # once per process; Paddle's later call is a no-op
    except (ImportError, AttributeError):
        return
    current = signal.getsignal(signal.SIGCHLD)
    if not callable(current) or getattr(current, "ppcls_hrnet", False):
        return

    def handler(signum, frame):
        try:
            current(signum, frame)
        except SystemError as err:
            if "DataLoader process" not in str(err):
                raise
            raise _worker_died(err) from None

    handler.ppcls_hrnet = True
    signal.signal(signal.SIGCHLD, handler)


def build_dataloader(dataset, batch_size, shuffle=False, drop_last=False, num_workers=0, seed=0,
                     distributed=False, use_shared_memory=True, skip_bad_setting=None, pad_shards=True):
    """-> EpochDataLoader. `distributed=True` shards by the rank and world size of
    `paddle.distributed.launch` (one process: the whole dataset); False always
    reads the whole dataset in this process. `pad_shards=False` (evaluation)
    shards without DistributedBatchSampler's padding, so every sample is read
    exactly once over all ranks. `seed=None`: not reproducible.
    A sample that fails raises DataError from the iteration (its message names
    `skip_bad_setting`, the config switch that would skip it)."""
    import paddle.io

    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ConfigError(f"loader seed must be a non-negative integer or None, got {seed!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    if num_workers > 0:
        _install_worker_death_handler()
    if distributed and not pad_shards:  # this rank's share, read whole
        import paddle.distributed as dist

        dataset, distributed = EvalShard(dataset, dist.get_rank(), dist.get_world_size()), False
    shard = {} if distributed else {"num_replicas": 1, "rank": 0}
    sampler = paddle.io.DistributedBatchSampler(
        dataset, batch_size=batch_size, shuffle=bool(shuffle), drop_last=bool(drop_last), **shard)
    batch_sampler = SeededBatchSampler(sampler, seed)
    loader = paddle.io.DataLoader(
        ReportingDataset(dataset, skip_bad_setting),
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        use_shared_memory=use_shared_memory,
        collate_fn=collate_skipping_bad,
        worker_init_fn=functools.partial(seed_worker_globals, batch_sampler),
        return_list=True,
    )
    return EpochDataLoader(loader, batch_sampler, dataset)
