"""Train a text classifier on your texts (keras-io style, top to bottom).

    python apps/text_classification/train.py --data reviews.csv --text-column review --label-column sentiment
    python apps/text_classification/train.py --help

Setup: the config comes from flags (and ``--config FILE.yaml``); data: a CSV/TSV,
JSON Lines file or a folder of class sub-folders of .txt files, checked row by
row and split by seed; vocabulary: WordPiece, learned from the training split;
model: bag of words+bigrams, 1-D CNN, BiLSTM or Transformer over token ids;
train: the shared driver (precision policy, optimizer, schedule, class
weights, early stopping on validation macro F1, checkpoints, resume);
evaluate: accuracy, macro F1, confusion matrix, misclassified texts. Export
keeps the tokenizer inside the SavedModel and .tflite. This script is the
same as ``edgesuite train text-classification``.
"""

import sys

from edgesuite.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "text-classification", *sys.argv[1:]], prog="apps/text_classification/train.py"))
