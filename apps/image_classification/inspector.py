"""Image classification: its items for ``edgesuite data check`` and its cleaned copy (``--fix``).

The items are the app's own splits (``data.load_splits``): what a run would train, validate and test on. The
quick model for label errors is a logistic regression on the images at 16 x 16 pixels (grey for grey images,
RGB otherwise), standardised: it trains in seconds on 12,000 images and separates what a person separates at
a glance, which is what a mislabelled item contradicts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesuite.apps.image_classification import data as icdata
from edgesuite.common import datacheck as dc
from edgesuite.common.log import progress

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


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    splits = icdata.load_splits(cfg)
    names = splits.class_names
    channels = cfg.channels or (1 if splits.train.grey else 3)
    items, features = [], []
    total = sum(len(p) for _, p in dc.split_parts(splits))
    with progress(total=total, desc="hashing images", unit="img", disable=total < 500, leave=False) as bar:
        for split, part in dc.split_parts(splits):
            for i in range(len(part)):
                label = names[int(part.labels[i])]
                if part.arrays is not None:
                    a = part.arrays[i]
                    item = dc.image_item(f"{splits.data_name} {split} #{i}", split, label, a, i)
                else:
                    p = part.paths[i]
                    item = dc.image_item(p, split, label, p, i)
                items.append(item)
                features.append(_pixels(part, i, channels))
                bar.update()
    x = np.stack(features)
    x = (x - x.mean(0)) / (x.std(0) + 1e-3)
    return dc.Inspection(
        splits.data_name,
        items,
        names,
        features=x,
        splits=splits,
        model=f"a logistic regression on {FEATURE_SIDE}x{FEATURE_SIDE}-pixel "
        f"{'grey' if channels == 1 else 'RGB'} images",
    )


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/train|val|test/<class>/<file>``, the layout ``--data`` reads with its splits as they are."""
    import shutil

    from PIL import Image

    splits = found.splits
    for split, part in dc.split_parts(splits):
        for i in dc.kept(part, split, dropped):
            folder = out / split / splits.class_names[int(part.labels[i])]
            folder.mkdir(parents=True, exist_ok=True)
            if part.arrays is not None:
                a = part.arrays[i]
                Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(folder / f"{split}_{i:06d}.png")
            else:
                shutil.copy2(part.paths[i], folder / dc.safe_name(i, part.paths[i]))


def explain(
    model, predictor, inputs: list, save_dir: Path | None = None, target: str | None = None, box: int | None = None
) -> list[dict]:
    """Grad-CAM on the last convolutional features of a run's Keras model (occlusion for an exported file) for
    the top class and, with ``target``, that class: one dict per input (``maps``: class -> (S, S) heat in
    [0, 1], ``peak``: its maximum's row and column) and, with ``save_dir``, ``<stem>_explain.png``."""
    from edgesuite.common import explain as cx
    from edgesuite.common.errors import UserInputError

    meta = predictor.metadata
    names = meta["class_names"]
    if target is not None and target not in names:
        raise UserInputError(f"--target: {target!r} is not one of the model's classes ({', '.join(names)})")
    if box is not None:
        raise UserInputError("--box: only object detection explains a chosen box")
    x = predictor.codec.preprocess(inputs, meta)
    probs = np.asarray(predictor.predict_raw(x), np.float64)
    method = "Grad-CAM" if model is not None else "occlusion"
    out = []
    for i, item in enumerate(inputs):
        top = int(probs[i].argmax())
        classes = [top] + ([names.index(target)] if target is not None and names.index(target) != top else [])
        maps = {}
        for k in classes:
            if model is not None:
                heat = cx.grad_cam(model, x[i : i + 1], lambda p, k=k: p[:, k])[0]
            else:
                heat = cx.occlusion(
                    lambda imgs: np.asarray(predictor.predict_raw(imgs)),
                    x[i : i + 1],
                    lambda p, k=k: np.asarray(p)[:, k],
                )[0]
            maps[names[k]] = heat
        name = str(item) if isinstance(item, (str, Path)) else f"input{i}"
        shown = {
            "input": name,
            "label": names[top],
            "probability": float(probs[i, top]),
            "method": method,
            "image": x[i],
            "maps": maps,
            "peak": {c: cx.peak(h) for c, h in maps.items()},
        }
        if save_dir is not None:
            stem = Path(name).stem if isinstance(item, (str, Path)) else name
            shown["file"] = str(
                cx.save_panels(
                    save_dir / f"{stem}_explain.png",
                    x[i],
                    {f"{c} ({probs[i, names.index(c)]:.2f})": h for c, h in maps.items()},
                    f"{method}: {name}",
                )
            )
        shown["text"] = (
            f"{name}: {names[top]} ({probs[i, top]:.3f}); {method} peaks at row, column "
            + "; ".join(f"{c} {shown['peak'][c]}" for c in maps)
            + (f"; wrote {shown['file']}" if "file" in shown else "")
        )
        out.append(shown)
    return out


EXPLAINED_IN_PLOTS = 6  # validation images whose Grad-CAM training adds to its plots


def explanation_plot(model, images: np.ndarray, labels: np.ndarray, class_names: list[str], out: Path) -> Path:
    """Grad-CAM of the predicted class on a few validation images: ``plots/explanations.png`` of a run."""
    from edgesuite.common import explain as cx

    x = np.asarray(images[:EXPLAINED_IN_PLOTS])
    probs = np.asarray(model(x, training=False))
    maps, titles = [], []
    for i in range(len(x)):
        k = int(probs[i].argmax())
        maps.append(cx.grad_cam(model, x[i : i + 1], lambda p, k=k: p[:, k])[0])
        titles.append(f"{class_names[k]} {probs[i, k]:.2f} (true {class_names[int(labels[i])]})")
    return cx.save_grid(out, x, maps, titles, "Grad-CAM of the predicted class")
