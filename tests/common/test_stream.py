"""Rows that stay on disk: decoded when read, sharded per worker before reading, cached in memory or a file."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgesuite.common import stream
from edgesuite.common.stream import FileRows, cache_target, input_pipeline_scope, rows_dataset


def _png_rows(root, n: int = 10) -> FileRows:
    """n 4x4 grey PNGs whose every pixel is the file's number, read back as (4, 4) uint8."""
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        paths.append(root / f"{i:02d}.png")
        Image.fromarray(np.full((4, 4), i % 256, np.uint8)).save(paths[-1])
    reads = []

    def load(path):
        reads.append(path.name)
        return np.asarray(Image.open(path), np.uint8)

    rows = FileRows(paths, load, (4, 4), "test rows")
    rows.reads = reads
    return rows


def test_rows_stay_on_disk_until_read(tmp_path):
    rows = _png_rows(tmp_path / "png")
    part = rows.take([7, 2])
    assert isinstance(part, FileRows) and rows.reads == []  # a subset reads nothing
    assert part.shape == (2, 4, 4) and part.nbytes == 32
    assert part[0][0, 0] == 7 and part[1:][0, 0, 0] == 2
    assert np.asarray(part)[:, 0, 0].tolist() == [7, 2]
    assert [r[0, 0] for r in rows.map(lambda m: m * 2, "double").take([3])] == [6]


def test_two_workers_decode_disjoint_shares_of_the_files(tmp_path):
    import tensorflow as tf

    from edgesuite.common.distribute import shard_by_data

    rows = _png_rows(tmp_path / "png", n=11)
    labels = np.arange(11, dtype=np.int32) * 10  # an in-memory column travels with its rows
    seen = {}
    for worker in (0, 1):
        rows.reads.clear()
        with input_pipeline_scope(2, worker):
            ds = rows_dataset((rows, labels))
        got = [(int(x[0, 0]), int(y)) for x, y in ds.as_numpy_iterator()]
        assert all(y == 10 * x for x, y in got)
        seen[worker] = {x for x, _ in got}
        assert sorted(rows.reads) == sorted(f"{i:02d}.png" for i in seen[worker])  # decoded only its share
        policy = ds.options().experimental_distribute.auto_shard_policy
        assert policy == tf.data.experimental.AutoShardPolicy.OFF
        assert shard_by_data(ds) is ds  # the driver does not shard it again
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(11))
    assert stream.input_pipeline() == (1, 0)  # the scope is left as it was


def test_a_set_over_the_budget_is_cached_in_a_file_and_reused(tmp_path):
    rows = _png_rows(tmp_path / "png", n=6)
    logged = []
    assert cache_target([rows], budget_mb=1, cache_root=tmp_path / "cache", split="train", log=logged.append) is True
    assert "in memory" in logged[-1]
    path = cache_target([rows], budget_mb=0, cache_root=tmp_path / "cache", split="train", log=logged.append)
    assert isinstance(path, str) and "a file cache at" in logged[-1] and "written during the first epoch" in logged[-1]
    list(rows_dataset([rows]).cache(path).as_numpy_iterator())
    assert os.path.exists(path + ".index")
    rows.reads.clear()
    again = cache_target([rows], budget_mb=0, cache_root=tmp_path / "cache", split="train", log=logged.append)
    assert again == path and "reused" in logged[-1]
    assert [int(x[0, 0]) for (x,) in rows_dataset([rows]).cache(again).as_numpy_iterator()] == list(range(6))
    assert rows.reads == []  # read from the cache, not decoded again
    # another recipe (tag) or a changed file is another cache
    other = cache_target([rows.map(lambda m: m, "other")], 0, tmp_path / "cache", "train", log=logged.append)
    assert other != path


def test_a_dead_writers_lockfile_is_cleared_and_a_live_writers_folder_is_not_shared(tmp_path):
    folder = tmp_path / "cache" / "abc"
    folder.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (folder / "owner.pid").write_text(dead.stdout.strip())
    (folder / "train_0.lockfile").write_text("")
    (folder / "train_0.data-00000-of-00001.tempstate123").write_text("")
    assert stream.claim_cache_dir(folder) == folder
    assert sorted(p.name for p in folder.iterdir()) == ["owner.pid"]
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (folder / "owner.pid").write_text(str(live.pid))
        private = stream.claim_cache_dir(folder)
        assert private != folder and private.name.startswith("abc-")
    finally:
        live.kill()


def test_rows_of_different_lengths_are_refused(tmp_path):
    with pytest.raises(ValueError, match="different lengths"):
        rows_dataset((_png_rows(tmp_path / "png", n=3), np.zeros(2)))


def test_a_file_cached_training_split_shuffles_in_a_bounded_buffer_over_a_shuffled_file(tmp_path):
    """From a file cache every buffered example is a fresh copy: the buffer is bounded (here the floor of
    256 rows) and the rows are cached in a seeded random order, so each epoch still mixes the whole set."""
    from types import SimpleNamespace

    from edgesuite.common.stream import split_pipeline

    rows = _png_rows(tmp_path / "png", n=300)
    labels = np.arange(300, dtype=np.int32)
    cfg = SimpleNamespace(cache_memory_mb=0, out=str(tmp_path / "out"), seed=3, shuffle=True, batch_size=300)
    logged = []
    ds = split_pipeline((rows, labels), cfg, "test-task", "train", train=True, log=logged.append)
    assert any("shuffle: a buffer of 256 of the 300 training examples" in m for m in logged), logged
    epochs = [np.concatenate([y.numpy() for _, y in ds]) for _ in range(2)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(300))  # every example once an epoch
        assert np.corrcoef(order, np.arange(300))[0, 1] < 0.5  # not the file order
    assert not np.array_equal(epochs[0], epochs[1])  # and another order the next epoch
