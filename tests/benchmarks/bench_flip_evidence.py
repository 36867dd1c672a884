"""Image classification's ``--augment default``: does the flip evidence (``icdata.flip_evidence``: two short CNNs,
one trained with a random half of its images mirrored) tell sets whose mirrored images keep their class from sets
where mirroring changes it? Three seeds each on

- handwritten digits (scikit-learn's ``load_digits``: 1,797 real 8 px digits): flips change labels;
- the embedded Fashion-MNIST subset (10,000 clothes, 28 px grey): flips keep labels;
- crops of six scikit-image photographs (300 crops of 48 to 96 px a photograph, at 32 px RGB; the class is the
  photograph): flips keep labels.

    python tests/benchmarks/bench_flip_evidence.py [--seeds 0,1,2]

Printed per row: the held-out accuracy of each short model, the extra errors of the mirrored one (as a share of
the plain model's errors, and in standard errors of the paired difference), the decision and the seconds.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary  # noqa: E402


def digits():
    from sklearn.datasets import load_digits

    from edgesuite.apps.image_classification.data import LabelledImages

    d = load_digits()
    return LabelledImages(labels=d.target, arrays=(d.images * (255 / 16)).astype(np.uint8)[..., None], grey=True), 10


def fashion():
    from edgesuite.apps.image_classification.data import LabelledImages
    from edgesuite.common.datasets.fashion_mnist import load_subset

    (x, y), _ = load_subset()
    return LabelledImages(labels=y.astype(np.int64), arrays=x[..., None], grey=True), 10


def photo_crops(per_photo: int = 300, seed: int = 0):
    from PIL import Image
    from skimage import data

    from edgesuite.apps.image_classification.data import LabelledImages

    names = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"]
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c, name in enumerate(names):
        photo = getattr(data, name)()
        h, w = photo.shape[:2]
        for _ in range(per_photo):
            s = int(rng.integers(48, 97))
            y0, x0 = int(rng.integers(0, h - s)), int(rng.integers(0, w - s))
            xs.append(np.asarray(Image.fromarray(photo[y0 : y0 + s, x0 : x0 + s]).resize((32, 32), Image.BILINEAR)))
            ys.append(c)
    return LabelledImages(labels=np.array(ys), arrays=np.stack(xs), grey=False), len(names)


SETS = {"digits (load_digits)": digits, "Fashion-MNIST subset": fashion, "photo crops (scikit-image)": photo_crops}


def main() -> None:
    from edgesuite.apps.image_classification import data as icdata

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    print(cpu_summary())
    print("| set | seed | plain | mirrored | extra errors | share of plain errors | standard errors | flips | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, make in SETS.items():
        images, k = make()
        for seed in (int(s) for s in args.seeds.split(",")):
            t0 = time.time()
            e = icdata.flip_evidence(images, k, seed)
            share = e.extra_errors / max(1.0, (1 - e.plain) * e.held_out)
            print(
                f"| {name} | {seed} | {e.plain:.3f} | {e.flipped:.3f} | {e.extra_errors:+d} of {e.held_out} | "
                f"{share:+.0%} | {e.z:.1f} | {'yes' if e.keeps_labels else 'no'} | {time.time() - t0:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
