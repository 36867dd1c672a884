"""Image classification: its items for ``edgesuite data check`` and its cleaned copy (``--fix``).

The items are the app's own splits (``data.load_splits``): what a run would train, validate and test on. The
quick model for label errors is a logistic regression on the images at 16 x 16 pixels (grey for grey images,
RGB otherwise), standardised: it trains in seconds on 12,000 images and separates what a person separates at
a glance, which is what a mislabelled item contradicts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from edgesuite.apps.image_classification import data as icdata
from edgesuite.common import datacheck as dc

FEATURE_SIDE = 16


def _pixels(images: icdata.LabelledImages, i: int, channels: int) -> np.ndarray:
    from PIL import Image

    from edgesuite.common.decode import eight_bit, open_image

    if images.arrays is not None:
        a = images.arrays[i]
        im = Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a)
    else:
        with open_image(images.paths[i]) as opened:
            im = eight_bit(opened)
            im.load()
    im = im.convert("L" if channels == 1 else "RGB").resize((FEATURE_SIDE, FEATURE_SIDE), Image.BILINEAR)
    return np.asarray(im, np.float32).ravel() / 255


def _parts(splits):
    return [(name, part) for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            if part is not None and len(part)]


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    splits = icdata.load_splits(cfg)
    names = splits.class_names
    channels = cfg.channels or (1 if splits.train.grey else 3)
    items, features = [], []
    total = sum(len(p) for _, p in _parts(splits))
    with tqdm(total=total, desc="hashing images", unit="img", disable=total < 500, leave=False) as bar:
        for split, part in _parts(splits):
            for i in range(len(part)):
                label = names[int(part.labels[i])]
                if part.arrays is not None:
                    a = part.arrays[i]
                    item = dc.Item(f"{splits.data_name} {split} #{i}", split, label, dc.digest_array(a), dc.phash(a),
                                   a, i)
                else:
                    p = part.paths[i]
                    item = dc.Item(p, split, label, dc.digest_file(p), dc.phash(p), p, i)
                items.append(item)
                features.append(_pixels(part, i, channels))
                bar.update()
    x = np.stack(features)
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    return dc.Inspection(splits.data_name, items, names, features=x, splits=splits,
                         model=f"a logistic regression on {FEATURE_SIDE}x{FEATURE_SIDE}-pixel "
                               f"{'grey' if channels == 1 else 'RGB'} images")


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/train|val|test/<class>/<file>``, the layout ``--data`` reads with its splits as they are."""
    import shutil

    from PIL import Image

    splits = found.splits
    for split, part in _parts(splits):
        for i in dc.kept(part, split, dropped):
            folder = out / split / splits.class_names[int(part.labels[i])]
            folder.mkdir(parents=True, exist_ok=True)
            if part.arrays is not None:
                a = part.arrays[i]
                Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(folder / f"{split}_{i:06d}.png")
            else:
                shutil.copy2(part.paths[i], folder / dc.safe_name(i, part.paths[i]))
