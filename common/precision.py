"""Mixed-precision policy: what ``--precision auto`` picks, and applying it.

``auto`` picks ``mixed_bfloat16`` on CPUs with native bf16 (avx512_bf16 or AMX),
``mixed_float16`` on GPUs of compute capability >= 7.0 (tensor cores), and
``float32`` otherwise. Measured on one AMD EPYC with avx512_bf16: a small conv
net trained at 25 img/s in float32 and 127 img/s in mixed_bfloat16. On a CPU
without those flags bf16 is emulated and much slower (42 vs 371 img/s seen on
an EPYC with only AVX2), which is why the flags are read rather than assumed.

Models keep their last layer in float32 (``dtype="float32"``) so that softmax
and the loss are computed at full precision; input processing (augmentation
layers, anything mapped inside ``tf.data``) is built in float32 whatever the
policy (``INPUT_DTYPE``).

The policy belongs to a run: :func:`scope` sets it and puts back the one that
was there when the run ends, so a notebook's own models after
``edgesuite.train(...)`` are built as before.

``EDGESUITE_AUTO_PRECISION=float32|mixed_bfloat16|...`` makes ``auto`` resolve to
that policy instead of reading the hardware: how the test suite checks on an
AVX2 host what a bf16 host would pick (``pytest --auto-precision``), and how a
user reproduces another host's choice.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say

BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
AUTO_ENV = "EDGESUITE_AUTO_PRECISION"
INPUT_DTYPE = "float32"  # the dtype of every input-processing layer (augmentation), whatever the policy


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    import tensorflow as tf

    caps = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        caps.append(tuple(details.get("compute_capability", (0, 0))))
    return caps


def choose(
    requested: str, flags: set[str] | None = None, gpu_caps: list[tuple[int, int]] | None = None
) -> tuple[str, str]:
    """Returns (policy, reason). ``flags`` and ``gpu_caps`` are read from the machine when None."""
    if requested != "auto":
        return requested, "as requested"
    forced = os.environ.get(AUTO_ENV, "").strip() if flags is None else ""
    if forced and forced != "host":  # stands in for reading the machine, so explicit flags still decide
        if forced not in POLICIES:
            raise UserInputError(f"{AUTO_ENV}={forced}: expected host or one of {', '.join(POLICIES)}")
        return forced, f"{AUTO_ENV}={forced}"
    gpu_caps = gpu_compute_capabilities() if gpu_caps is None else gpu_caps
    if gpu_caps:
        if all(cap >= (7, 0) for cap in gpu_caps):
            return "mixed_float16", f"GPU compute capability {'/'.join(f'{a}.{b}' for a, b in gpu_caps)} >= 7.0"
        return "float32", "GPU below compute capability 7.0"
    flags = cpu_flags() if flags is None else flags
    native = sorted(BF16_CPU_FLAGS & flags)
    if native:
        return "mixed_bfloat16", f"CPU has {', '.join(native)}"
    return "float32", "CPU without avx512_bf16/amx and no GPU"


@contextlib.contextmanager
def scope(requested: str, log=say):
    """Sets the global Keras dtype policy for the block, prints the choice, and restores the previous
    policy on the way out (also on an error or Ctrl-C). Yields the policy's name."""
    import keras

    previous = keras.mixed_precision.global_policy()
    policy, reason = choose(requested)
    keras.mixed_precision.set_global_policy(policy)
    log(f"precision: {policy} ({reason})")
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)
