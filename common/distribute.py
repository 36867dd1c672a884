"""``--strategy``: which ``tf.distribute`` strategy the driver trains under.

    auto          MirroredStrategy over the local GPUs when there are two or more, else the default
    default       one device (the default strategy)
    mirrored      MirroredStrategy over all local GPUs, or ``--devices N`` logical devices (CPU too)
    multi-worker  MultiWorkerMirroredStrategy; the cluster comes from ``TF_CONFIG``
    tpu           TPUStrategy from ``TPUClusterResolver`` (``--tpu NAME``, or the environment's TPU)

The Task never sees the strategy: the driver builds and compiles the model in
its scope, gives ``fit`` the global batch (Keras splits it per replica) and sets
the data sets' auto-shard policy to DATA, so with several workers each example
is used by exactly one of them per epoch. Pipelines that decode files
(``common.stream``: segmentation, detection) shard the file list before reading
instead, so each worker decodes only its share (the driver tells them which). Only the chief writes the run
directory; the other workers write to a temporary folder that is removed.

Fault tolerance (multi-worker, with ``--name``): a worker that loses a peer
mid-training (the collective fails with UNAVAILABLE) restarts itself with the
same command line, up to ``--restarts`` times; a worker started with ``--name``
of an unfinished run resumes it. So when one worker dies, the survivors wait in
start-up for it, and once it is restarted with its usual command the whole
cluster resumes from the last completed epoch. Every worker reads the chief's
run folder to resume, so ``--out`` must be storage they all see; they check
that they agree on the epoch before training.
"""

from __future__ import annotations

import json
import os

from edgesuite.common.config import STRATEGIES
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say


def configure_devices(name: str, devices: int, log=say) -> None:
    """Splits the CPU into ``devices`` logical devices for ``mirrored`` on a machine without GPUs.

    Must run before TensorFlow initialises its devices (before any tensor is made).
    """
    import tensorflow as tf

    if name != "mirrored" or devices <= 1 or tf.config.list_physical_devices("GPU"):
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    except RuntimeError:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != devices:
            raise UserInputError(
                f"devices: TensorFlow already started with {current} CPU device(s) in this "
                f"process; --devices {devices} must be set before anything else runs"
            ) from None


def make_strategy(name: str, devices: int = 0, tpu: str = "", log=say):
    """The strategy object for ``name``; prints the choice with its devices."""
    import tensorflow as tf

    # physical, not logical: listing logical devices starts the TF runtime, after which the
    # multi-worker strategy can no longer configure its collective ops
    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if name == "multi-worker":
        cluster = _tf_config()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        log(
            f"strategy: multi-worker, worker {cluster['task'].get('index', 0)} of "
            f"{len(cluster['cluster']['worker'])}, {strategy.num_replicas_in_sync} replica(s) in all"
        )
        return strategy
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "default":
        strategy = tf.distribute.get_strategy()
        devs = gpus[:1] or [d.name for d in tf.config.list_logical_devices("CPU")][:1]
    elif name == "mirrored":
        devs = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        if devices:
            if devices > len(devs):
                raise UserInputError(f"devices: asked for {devices}, this machine has {len(devs)} ({', '.join(devs)})")
            devs = devs[:devices]
        # on CPUs the NCCL default cannot run; HierarchicalCopyAllReduce needs GPUs too
        ops = None if gpus else tf.distribute.ReductionToOneDevice()
        strategy = tf.distribute.MirroredStrategy(devices=devs, cross_device_ops=ops)
    elif name == "tpu":
        strategy, devs = _tpu_strategy(tpu)
    else:
        raise UserInputError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {name!r}")
    log(f"strategy: {name} with {strategy.num_replicas_in_sync} replica(s) on {', '.join(devs)}")
    return strategy


def _tf_config() -> dict:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserInputError(
            "strategy multi-worker: TF_CONFIG is not set; it names the cluster and this worker, e.g. "
            'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\''
        )
    try:
        cfg = json.loads(raw)
        workers = cfg["cluster"]["worker"]
        if not isinstance(cfg["task"]["type"], str) or not isinstance(cfg["task"].get("index", 0), int):
            raise TypeError("task.type must be a string and task.index an integer")
    except (ValueError, KeyError, TypeError) as exc:
        raise UserInputError(
            f"TF_CONFIG: expected {{'cluster': {{'worker': [...]}}, 'task': {{'type': ..., "
            f"'index': ...}}}} ({exc.__class__.__name__}: {exc})"
        ) from None
    if not isinstance(workers, list) or not workers:
        raise UserInputError("TF_CONFIG: cluster.worker must be a non-empty list of host:port")
    return cfg


