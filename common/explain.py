"""Why a model decided: Grad-CAM and occlusion heat maps, word occlusion and integrated gradients for text,
and the pictures and pages they are shown in. Apps call these from ``apps/<app>/inspector.py``.

Grad-CAM (Selvaraju et al., as keras-io's example): the gradient of a score with respect to the last
convolutional feature map, averaged over space, weights that map's channels; their positive sum, upsampled, is
the heat map. It needs the Keras model; an exported file has no gradients, so it is explained by occlusion: the
fall of the score when a patch of the image is greyed out, patch by patch.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger("edgesuite")


# ---------------------------------------------------------------- images
def last_feature_layer(model, skip: tuple[str, ...] = (), deepest: bool = False):
    """``(model, layer)``: the last layer whose output is a spatial map (batch, H, W, C) with H, W > 1, searched
    in a model wrapping another one (a test-time average) in the inner model that reads the same image.
    ``skip``: layer names not to take (a segmenter's per-pixel ``logits`` and ``probabilities``); ``deepest``:
    the last of the coarsest maps instead (an encoder-decoder's bottleneck, where the features know what a thing
    is; its last full-size maps know only where edges are)."""
    import keras

    for layer in model.layers:  # a wrapper: the inner model on the same input explains the same features
        if (
            isinstance(layer, keras.Model)
            and len(layer.outputs) == 1
            and len(layer.outputs[0].shape) == 2
            and tuple(layer.inputs[0].shape[1:]) == tuple(model.inputs[0].shape[1:])
        ):
            return last_feature_layer(layer, skip, deepest)
    found = []
    for layer in reversed(model.layers):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if (
            len(shape) == 4
            and (shape[1] or 2) > 1
            and (shape[2] or 2) > 1
            and layer is not model.layers[0]
            and layer.name not in skip
        ):
            if not deepest:
                return model, layer
            found.append((shape[1] or 0, layer))
    if found:
        side = min(s for s, _ in found)
        return model, next(layer for s, layer in found if s == side)
    raise ValueError(f"{model.name}: no layer with a spatial output (batch, H, W, C) to take Grad-CAM on")


_PROBES: dict = {}  # the feature-and-output model of the last model explained, reused across its inputs


def grad_cam(
    model, images: np.ndarray, score: Callable, output: str | int = 0, skip: tuple[str, ...] = (), deepest: bool = False
) -> np.ndarray:
    """(N, H, W) heat maps in [0, 1] at the images' size. ``score(outputs)``: the (N,) quantity to explain,
    from the model's output named or numbered ``output`` (e.g. ``lambda p: p[:, k]``)."""
    import keras
    import tensorflow as tf

    key = (id(model), output, skip, deepest)
    if key not in _PROBES:
        inner, layer = last_feature_layer(model, skip, deepest)
        outputs = inner.outputs[output] if isinstance(output, int) else inner.get_layer(output).output
        _PROBES.clear()  # one model at a time
        _PROBES[key] = keras.Model(inner.inputs, [layer.output, outputs])
    probe = _PROBES[key]
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        feats, out = probe(x, training=False)
        tape.watch(feats)
        target = score(out)
    grads = tape.gradient(target, feats)
    weights = tf.reduce_mean(tf.cast(grads, tf.float32), axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(feats, tf.float32), axis=-1))[..., None]
    cam = tf.image.resize(cam, images.shape[1:3], method="bilinear")[..., 0].numpy()
    return _unit(cam)


def occlusion(predict: Callable, images: np.ndarray, score: Callable, patch: int | None = None) -> np.ndarray:
    """(N, H, W) heat maps in [0, 1]: how much ``score(predict(images))`` falls when a grey patch (a quarter of
    the side, every half patch) covers each place. ``predict`` takes uint8 images (N, H, W, C): any format."""
    n, h, w = images.shape[:3]
    patch = patch or max(2, min(h, w) // 4)
    stride = max(1, patch // 2)
    base = np.asarray(score(predict(images)), np.float64)
    heat, seen = np.zeros((n, h, w)), np.zeros((n, h, w))
    grey = np.full_like(images[:, :patch, :patch], 128)
    places = [(y, x) for y in range(0, max(1, h - patch + 1), stride) for x in range(0, max(1, w - patch + 1), stride)]
    for y, x in places:
        covered = images.copy()
        covered[:, y : y + patch, x : x + patch] = grey[:, : min(patch, h - y), : min(patch, w - x)]
        drop = base - np.asarray(score(predict(covered)), np.float64)
        heat[:, y : y + patch, x : x + patch] += drop[:, None, None]
        seen[:, y : y + patch, x : x + patch] += 1
    return _unit(np.clip(heat / np.maximum(seen, 1), 0, None))


def _unit(maps: np.ndarray) -> np.ndarray:
    top = maps.reshape(len(maps), -1).max(1).reshape(-1, *([1] * (maps.ndim - 1)))
    return (maps / np.where(top > 0, top, 1)).astype(np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """uint8 RGB of ``image`` with ``heat`` ([0, 1], same H, W) in the jet colours over it."""
    from matplotlib import colormaps

    rgb = np.repeat(image, 3, -1) if image.shape[-1] == 1 else image[..., :3]
    colour = colormaps["jet"](heat)[..., :3] * 255
    return np.clip((1 - alpha) * rgb + alpha * colour, 0, 255).astype(np.uint8)


def save_panels(path: Path, image: np.ndarray, maps: dict[str, np.ndarray], title: str) -> Path:
    """A PNG: the image, then one overlay per map (titled by its key)."""
    from edgesuite.common.plots import _plt, _save

    plt = _plt()
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(2.6 * (len(maps) + 1), 2.9))
    shown = image[..., 0] if image.shape[-1] == 1 else image
    axes[0].imshow(shown, cmap="gray" if image.shape[-1] == 1 else None)
    axes[0].set_title("input", fontsize=8)
    for ax, (name, heat) in zip(axes[1:], maps.items()):
        ax.imshow(overlay(image, heat))
        ax.set_title(name, fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def peak(heat: np.ndarray) -> tuple[int, int]:
    """(row, column) of a heat map's maximum."""
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(heat)), heat.shape))


