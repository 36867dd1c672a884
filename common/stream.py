"""Data sets that stay on disk: rows decoded from their files when read, in ``tf.data`` or on demand.

Segmentation and detection check every file up front (a bad one is named before training) but keep
paths and annotations, not pixels. A :class:`FileRows` is a column of N rows (images, masks) that a
numpy function decodes from each row's key; :func:`rows_dataset` turns columns into an unbatched
``tf.data`` pipeline that decodes in parallel and, in a multi-worker run, reads only this worker's
share of the rows; :func:`cache_target` says whether the decoded set is cached in memory or in a
file, so that memory stays flat as the data grows. Reading ``rows[idx]`` decodes just those rows
(plots, calibration, parity inputs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edgesuite.common.log import say
from edgesuite.common.runs import process_alive

# the input pipeline this process reads in a multi-worker run; the driver sets it (input_pipeline_scope)
_PIPELINE = {"count": 1, "index": 0}


class FileRows:
    """``len(keys)`` rows of ``row_shape`` decoded by ``load(key)`` when read; ``tag`` names what ``load``
    does (size, transforms) so that a file cache of another recipe is never reused."""

    def __init__(
        self, keys: Sequence[Any], load: Callable[[Any], np.ndarray], row_shape: tuple, tag: str, dtype: str = "uint8"
    ):
        self.keys, self.load, self.row_shape, self.tag, self.dtype = (
            list(keys),
            load,
            tuple(row_shape),
            tag,
            np.dtype(dtype),
        )

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def shape(self) -> tuple:
        return (len(self.keys), *self.row_shape)

    @property
    def nbytes(self) -> int:
        return int(len(self.keys) * np.prod(self.row_shape) * self.dtype.itemsize)

    def take(self, idx) -> FileRows:
        """The rows at ``idx``, still on disk."""
        return FileRows(
            [self.keys[int(i)] for i in np.asarray(idx, dtype=np.int64).reshape(-1)],
            self.load,
            self.row_shape,
            self.tag,
            self.dtype.name,
        )

    def map(self, fn: Callable[[np.ndarray], np.ndarray], tag: str) -> FileRows:
        """The same rows with ``fn`` applied after decoding (``tag``: what ``fn`` does)."""
        load = self.load
        return FileRows(self.keys, lambda key: fn(load(key)), self.row_shape, f"{self.tag}|{tag}", self.dtype.name)

    def __getitem__(self, idx) -> np.ndarray:
        """Decoded rows: one for an integer, a stacked array for a slice or index array."""
        if isinstance(idx, (int, np.integer)):
            return self.load(self.keys[int(idx)])
        keys = self.keys[idx] if isinstance(idx, slice) else [self.keys[int(i)] for i in np.asarray(idx).reshape(-1)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            rows = list(pool.map(self.load, keys))
        return np.stack(rows) if rows else np.zeros((0, *self.row_shape), self.dtype)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[:]
        return out.astype(dtype) if dtype is not None else out


def take(column, idx):
    """Rows ``idx`` of an in-memory array or of a :class:`FileRows` (which stays on disk)."""
    return column.take(idx) if isinstance(column, FileRows) else column[np.asarray(idx, dtype=np.int64)]


def is_streamed(columns) -> bool:
    return any(isinstance(c, FileRows) for c in columns)


def input_pipeline() -> tuple[int, int]:
    """(how many input pipelines the run has, which one this process is): (1, 0) outside multi-worker."""
    return _PIPELINE["count"], _PIPELINE["index"]


@contextlib.contextmanager
def input_pipeline_scope(count: int, index: int):
    """Within it, :func:`rows_dataset` reads pipeline ``index`` of ``count`` (the driver's multi-worker runs)."""
    if not 0 <= index < count:
        raise ValueError(f"input pipeline {index} of {count}")
    before = dict(_PIPELINE)
    _PIPELINE.update(count=count, index=index)
    try:
        yield
    finally:
        _PIPELINE.update(before)


def rows_dataset(columns: Sequence) -> Any:
    """Unbatched ``tf.data`` of the rows of equal-length columns (in-memory arrays, :class:`FileRows`).

    FileRows are decoded in parallel by their numpy ``load``. With several input pipelines (a multi-worker
    run) the row indices are sharded before anything is read, so each worker decodes only its share, and the
    auto-shard policy is OFF so that ``tf.distribute`` does not shard the result again."""
    import tensorflow as tf

    n = len(columns[0])
    if any(len(c) != n for c in columns):
        raise ValueError(f"columns of different lengths: {[len(c) for c in columns]}")
    lazy = [c for c in columns if isinstance(c, FileRows)]
    held = [np.asarray(c) for c in columns if not isinstance(c, FileRows)]
    base = tf.data.Dataset.zip((tf.data.Dataset.range(n), *[tf.data.Dataset.from_tensor_slices(a) for a in held]))
    count, index = input_pipeline()
    if count > 1:
        base = base.shard(count, index)

    def decode(i):
        i = int(i)
        return tuple(c.load(c.keys[i]).astype(c.dtype, copy=False) for c in lazy)

    def fetch(i, *in_memory):
        decoded = tf.numpy_function(decode, [i], [tf.as_dtype(c.dtype) for c in lazy], stateful=False) if lazy else []
        decoded, in_memory = list(decoded), list(in_memory)
        out = []
        for c in columns:
            if isinstance(c, FileRows):
                t = decoded.pop(0)
                t.set_shape(c.row_shape)
            else:
                t = in_memory.pop(0)
            out.append(t)
        return tuple(out)

    ds = base.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if count > 1:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        ds = ds.with_options(options)
    return ds


def cache_target(columns: Sequence, budget_mb: float, cache_root: Path, split: str, log=say) -> bool | str:
    """Where the decoded rows of one split are cached: ``True`` (memory) when they fit in ``budget_mb``,
    else a file under ``cache_root`` named by what the rows are (their files, sizes, dates and ``tag``), so a
    later run on the same data and recipe reads it instead of decoding again. Says which in the log."""
    size = sum(c.nbytes if isinstance(c, FileRows) else np.asarray(c).nbytes for c in columns)
    mb = size / 2**20
    count, index = input_pipeline()
    share = f" (this worker's share: 1/{count})" if count > 1 else ""
    if mb / count <= budget_mb:
        log(f"cache: {split} split decoded in memory ({mb / count:,.0f} MB{share}, --cache-memory-mb {budget_mb:g})")
        return True
    path = claim_cache_dir(Path(cache_root) / _digest(columns, count, index)) / split
    state = "reused" if Path(f"{path}.index").exists() else "written during the first epoch"
    log(
        f"cache: {split} split ({mb / count:,.0f} MB{share}) over --cache-memory-mb {budget_mb:g}: a file cache at "
        f"{path} ({state})"
    )
    return str(path)


def _digest(columns, count: int, index: int) -> str:
    h = hashlib.sha1(f"{count}/{index}".encode())
    for c in columns:
        if isinstance(c, FileRows):
            h.update(c.tag.encode())
            for key in c.keys:
                for path in key if isinstance(key, (tuple, list)) else (key,):
                    st = os.stat(path)
                    h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode())
        else:
            h.update(np.ascontiguousarray(c).tobytes())
    return h.hexdigest()[:16]