def _tpu_strategy(tpu: str):
    """The TPU path the TensorFlow guide prescribes: resolve, connect, initialise, TPUStrategy."""
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise UserInputError(
            f"strategy tpu: no TPU found ({first}); run on a TPU VM or pass --tpu NAME, or use --strategy auto"
        ) from None
    return tf.distribute.TPUStrategy(resolver), [d.name for d in tf.config.list_logical_devices("TPU")]


def is_chief(strategy) -> bool:
    """True for the one process that writes the run directory (always, outside multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    cluster = resolver.cluster_spec().as_dict()
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in cluster


def input_pipeline_of(strategy) -> tuple[int, int]:
    """(workers, this worker's rank) of a multi-worker strategy, chief first; (1, 0) for any other."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None) or not is_multi_worker(strategy):
        return 1, 0
    cluster = resolver.cluster_spec().as_dict()
    chiefs = len(cluster.get("chief", []))
    count = chiefs + len(cluster.get("worker", []))
    rank = 0 if resolver.task_type == "chief" else chiefs + int(resolver.task_id)
    return count, rank


def shard_by_data(ds):
    """Each worker keeps every n-th example (there are no files to shard by in an in-memory pipeline); a
    pipeline that reads only its worker's share of the files already (``common.stream``) is left as it is."""
    import tensorflow as tf

    if ds is None:
        return None
    if ds.options().experimental_distribute.auto_shard_policy == tf.data.experimental.AutoShardPolicy.OFF:
        return ds
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._num_workers > 1


def gather_from_workers(strategy, value: float) -> list[float]:
    """Every replica's ``value`` in replica order: a collective, so every worker must call it."""
    import tensorflow as tf

    local = tf.constant([float(value)])
    per_replica = strategy.run(lambda: tf.identity(local))
    return [float(v) for v in strategy.gather(per_replica, axis=0).numpy()]


def peer_lost(exc: BaseException) -> bool:
    """True when ``exc`` is a collective failing because another worker went away."""
    import tensorflow as tf

    return isinstance(exc, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError))


RESTART_COUNT = "EDGESUITE_WORKER_RESTARTS"
SCRATCH_PREFIX = "edgesuite-worker-"  # + pid + "-": the scratch folder of a non-chief worker


def remove_stale_scratch() -> None:
    """Removes the scratch folders of non-chief workers that were killed (their pid is gone)."""
    import re
    import shutil
    import tempfile
    from pathlib import Path

    for path in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        m = re.match(rf"{SCRATCH_PREFIX}(\d+)-", path.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass


def restart_worker(limit: int, exc: BaseException, log=say) -> None:
    """Replaces this process with the same command line; returns only when ``limit`` restarts are spent."""
    import sys

    done = int(os.environ.get(RESTART_COUNT, "0"))
    lines = [ln.strip() for ln in str(exc).splitlines() if "aborted by" in ln or "peer" in ln.lower()]
    first = f"{exc.__class__.__name__}: {lines[0]}" if lines else exc.__class__.__name__
    if done >= limit:
        log(f"lost a peer worker ({first}); {limit} restart(s) spent, giving up")
        return
    log(
        f"lost a peer worker ({first}); restarting ({done + 1} of {limit}) to resume with the cluster "
        "once every worker is back"
    )
    os.environ[RESTART_COUNT] = str(done + 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)


def prepare_fit(model, strategy, dataset) -> None:
    """Works around two Keras 3.15 faults under MultiWorkerMirroredStrategy (no-op otherwise).

    1. ``fit`` builds the model symbolically from the first batch after
       ``strategy.reduce("MEAN", (x, y))``, which the collective strategy cannot do
       for a tuple ("Attempt to convert a value (PerReplica...)"): the model is built
       here from one local batch instead, and that step is skipped.
    2. Its metric reduction calls ``strategy.reduce("MEAN", scalar, axis=0)``
       ("Invalid reduction dimension 0 for input with 0 dimensions"): scalars are
       reduced with ``axis=None``.
    """
    if not is_multi_worker(strategy):
        return
    _patch_metric_reduction()
    batch = next(iter(dataset))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _patch_metric_reduction() -> None:
    import keras.src.backend.tensorflow.trainer as ktrainer
    import tensorflow as tf

    if getattr(ktrainer.reduce_per_replica, "_edgesuite", False):
        return
    original = ktrainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if ktrainer._collective_all_reduce_multi_worker(strategy) and reduction in ("mean", "auto"):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica._edgesuite = True
    ktrainer.reduce_per_replica = reduce_per_replica
