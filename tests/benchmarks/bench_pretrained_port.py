"""The EfficientNet-Lite port (issue 46, phase 1): top-5 on real photographs, the preprocessing evidence, timings.

    python tests/benchmarks/bench_pretrained_port.py [--pth efficientnet-lite1=PATH ...] [--rounds 20]

For each variant (lite0 from the installed wheel; others from their wheel when installed, or a ``.pth`` given
with ``--pth``), in a fresh cache folder: seconds to hash + read + convert the ``.pth`` and cache it, seconds
to load it again from the cache, seconds to build the model; then the ImageNet top-5 (through
``edgesuite.common.efficientnet.imagenet_top_k``, the view ``edgesuite pretrained check`` takes) of the
photographs inside scikit-image's wheel, and the median batch-1 latency of the Keras model (``predict_on_batch``).

Preprocessing evidence: the stem BatchNorm's moving variance is the variance of the stem convolution's output
over the images the network was trained on. On the photographs, the ratio observed / stored (median over the
32 channels) is near 1 for the normalisation the weights were trained with: it is printed for (x - 127) / 128
(the TensorFlow reference's) and for ImageNet's mean/std (what the PyTorch port's README shows).
Not compared with torch (not installable here); tests/common/test_pretrained.py compares with a numpy forward
pass of the PyTorch layout instead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary  # noqa: E402


def photographs() -> dict[str, np.ndarray]:
    """The RGB photographs inside scikit-image's wheel (no download)."""
    from skimage import data

    return {
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "motorcycle": data.stereo_motorcycle()[0],
        "astronaut": data.astronaut(),
    }


def stem_variance_ratio(model, images, normalise) -> float:
    import keras

    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    outs = np.concatenate(
        [np.asarray(stem(normalise(im[None].astype("float32")).astype("float32"))).reshape(-1, 32) for im in images]
    )
    var = model.get_layer("stem_bn").get_weights()[3]
    live = var > 1e-6  # channels the training left dead have no variance to compare
    return float(np.median(outs.var(0)[live] / var[live]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pth", action="append", default=[], metavar="VARIANT=PATH")
    parser.add_argument("--rounds", type=int, default=20, help="timed batch-1 forward passes")
    args = parser.parse_args()
    os.environ["EDGESUITE_CACHE"] = tempfile.mkdtemp(prefix="bench_pretrained_cache_")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    from edgesuite.common import pretrained
    from edgesuite.common.efficientnet import (
        VARIANTS,
        block_names,
        center_crop_resize,
        efficientnet_lite,
        imagenet_top_k,
    )
    from edgesuite.common.errors import UserInputError

    sources = {}
    for name in pretrained.PACKAGED:
        try:
            sources[name] = pretrained.packaged_file(name)
        except UserInputError:
            pass
    sources.update({k: Path(v) for k, v in (item.split("=", 1) for item in args.pth)})
    images = photographs()
    print(f"host: {cpu_summary()}")
    for name, path in sources.items():
        size = VARIANTS[name][2]
        t0 = time.perf_counter()
        pretrained.converted_pth(path, name, block_names(name), "")
        convert_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pretrained.converted_pth(path, name, block_names(name), "")
        cached_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = efficientnet_lite(name, (size, size, 3), weights=str(path))
        build_s = time.perf_counter() - t0
        print(f"\n{name} ({path.name}, {model.count_params():,} parameters, input {size} px)")
        print(f"  convert + cache {convert_s:.2f} s, load from cache {cached_s:.2f} s, build + assign {build_s:.2f} s")
        for photo, top in zip(images, imagenet_top_k(name, list(images.values()), 5, model=model)):
            print(f"  {photo:<16} " + ", ".join(f"{label.split(',')[0]} {p:.3f}" for label, p in top))
        raw = efficientnet_lite(
            name, (None, None, 3), include_top=False, weights=str(path), normalize=False, input_dtype="float32"
        )
        views = [center_crop_resize(im, size) for im in images.values()]
        for label, normalise in (
            ("(x - 127) / 128", lambda x: (x - 127.0) / 128.0),
            (
                "ImageNet mean/std",
                lambda x: (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
            ),
        ):
            print(f"  stem BN variance observed/stored, {label}: {stem_variance_ratio(raw, views, normalise):.2f}")
        x = center_crop_resize(images["chelsea"], size)[None]
        model.predict_on_batch(x)
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            model.predict_on_batch(x)
            times.append(time.perf_counter() - t0)
        print(f"  Keras batch-1 forward: median {1000 * statistics.median(times):.1f} ms over {args.rounds}")


if __name__ == "__main__":
    main()
