"""Every knob of the translation app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import LabelSmoothed, TrainConfig, check_encoding, knob
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import NORMALIZATIONS

NAMED_SETS = ("bible-en-es",)


@dataclasses.dataclass
class Config(TrainConfig, LabelSmoothed):
    # the app's knobs by group (common/config.py GROUPS); the rest are model knobs
    knob_groups = {
        "data": (
            "source_file",
            "target_file",
            "source_column",
            "target_column",
            "encoding",
            "source_normalize",
            "target_normalize",
        ),
        "optimisation": ("token_dropout", "spelled_copies"),
        "run": ("xla",),
        "export": ("beam_size", "length_penalty", "eval_samples", "samples"),
    }
    named_sets = NAMED_SETS  # --data values that name an embedded set, not a path
    data: str = knob(
        "bible-en-es",
        "a TSV of source and target columns (the Tatoeba/Anki eng<TAB>spa<TAB>attribution "
        f"layout works as is), or a named set: {', '.join(NAMED_SETS)} (31,080 KJV/RV1909 verse pairs); "
        "ignored when --source-file and --target-file are given",
    )
    source_file: str = knob("", "a plain-text file of source sentences, one per line (with --target-file)")
    target_file: str = knob("", "the line-aligned plain-text file of target sentences (with --source-file)")
    source_column: int = knob(0, "TSV column (0-based) of the source text", bounds=">= 0")
    target_column: int = knob(1, "TSV column (0-based) of the target text", bounds=">= 0")
    encoding: str = knob("utf-8", "text encoding of the data files, e.g. latin-1")
    vocab_size: int = knob(
        0,
        "WordPiece vocabulary size per language, learned from the training split; 0 = from the "
        "data: one piece per 100 running words of a side, 500 to 4,000 (a joint vocabulary "
        "holds both sides' shares)",
        bounds=">= 0",
    )
    shared_vocab: str = knob(
        "auto",
        "one WordPiece vocabulary for both sides, the source kept as cased as the target, so "
        "names, numbers and words the model never learned pass through piece by piece: "
        "auto = with the copy head: when the sides share an alphabet (90 %% of the target's "
        "letters are letters the source uses) on a low-resource set",
        ("auto", "yes", "no"),
    )
    copy_head: str = knob(
        "auto",
        "a copy head (pointer-generator) mixing the decoder's softmax with its attention "
        "over the source pieces, so names and numbers are written by pointing at them: "
        "auto = on with a joint vocabulary on a low-resource set (fewer than 300,000 running "
        "words a side)",
        ("auto", "on", "off"),
    )
    source_normalize: str = knob(
        "auto",
        "source text: lower (NFD, lower case, marks stripped) or none; auto = as the "
        "target with a joint vocabulary, else lower",
        ("auto", *NORMALIZATIONS),
    )
    target_normalize: str = knob(
        "none", "target text: none keeps case and accents, as the output must have them", NORMALIZATIONS
    )
    max_length: int = knob(
        96, "tokens per sentence on either side; longer ones are truncated (counted warning)", bounds="[4, 1024]"
    )
    # The default recipe is tuned to a 30-minute budget on 2 CPU cores, where the step count is what is short
    # (the one-epoch comparisons that chose it: tests/benchmarks/RESULTS.md)
    layers: int = knob(1, "encoder blocks and decoder blocks (each)", bounds=">= 1", search=(1, 2, 3))
    d_model: int = knob(256, "model width", bounds=">= 8", search=(128, 256, 384))
    heads: int = knob(4, "attention heads (a divisor of d_model)", bounds=">= 1")
    ffn: int = knob(1024, "feed-forward width", bounds=">= 4", search=(512, 1024, 2048))
    dropout: float = knob(
        -1.0,
        "dropout in every block; -1 = from the data: 0.3 for a low-resource set (fewer than "
        "300,000 running words a side) the recipe passes over 30 times or more, 0.1 for one with fewer passes "
        "and up to 600,000 words, else 0",
        bounds="[-1, 1)",
        search="uniform:0,0.3",
    )
    token_dropout: float = knob(
        -1.0,
        "share of source and decoder-input pieces replaced by [UNK] in training (word "
        "dropout); -1 = from the data: 0.1 for a low-resource set, else 0",
        bounds="[-1, 1)",
    )
    spelled_copies: float = knob(
        -1.0,
        "share of the training pairs, drawn anew each epoch, in which every word found on both sides (a name, a "
        "number) is spelled out one character a piece on both, so that the copy head learns to walk through a run "
        "of pieces it never wrote (needs one vocabulary for both sides); -1 = from the data: 0.5 with the copy head "
        "when fewer than 30 distinct words are copied in several pieces by the training pairs themselves, else 0 "
        "(they carried new names through on a tiny set that copies 5, and cost chrF and names on real sets that "
        "copy 200 and more: tests/benchmarks/RESULTS.md)",
        bounds="[-1, 1]",
    )
    epochs: int = knob(
        3,
        "training epochs (early stopping on validation chrF); with more time than "
        "30 CPU minutes, 10-20 epochs and --layers 2 translate better",
    )
    xla: bool = knob(
        True,
        "compile the training step with XLA: 2.3x the throughput of graph mode here, for "
        "~25 s of compiling per batch shape (--no-xla for tiny runs, where compiling dominates)",
    )
    batch_size: int = knob(32, "sentence pairs per batch (batches group pairs of similar length)")
    optimizer: str = knob("adam", "optimizer", ("sgd", "adam", "adamw", "rmsprop", "adagrad"))
    lr: float = knob(1e-3, "peak learning rate (after the warm-up)")
    warmup_epochs: float = knob(0.25, "linear warm-up length in epochs, then cosine decay")
    weight_decay: float = knob(0.0, "decoupled weight decay (adamw only)")
    clipnorm: float = knob(1.0, "clip gradients to this global norm (0 = off)")
    label_smoothing: float = knob(
        -1.0,
        "label smoothing of the token cross-entropy; -1 = from the data: 0.2 for a low-resource set the recipe "
        "passes over 30 times or more, else 0.1",
        bounds="[-1, 1)",
    )
    early_stopping: int = knob(3, "stop after N epochs without a better validation chrF (0 = off)")
    min_steps: int = knob(
        -1,
        "a small data set trains at least this many optimizer steps: more epochs, with "
        "early-stopping patience and warm-up stretched alike (off when --epochs is given; "
        "0 = the recipe's epochs as they are); -1 = from the data: 5,000 for a low-resource "
        "set (its dropout and word dropout learn slower), else 2,000",
        bounds=">= -1",
    )
    beam_size: int = knob(4, "beam width for the test BLEU reported beside greedy (1 = greedy only)", bounds="[1, 32]")
    length_penalty: float = knob(
        0.6, "beam search length penalty alpha (GNMT); 0 = plain log-probability", bounds=">= 0"
    )
    eval_samples: int = knob(
        600, "test pairs decoded for BLEU/chrF after training (0 = the whole test split)", bounds=">= 0"
    )
    val_fraction: float = knob(0.03, "validation share (of chapters for bible-en-es, of pairs otherwise)")
    test_fraction: float = knob(0.05, "test share (of chapters for bible-en-es, of pairs otherwise)")
    samples: int = knob(50, "test translations written to samples.tsv (source, reference, hypothesis)", bounds=">= 0")

    def validate(self) -> None:
        super().validate()
        if self.d_model % self.heads:
            raise UserInputError(f"heads: expected a divisor of d_model ({self.d_model}), got {self.heads}")
        if self.target_column == self.source_column:
            raise UserInputError(
                f"target_column: expected a column other than --source-column, got {self.target_column}"
            )
        if bool(self.source_file) != bool(self.target_file):
            raise UserInputError("source_file, target_file: give both (line-aligned plain-text files) or neither")
        if self.test_fraction <= 0:
            raise UserInputError(
                f"test_fraction: expected a share > 0 (BLEU is measured on it), got {self.test_fraction}"
            )
        if 0 < self.vocab_size < 100:
            raise UserInputError(f"vocab_size: expected 0 (from the data) or at least 100, got {self.vocab_size}")
        check_encoding(self.encoding)
