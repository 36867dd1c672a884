"""A pretrained BERT encoder (all-MiniLM-L6-v2) as a text classifier, in Keras core layers.

The input is the tokenizer's ``[CLS] pieces [SEP] 0 ...`` row (``common.text.TextTokenizer(...,
special_tokens=True)`` with the checkpoint's uncased WordPiece vocabulary), the same int32 row MediaPipe's
TextClassifier feeds as ``input_word_ids``. The encoder is BERT's: word + position (+ segment 0) embeddings,
LayerNorm, then post-norm blocks of 12-head self-attention and a 1,536-wide feed-forward layer; the
sentence is the masked mean of the last layer (as sentence-transformers pools this checkpoint), then dropout
and a softmax layer. Core layers and ``keras.ops`` nodes only, so every export format takes it as it takes
the other text models:

- positions are ``cumsum(ones_like(ids))`` (1..T) into a table whose row 0 is unused, as the translator's;
  BERT's segment-0 embedding is folded into that table (every token is segment 0);
- GELU is the tanh form built from Multiply / Rescaling / tanh layers: the exact form becomes ``Erfc``, which
  tf2onnx cannot convert; the two differ by < 1e-3 and fine-tuning absorbs it.

    model = build(num_classes=2, vocab_size=30522, input_length=66)
    load_checkpoint(model, folder)          # config.json + model.safetensors (Hugging Face BERT names)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgesuite.common import pretrained
from edgesuite.common.errors import UserInputError

ENCODER = "all-minilm-l6-v2"
MAX_POSITIONS = 512


def read_config(folder: Path) -> dict:
    """The checkpoint's config.json: layers, width, heads, feed-forward width, positions, vocabulary size."""
    path = Path(folder) / "config.json"
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
        out = {
            k: int(cfg[k])
            for k in (
                "num_hidden_layers",
                "hidden_size",
                "num_attention_heads",
                "intermediate_size",
                "max_position_embeddings",
                "vocab_size",
            )
        }
        out["layer_norm_eps"] = float(cfg.get("layer_norm_eps", 1e-12))
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file (a BERT checkpoint folder holds config.json)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UserInputError(
            f"{path}: not a BERT config.json (expected num_hidden_layers, hidden_size, ...; "
            f"{type(exc).__name__}: {exc})"
        ) from None
    if out["hidden_size"] % out["num_attention_heads"]:
        raise UserInputError(f"{path}: hidden_size {out['hidden_size']} is not a multiple of num_attention_heads")
    return out


def read_vocab(folder: Path) -> list[str]:
    path = Path(folder) / "vocab.txt"
    try:
        vocab = path.read_text(encoding="utf-8").split("\n")
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: not a readable vocab.txt ({type(exc).__name__})") from None
    vocab = vocab[:-1] if vocab and vocab[-1] == "" else vocab
    for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
        if token not in vocab:
            raise UserInputError(f"{path}: no {token} line (expected a BERT WordPiece vocabulary)")
    if vocab[0] != "[PAD]":
        raise UserInputError(f"{path}: line 1 is {vocab[0]!r}, expected [PAD] (id 0 is padding)")
    return vocab


def build(
    num_classes: int, vocab_size: int, input_length: int, encoder: dict, dropout: float = 0.1, name: str = "text_minilm"
):
    """The classifier over ``input_length`` ids per text (``[CLS]`` ... ``[SEP]`` and padding)."""
    import keras
    from keras import layers, ops

    if input_length > encoder["max_position_embeddings"]:
        raise UserInputError(
            f"max_length: {input_length - 2} tokens do not fit the encoder's "
            f"{encoder['max_position_embeddings']} positions (with [CLS] and [SEP])"
        )
    d, heads, eps = encoder["hidden_size"], encoder["num_attention_heads"], encoder["layer_norm_eps"]
    ids = keras.Input(shape=(input_length,), dtype="int32", name="token_ids")
    pad = ops.not_equal(ids, 0)
    positions = ops.cumsum(ops.ones_like(ids), axis=1)
    x = layers.Embedding(vocab_size, d, name="word_embeddings")(ids)
    x = layers.Add(name="add_positions")(
        [x, layers.Embedding(input_length + 1, d, name="position_embeddings")(positions)]
    )
    x = layers.LayerNormalization(epsilon=eps, name="embeddings_ln")(x)
    x = layers.Dropout(0.1)(x)
    for i in range(encoder["num_hidden_layers"]):
        a = layers.MultiHeadAttention(heads, d // heads, dropout=0.1, name=f"layer{i}_attention")(
            x, x, query_mask=pad, value_mask=pad
        )
        x = layers.LayerNormalization(epsilon=eps, name=f"layer{i}_attention_ln")(
            layers.Add()([x, layers.Dropout(0.1)(a)])
        )
        h = _gelu(layers.Dense(encoder["intermediate_size"], name=f"layer{i}_intermediate")(x), f"layer{i}_gelu")
        h = layers.Dense(d, name=f"layer{i}_output")(h)
        x = layers.LayerNormalization(epsilon=eps, name=f"layer{i}_output_ln")(
            layers.Add()([x, layers.Dropout(0.1)(h)])
        )
    h = layers.GlobalAveragePooling1D(name="mean")(x, mask=pad)
    h = layers.Dropout(dropout)(h)
    out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(h)
    return keras.Model(ids, out, name=name)


