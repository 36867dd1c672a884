"""Every knob of the text-classification app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import TrainConfig, knob
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import NORMALIZATIONS

NAMED_SETS = ("rotten-tomatoes",)
MODELS = ("bow", "cnn", "bilstm", "transformer")


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = knob("rotten-tomatoes",
                     "a CSV/TSV/JSON Lines file, a folder of class sub-folders of .txt files, a folder with "
                     f"train/val/test files or sub-folders, or a named set: {', '.join(NAMED_SETS)}")
    text_column: str = knob("text", "column (or JSON key) holding the text")
    label_column: str = knob("label", "column (or JSON key) holding the label ('category' for rotten-tomatoes)")
    delimiter: str = knob("", "CSV field delimiter (default: ',' for .csv, tab for .tsv/.txt)")
    quotechar: str = knob('"', "CSV quote character")
    encoding: str = knob("utf-8", "text encoding of the data files, e.g. latin-1")
    # cnn: the best of the four on the embedded corpus (test macro F1 0.816 vs bow 0.775, same ~100 s)
    model: str = knob("cnn", "architecture: fastText-style bag of words+bigrams, 1-D CNN, BiLSTM or a Transformer "
                      "encoder", MODELS)
    vocab_size: int = knob(30000, "target WordPiece vocabulary size, learned from the training split (pieces seen "
                           "at least twice; the embedded corpus gives 12,800)")
    max_length: int = knob(128, "tokens per text; longer texts are truncated")
    normalize: str = knob("lower", "lower: NFD, lower case, marks stripped (BERT uncased); none: keep case and "
                          "marks (Thai, Devanagari)", NORMALIZATIONS)
    embed_dim: int = knob(64, "token embedding width")
    hidden: int = knob(64, "filters / LSTM units / Transformer feed-forward half-width")
    layers: int = knob(1, "Transformer encoder blocks (transformer only)")
    heads: int = knob(4, "attention heads (transformer only)")
    # 20k x 64 floats = 5 MB of bigram table: the size of the edge file, traded against collisions
    bigram_buckets: int = knob(20_000, "hash buckets of the bigram embeddings (bow only)")
    dropout: float = knob(0.3, "dropout before the classifier")
    epochs: int = knob(20, "maximum number of training epochs (early stopping on validation macro F1)")
    batch_size: int = knob(64, "global batch size")
    lr: float = knob(2e-3, "peak learning rate")
    early_stopping: int = knob(3, "stop after N epochs without a better validation macro F1 (0 = off)")
    class_weight: str = knob("balanced", "weight classes by inverse frequency", ("none", "balanced"))
    augment: str = knob("none", "text augmentation is not supported: 'none'", ("none",))
    val_fraction: float = knob(0.1, "validation share when the data has no validation split")
    test_fraction: float = knob(0.1, "test share when the data has no test split")
    misclassified: int = knob(50, "misclassified validation texts written to misclassified.csv")

    def validate(self) -> None:
        super().validate()
        checks = [
            ("vocab_size", self.vocab_size >= 100, "an integer >= 100"),
            ("max_length", 4 <= self.max_length <= 4096, "an integer in [4, 4096]"),
            ("embed_dim", self.embed_dim >= 4, "an integer >= 4"),
            ("hidden", self.hidden >= 4, "an integer >= 4"),
            ("layers", self.layers >= 1, "an integer >= 1"),
            ("heads", self.heads >= 1 and self.embed_dim % self.heads == 0, "a divisor of embed_dim"),
            ("bigram_buckets", self.bigram_buckets >= 1, "an integer >= 1"),
            ("dropout", 0 <= self.dropout < 1, "a number in [0, 1)"),
            ("misclassified", self.misclassified >= 0, "an integer >= 0"),
            ("quotechar", len(self.quotechar) == 1, "one character"),
            ("delimiter", len(self.delimiter) <= 1 or self.delimiter == "\\t", "one character (or \\t)"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise UserInputError(f"{key}: expected {expected}, got {getattr(self, key)!r}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise UserInputError("val_fraction, test_fraction: expected shares in [0, 1) adding up to less than 1")
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise UserInputError(f"encoding: unknown text encoding {self.encoding!r} (e.g. utf-8, latin-1)") from None