# ---------------------------------------------------------------- text
def word_occlusion(predict: Callable, text: str, target: int) -> list[tuple[str, float]]:
    """Each word of ``text`` with how much the probability of class ``target`` falls when that word is left out
    (negative: the word speaks against it). ``predict(texts) -> (N, K)``: a Keras model's or any file's."""
    words = text.split()
    if not words:
        return []
    variants = [text] + [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
    probs = np.asarray(predict(variants), np.float64)
    return [(w, float(probs[0, target] - probs[i + 1, target])) for i, w in enumerate(words)]


def integrated_gradients(model, ids: np.ndarray, target: int, steps: int = 32) -> np.ndarray | None:
    """(L,) attributions of one row of token ids to class ``target``: integrated gradients along the straight
    path from zero embeddings to the tokens' embeddings, summed over the embedding width. None when the model
    has no ``Embedding`` layer (the linear TF-IDF model: its words are explained by occlusion)."""
    import keras
    import tensorflow as tf

    emb = next((layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Embedding)), None)
    if emb is None:
        return None
    ids = np.asarray(ids)[None]
    full = tf.cast(emb(ids), tf.float32)
    alphas = tf.reshape(tf.linspace(0.0, 1.0, steps + 1)[1:], (-1, 1, 1))
    path = tf.Variable(alphas * full)  # (steps, L, D): what the embedding layer returns during the walk
    original = emb.call
    emb.call = lambda inputs, *a, **k: tf.cast(path, emb.compute_dtype)  # noqa: E731 (restored below)
    try:
        with tf.GradientTape() as tape:
            out = model(np.repeat(ids, steps, 0), training=False)
            out = out[0] if isinstance(out, (list, tuple)) else out
            score = tf.reduce_sum(tf.cast(out, tf.float32)[:, target])
        grads = tape.gradient(score, path)
    finally:
        emb.call = original
    if grads is None:
        return None
    return (tf.reduce_mean(grads, 0) * full[0]).numpy().sum(-1)


def tokens_html(rows: list[tuple[str, list[tuple[str, float]], str]]) -> str:
    """A page of texts with each token's background coloured by its attribution: green for, red against."""
    body = []
    for title, tokens, method in rows:
        top = max((abs(s) for _, s in tokens), default=0) or 1
        spans = []
        for tok, s in tokens:
            a = min(1.0, abs(s) / top)
            colour = f"rgba(0,160,0,{a:.2f})" if s >= 0 else f"rgba(220,0,0,{a:.2f})"
            spans.append(f'<span style="background:{colour};padding:1px" title="{s:+.4f}">{html.escape(tok)}</span>')
        body.append(
            f"<h3>{html.escape(title)}</h3><p style='font-size:18px;line-height:1.8'>{' '.join(spans)}</p>"
            f"<p><small>{html.escape(method)}</small></p>"
        )
    return (
        "<!doctype html><meta charset=utf-8><title>edgesuite explain</title><body style='font-family:sans-serif'>"
        + "\n".join(body)
        + "</body>\n"
    )


def tokens_terminal(tokens: list[tuple[str, float]], shown: int = 5) -> str:
    """The strongest tokens as a person reads them in a terminal: ``great +0.41, awful -0.12``."""
    ranked = sorted(tokens, key=lambda t: -abs(t[1]))[:shown]
    return ", ".join(f"{tok} {s:+.3f}" for tok, s in ranked)


def save_grid(path: Path, images: np.ndarray, maps: list[np.ndarray], titles: list[str], title: str) -> Path:
    """A PNG of one overlay per image (what training adds to its plots for a few validation items)."""
    from edgesuite.common.plots import _plt, _save

    plt = _plt()
    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.3 * n, 2.7), squeeze=False)
    for ax, image, heat, name in zip(axes[0], images, maps, titles):
        ax.imshow(overlay(image, heat))
        ax.set_title(name, fontsize=7)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
