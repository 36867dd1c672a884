"""Text classification on your own labelled texts, top to bottom as a keras-io example reads:
setup, data, model, train, evaluate, export.

    python apps/text_classification/train.py                                   # Rotten Tomatoes snippets
    python apps/text_classification/train.py --data reviews.csv --text-column review --label-column stars

--data takes a CSV/TSV, JSON Lines, a folder of class sub-folders of .txt files, or a folder with
train/val/test files. This script runs the recipe below in one process; `edgesuite train
text-classification` runs the same recipe and adds --resume, --time-budget and multi-worker training.
"""

import sys

from edgesuite import api
from edgesuite.common.log import say

# Setup: the recipe's knobs, in view. Each number lives once, as the default in apps/text_classification/config.py
# (what `edgesuite train text-classification` runs), and the script prints them as it starts; a flag changes one
# (--lr 1e-3), and `--help` lists them all.
RECIPE = (
    "model",
    "vocab_size",
    "normalize",  # WordPiece, BERT uncased
    "max_length",  # 0: from the data, covering most training texts
    "embed_dim",
    "hidden",
    "dropout",
    "epochs",
    "early_stopping",
    "batch_size",  # stops when validation macro F1 stalls
    "optimizer",
    "lr",
    "schedule",
    "class_weight",
    "text_column",
    "label_column",
)

EXAMPLES = ["A wonderful, moving film with superb acting.", "A tedious mess; I was bored throughout."]


def main(argv=None) -> int:
    knobs, formats = api.script_arguments("text-classification", __doc__, RECIPE, argv)  # every knob as a flag
    task, cfg = api.prepare("text-classification", **knobs)
    if cfg.model == "auto":
        # Model selection: linear, bow and cnn each train as a run of their own (each fits its text length to
        # the data) and the best validation macro F1 is kept; --model NAME walks through one model below.
        run = api.fit(task, cfg)
    else:
        # Data: rows read and checked (a bad row is named by file and line), a WordPiece vocabulary learned
        # from the training split only, every text tokenized to max_length ids.
        data = task.load_data(cfg)
        vocab = data.info["tokenizer"]["vocab"]
        say(
            f"{data.train_size} training texts, classes {', '.join(data.info['class_names'])}; "
            f"{len(vocab)} word pieces, {data.info['input_length']} tokens a text"
        )

        # Model: token ids in, probabilities out; export puts the tokenizer in front of it, so the SavedModel
        # and float TFLite files take raw strings.
        model = task.build_model(cfg, data.info)
        say(f"model: {cfg.model}, {model.count_params():,} parameters")

        # Train: the shared driver, classes weighted by inverse frequency, the best epoch by val macro F1.
        run = api.fit(task, cfg, data)

    # Evaluate: the held-out split; misclassified.csv lists the most confident validation mistakes.
    say(f"test accuracy {run.metrics['accuracy']:.4f}, macro F1 {run.metrics['macro_f1']:.4f} -> {run.path}")
    for text, result in zip(EXAMPLES, run.predict(EXAMPLES)):
        say(f"  {result['label']:>12} ({result['probability']:.2f})  {text}")

    # Export: every format, string-in where the format can hold the tokenizer, token ids elsewhere.
    report = run.export(formats)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
