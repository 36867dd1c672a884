"""The text-classification Task: what the driver, the CLI and the exporter call."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
from edgesuite.apps.text_classification import data as tcdata
from edgesuite.apps.text_classification import model as tcmodel
from edgesuite.apps.text_classification.config import Config
from edgesuite.apps.text_classification.serving import SERVING
from edgesuite.common import metrics as cmetrics
from edgesuite.common import plots as cplots
from edgesuite.common import text as ctext
from edgesuite.common.data import batch_pipeline
from edgesuite.common.task import DataSplits, Task


class TextClassificationTask(Task):
    name = "text-classification"
    Config = Config
    serving = SERVING
    monitor = ("val_macro_f1", "max")

    # ---- data -------------------------------------------------------------
    def load_data(self, cfg: Config) -> DataSplits:
        splits = tcdata.load_splits(cfg)
        vocab = ctext.learn_vocabulary(splits.train.texts, cfg.vocab_size, cfg.normalize, log=print)
        tokenizer = self._tokenizer(cfg, vocab)
        k = len(splits.class_names)
        info = {
            "task": self.name,
            "class_names": splits.class_names,
            "model": cfg.model,
            "tokenizer": tokenizer.settings(),
            "input_length": tokenizer.output_length,
            "data_name": splits.data_name,
            "split_sizes": {n: (len(s) if s is not None else 0) for n, s in
                            (("train", splits.train), ("val", splits.val), ("test", splits.test))},
        }

        def pipe(texts: tcdata.LabelledTexts | None, train: bool):
            if texts is None or len(texts) == 0:
                return None
            return batch_pipeline(self._dataset(texts, tokenizer, k), cfg.batch_size, shuffle=train and cfg.shuffle,
                                  seed=cfg.seed)

        counts = np.bincount(splits.train.labels, minlength=k).tolist()
        truncated = self._truncated_share(splits.train.texts[:2000], tokenizer)
        print(f"vocabulary: {len(vocab)} word pieces; {truncated:.0%} of training texts are longer than "
              f"--max-length {cfg.max_length} tokens and are truncated")
        return DataSplits(train=pipe(splits.train, True), val=pipe(splits.val, False), test=pipe(splits.test, False),
                          info=info, train_size=len(splits.train), class_counts=counts,
                          extras={"val_texts": splits.val, "misclassified": cfg.misclassified})

    @staticmethod
    def _tokenizer(cfg, vocab):
        return ctext.TextTokenizer(vocab, cfg.max_length, cfg.normalize,
                                   cfg.bigram_buckets if cfg.model == "bow" else 0)

    @staticmethod
    def _truncated_share(texts: list[str], tokenizer) -> float:
        if not texts:
            return 0.0
        import tensorflow as tf

        # the untruncated token counts from the same WordPiece op (no second vocabulary table)
        lengths = tokenizer.tokenizer.tokenize(tf.constant(texts)).row_lengths().numpy()
        return float(np.mean(lengths > tokenizer.max_length))

    @staticmethod
    def _dataset(texts: tcdata.LabelledTexts, tokenizer, k: int):
        import tensorflow as tf

        ids = ctext.tokenize(texts.texts, tokenizer)
        return tf.data.Dataset.from_tensor_slices((ids, np.eye(k, dtype=np.float32)[texts.labels]))

    def load_eval_data(self, cfg: Config, info: dict, data: str | None):
        if data is None:
            splits = tcdata.load_splits(cfg)
            texts = splits.test if splits.test is not None else splits.val
        else:
            texts = tcdata.load_eval_set(data, cfg, info["class_names"])
        tokenizer = ctext.tokenizer_from_settings(info["tokenizer"])
        return batch_pipeline(self._dataset(texts, tokenizer, len(info["class_names"])), cfg.batch_size,
                              shuffle=False, seed=cfg.seed, cache=False)

    # ---- model ------------------------------------------------------------
    def build_model(self, cfg: Config, info: dict):
        return tcmodel.build(cfg, len(info["class_names"]), len(info["tokenizer"]["vocab"]))

    def loss_and_metrics(self, cfg: Config, info: dict):
        import keras

        return (keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                [keras.metrics.CategoricalAccuracy(name="accuracy"),
                 keras.metrics.F1Score(average="macro", name="macro_f1")])

    # ---- evaluation -------------------------------------------------------
    def evaluate(self, model, ds, info: dict) -> dict:
        return cmetrics.classification_metrics(*cmetrics.predict_dataset(model, ds), info["class_names"])

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list[Path]:
        out = [cplots.training_curves(run.history_path, run.plots_dir / "training_curves.png")]
        if "confusion_matrix" in metrics:
            out.append(cplots.confusion_matrix(metrics["confusion_matrix"], data.info["class_names"],
                                               run.plots_dir / "confusion_matrix.png"))
        val = data.extras.get("val_texts")
        if data.val is not None and val is not None:
            out.append(self._write_misclassified(run.path / "misclassified.csv", model, data.val, val,
                                                 data.info["class_names"], data.extras.get("misclassified", 50)))
        return out

    def _write_misclassified(self, path: Path, model, ds, texts: tcdata.LabelledTexts, names: list[str],
                             limit: int) -> Path:
        """The most confident mistakes on the validation split: where, true, predicted, probability, text."""
        labels, probs = cmetrics.predict_dataset(model, ds)
        pred = probs.argmax(-1)
        wrong = np.flatnonzero(pred != labels)
        wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:limit]
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["where", "true", "predicted", "probability", "text"])
            for i in wrong:
                w.writerow([texts.where[i], names[labels[i]], names[pred[i]], f"{probs[i, pred[i]]:.3f}", texts.texts[i]])
        os.replace(tmp, path)
        return path

TASK = TextClassificationTask()
