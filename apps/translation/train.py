"""Train a translator on your sentence pairs (keras-io style, top to bottom).

    python apps/translation/train.py --data eng-spa.tsv --source-column 0 --target-column 1
    python apps/translation/train.py --source-file train.en --target-file train.es --epochs 10
    python apps/translation/train.py --help

Setup: the config comes from flags (and ``--config FILE.yaml``); data: a TSV of
source and target columns, two line-aligned text files, or the embedded KJV /
Reina-Valera verse pairs, checked line by line and split by chapter (or by pair)
with a seed; vocabularies: one WordPiece per language, learned from the training
split; model: an encoder-decoder Transformer over token ids, trained with teacher
forcing and label smoothing by the shared driver (precision policy, optimizer,
warm-up then cosine decay, early stopping on validation token accuracy,
checkpoints, resume); evaluate: BLEU and chrF (sacrebleu) of greedy and beam-search
translations of the test split, sample translations, BLEU by sentence length.
Export keeps the tokenizer and the greedy loop inside the SavedModel and .tflite.
This script is the same as ``edgesuite train translation``.
"""

import sys

from edgesuite.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "translation", *sys.argv[1:]], prog="apps/translation/train.py"))