def training_speed(encoder: dict, vocab_size: int, input_length: int, batch: int = 32, steps: int = 3) -> float:
    """Token positions a second that fine-tuning reaches on this machine under the current dtype policy: a few
    optimizer steps of the encoder (random weights: the speed does not depend on them) on random id rows of
    ``input_length``, timed after one step that traces and builds the training function."""
    import time

    import keras

    model = build(2, vocab_size, input_length, encoder)
    model.compile(optimizer=keras.optimizers.AdamW(1e-5), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.integers(1, vocab_size, (batch, input_length)).astype(np.int32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, batch)]
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch * input_length / (time.perf_counter() - start)


def _gelu(x, name: str):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in core layers."""
    from keras import layers

    cube = layers.Multiply(name=f"{name}_cube")([x, x, x])
    inner = layers.Add(name=f"{name}_inner")([x, layers.Rescaling(0.044715, name=f"{name}_c")(cube)])
    t = layers.Activation("tanh", name=f"{name}_tanh")(layers.Rescaling(0.7978845608028654, name=f"{name}_s")(inner))
    return layers.Multiply(name=name)([x, layers.Rescaling(0.5, offset=0.5, name=f"{name}_half")(t)])


def port(state: dict, encoder: dict, input_length: int) -> dict[str, list[np.ndarray]]:
    """Keras layer name -> weights from a Hugging Face BERT state dict (``embeddings.*``, ``encoder.layer.N.*``,
    with or without a ``bert.`` prefix). Dense kernels go from (out, in) to (in, out); the attention projections
    to (in, heads, head) and (heads, head, out); position rows 0..T-1, plus the segment-0 row, become rows 1..T."""
    state = {k[5:] if k.startswith("bert.") else k: v for k, v in state.items()}
    d, heads = encoder["hidden_size"], encoder["num_attention_heads"]
    head = d // heads

    def ln(prefix):
        return [state[f"{prefix}.weight"], state[f"{prefix}.bias"]]

    positions = (
        state["embeddings.position_embeddings.weight"][:input_length]
        + state["embeddings.token_type_embeddings.weight"][0]
    )
    out = {
        "word_embeddings": [state["embeddings.word_embeddings.weight"]],
        "position_embeddings": [np.concatenate([np.zeros((1, d), np.float32), positions])],
        "embeddings_ln": ln("embeddings.LayerNorm"),
    }
    for i in range(encoder["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        attention = []
        for part in ("query", "key", "value"):
            attention += [
                state[f"{p}.attention.self.{part}.weight"].T.reshape(d, heads, head),
                state[f"{p}.attention.self.{part}.bias"].reshape(heads, head),
            ]
        attention += [
            state[f"{p}.attention.output.dense.weight"].T.reshape(heads, head, d),
            state[f"{p}.attention.output.dense.bias"],
        ]
        out[f"layer{i}_attention"] = attention
        out[f"layer{i}_attention_ln"] = ln(f"{p}.attention.output.LayerNorm")
        out[f"layer{i}_intermediate"] = [
            state[f"{p}.intermediate.dense.weight"].T,
            state[f"{p}.intermediate.dense.bias"],
        ]
        out[f"layer{i}_output"] = [state[f"{p}.output.dense.weight"].T, state[f"{p}.output.dense.bias"]]
        out[f"layer{i}_output_ln"] = ln(f"{p}.output.LayerNorm")
    return {k: [np.ascontiguousarray(w, np.float32) for w in ws] for k, ws in out.items()}


def load_checkpoint(model, folder: Path, encoder: dict) -> None:
    """Sets every encoder layer of ``model`` from the checkpoint in ``folder`` (the classifier stays as built)."""
    path = Path(folder) / "model.safetensors"
    state = pretrained.read_safetensors(path)
    try:
        weights = port(state, encoder, model.input_shape[1])
    except KeyError as exc:
        raise UserInputError(f"{path}: no tensor {exc} (expected a Hugging Face BERT checkpoint)") from None
    pretrained.assign(model, weights, str(path), optional=("probabilities",))


def write_checkpoint(
    folder: Path,
    vocab: list[str],
    layers: int = 2,
    hidden: int = 32,
    heads: int = 4,
    intermediate: int = 64,
    positions: int = 128,
    seed: int = 0,
) -> Path:
    """A randomly initialised BERT checkpoint in the Hugging Face layout (config.json, vocab.txt,
    model.safetensors): what tests and offline demos use in place of the real 91 MB file."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    def w(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    state = {
        "embeddings.word_embeddings.weight": w(len(vocab), hidden),
        "embeddings.position_embeddings.weight": w(positions, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            state[f"{p}.{part}.weight"], state[f"{p}.{part}.bias"] = w(hidden, hidden), w(hidden)
        state[f"{p}.intermediate.dense.weight"], state[f"{p}.intermediate.dense.bias"] = (
            w(intermediate, hidden),
            w(intermediate),
        )
        state[f"{p}.output.dense.weight"], state[f"{p}.output.dense.bias"] = w(hidden, intermediate), w(hidden)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            state[f"{p}.{norm}.weight"], state[f"{p}.{norm}.bias"] = (
                np.ones(hidden, np.float32),
                np.zeros(hidden, np.float32),
            )
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for key, a in state.items():
        raw = a.tobytes()
        header[key] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    head = json.dumps(header).encode()
    (folder / "model.safetensors").write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))
    (folder / "vocab.txt").write_text("".join(v + "\n" for v in vocab), encoding="utf-8")
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["BertModel"],
                "model_type": "bert",
                "hidden_act": "gelu",
                "num_hidden_layers": layers,
                "hidden_size": hidden,
                "num_attention_heads": heads,
                "intermediate_size": intermediate,
                "max_position_embeddings": positions,
                "type_vocab_size": 2,
                "vocab_size": len(vocab),
                "layer_norm_eps": 1e-12,
            }
        ),
        encoding="utf-8",
    )
    return folder
