"""Fashion-MNIST: the embedded stratified subset and the full set.

The full set is looked for, in order, in the Keras cache
(``~/.keras/datasets/fashion-mnist``), in the Debian package
``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``), and last
downloaded through ``keras.datasets`` when a network is there.

The embedded subset (``fashion_mnist_subset.npz`` beside this file) is built by
``python -m edgesuite.common.datasets.fashion_mnist --rebuild`` from the Debian
package; see ``FASHION_MNIST.md`` for provenance and licence.
"""

from __future__ import annotations

import argparse
import gzip
import io
import lzma
import os
from pathlib import Path

import numpy as np

from edgesuite.common.log import say

CLASS_NAMES = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
]
# xz rather than npz's deflate: 4.5 MB instead of 5.3 MB for the same bytes.
SUBSET_PATH = Path(__file__).with_name("fashion_mnist_subset.npz.xz")
SEARCH_DIRS = [
    Path(os.path.expanduser("~/.keras/datasets/fashion-mnist")),
    Path("/usr/share/datasets/fashion-mnist"),
]
_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def read_idx(path: Path) -> np.ndarray:
    """Reads one gzip'd IDX file (the format MNIST and Fashion-MNIST ship in)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {dims} ({expected} bytes), file holds {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(dims)


def _find_full_dir() -> Path | None:
    for d in SEARCH_DIRS:
        if all((d / name).exists() for name in _FILES.values()):
            return d
    return None


def load_full() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The full 60,000 / 10,000 set as uint8 arrays (N, 28, 28) and int labels."""
    d = _find_full_dir()
    if d is None:
        try:
            import keras

            return keras.datasets.fashion_mnist.load_data()
        except Exception as exc:  # no network here is the usual cause
            from edgesuite.common.errors import UserInputError

            raise UserInputError(
                "fashion-mnist: not found in "
                + ", ".join(str(p) for p in SEARCH_DIRS)
                + f" and the download failed ({exc.__class__.__name__}). "
                "Install it with `apt-get install dataset-fashion-mnist`."
            ) from exc
    arrays = {key: read_idx(d / name) for key, name in _FILES.items()}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_subset() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The embedded stratified subset: 10,000 train and 2,000 test images."""
    with lzma.open(SUBSET_PATH, "rb") as f, np.load(io.BytesIO(f.read())) as z:
        return (z["x_train"], z["y_train"]), (z["x_test"], z["y_test"])


def stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in np.unique(labels)]
    return np.sort(np.concatenate(picked))


def build_subset(
    out: Path = SUBSET_PATH, train_per_class: int = 1000, test_per_class: int = 200, seed: int = 0
) -> Path:
    d = Path("/usr/share/datasets/fashion-mnist")
    if not d.exists():
        raise SystemExit("needs the Debian package: apt-get install dataset-fashion-mnist")
    x_train, y_train = read_idx(d / _FILES["x_train"]), read_idx(d / _FILES["y_train"])
    x_test, y_test = read_idx(d / _FILES["x_test"]), read_idx(d / _FILES["y_test"])
    tr = stratified_indices(y_train, train_per_class, seed)
    te = stratified_indices(y_test, test_per_class, seed + 1)
    buf = io.BytesIO()
    np.savez(
        buf,
        x_train=x_train[tr],
        y_train=y_train[tr].astype(np.uint8),
        x_test=x_test[te],
        y_test=y_test[te].astype(np.uint8),
        class_names=np.array(CLASS_NAMES),
    )
    tmp = out.with_name(out.name + ".tmp")
    with lzma.open(tmp, "wb", preset=9 | lzma.PRESET_EXTREME) as f:
        f.write(buf.getvalue())
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the embedded subset from the Debian package")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.rebuild:
        path = build_subset(seed=args.seed)
        say(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
