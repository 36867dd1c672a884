"""Machine translation on your own sentence pairs, top to bottom as a keras-io example reads:
setup, data, model, train, evaluate, export.

    python apps/translation/train.py                                   # the embedded English-Spanish verses
    python apps/translation/train.py --data pairs.tsv --epochs 10      # source<TAB>target rows

--data takes a TSV (extra columns are ignored) or a named set; `edgesuite train translation
--source-file --target-file` takes two line-aligned files. This script runs the recipe below in one
process; `edgesuite train translation` runs the same recipe and adds --resume, --time-budget and
multi-worker training.
"""

import sys

from edgesuite import api
from edgesuite.common.log import say

# Setup: the recipe's knobs, in view. Each number lives once, as the default in apps/translation/config.py
# (what `edgesuite train translation` runs), and the script prints them as it starts; a flag changes one
# (--lr 1e-3), and `--help` lists them all.
RECIPE = (
    "vocab_size",
    "shared_vocab",
    "max_length",  # WordPiece sized from the words, joint if it can
    "layers",
    "d_model",
    "heads",
    "ffn",
    "dropout",  # a small Transformer
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "warmup_epochs",
    "label_smoothing",
    "token_dropout",
    "clipnorm",  # -1: from the data (more for fewer words)
    "beam_size",  # the test BLEU is also reported with this beam
)


def main(argv=None) -> int:
    knobs, formats = api.script_arguments("translation", __doc__, RECIPE, argv)  # every knob as a flag
    task, cfg = api.prepare("translation", **knobs)

    # Data: pairs read and checked (a bad line is named and skipped unless --strict), split by group
    # (the embedded verses by chapter), one WordPiece vocabulary learned per language.
    data = task.load_data(cfg)
    src, tgt = (len(data.info[f"{side}_tokenizer"]["vocab"]) for side in ("source", "target"))
    say(f"{data.train_size} training pairs; {src} source and {tgt} target word pieces")

    # Model: an encoder-decoder Transformer on token ids; export puts the tokenizers and the decoding
    # loop around it, so the SavedModel and float TFLite files take and return text.
    model = task.build_model(cfg, data.info)
    say(f"model: {model.count_params():,} parameters")

    # Train: the shared driver with teacher forcing; the best epoch by validation chrF.
    run = api.fit(task, cfg, data)

    # Evaluate: BLEU and chrF (sacrebleu) on the test pairs, greedy and with a beam; samples.tsv.
    m = run.metrics
    beam = m.get(f"bleu_beam{cfg.beam_size}", m["bleu"])
    say(f"test BLEU {m['bleu']:.2f} greedy, {beam:.2f} with a beam of {cfg.beam_size}; chrF {m['chrf']:.2f}")
    with open(run.path / "samples.tsv", encoding="utf-8") as samples:
        for line in list(samples)[1:4]:  # source, reference, hypothesis
            say("  " + "\n    -> ".join(line.rstrip("\n").split("\t")))

    # Export: every format, checked by BLEU and exact match against the Keras model's translations.
    report = run.export(formats)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