def claim_cache_dir(folder: Path) -> Path:
    """``folder`` for this process: partial files a dead process left (a TF cache lockfile, temp state) are
    removed; a folder another live process is writing gets a private sibling instead."""
    folder.mkdir(parents=True, exist_ok=True)
    owner = folder / "owner.pid"
    try:
        pid = int(owner.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid and pid != os.getpid() and process_alive(pid) and not any(folder.glob("*.index")):
        folder = folder.with_name(f"{folder.name}-{os.getpid()}")
        folder.mkdir(exist_ok=True)
        owner = folder / "owner.pid"
    if not any(folder.glob("*.index")):
        for stale in [*folder.glob("*.lockfile"), *folder.glob("*.tempstate*")]:
            stale.unlink(missing_ok=True)
    tmp = owner.with_name(f"owner.pid.{os.getpid()}.tmp")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, owner)
    return folder


def columns_dataset(columns: Sequence):
    """Unbatched ``tf.data`` of a split's columns: :func:`rows_dataset` when any is on disk, else the arrays."""
    import tensorflow as tf

    return rows_dataset(columns) if is_streamed(columns) else tf.data.Dataset.from_tensor_slices(tuple(columns))


def split_pipeline(columns: Sequence, cfg, task: str, split: str, *, train: bool, augment=None, log=say):
    """A split's batches: decoded rows cached in memory or in a file (:func:`cache_target`, under
    ``OUT/.cache/<task>``), then shuffled and augmented (training) and batched. The test split, read once
    after training, is not cached.

    From a file cache every example the shuffle buffer holds is a fresh copy, so a whole-set buffer would
    hold the whole set in memory again: the buffer is bounded by half of --cache-memory-mb, and the rows are put in
    a seeded random order before they are cached, so that the bounded buffer mixes a shuffled file."""
    from edgesuite.common.data import batch_pipeline

    buffer = None
    if split == "test":
        cache = not is_streamed(columns)
    elif not is_streamed(columns):
        cache = True
    else:
        if train:
            order = np.random.default_rng(cfg.seed).permutation(len(columns[0]))
            columns = [take(c, order) for c in columns]
        cache = cache_target(columns, cfg.cache_memory_mb, Path(cfg.out) / ".cache" / task, split, log=log)
        if isinstance(cache, str):
            row = sum((c.nbytes if isinstance(c, FileRows) else np.asarray(c).nbytes) for c in columns) / len(
                columns[0]
            )
            buffer = max(256, int(cfg.cache_memory_mb * 2**20 / 2 // max(row, 1)))  # half the budget
            if train and buffer < len(columns[0]):
                log(
                    f"shuffle: a buffer of {buffer} of the {len(columns[0])} training examples (the rows are cached "
                    "in a seeded random order)"
                )
    return batch_pipeline(
        columns_dataset(columns),
        cfg.batch_size,
        shuffle=train and cfg.shuffle,
        seed=cfg.seed,
        augment=augment if train else None,
        cache=cache,
        shuffle_buffer=buffer,
    )
