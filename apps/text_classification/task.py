"""The text-classification Task: what the driver, the CLI and the exporter call."""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from edgesuite.apps.text_classification import baseline, minilm, teachers
from edgesuite.apps.text_classification import data as tcdata
from edgesuite.apps.text_classification import model as tcmodel
from edgesuite.apps.text_classification.config import AUTO_CANDIDATES, BAG_MODELS, ENCODER_MODELS, Config
from edgesuite.apps.text_classification.serving import SERVING
from edgesuite.common import metrics as cmetrics
from edgesuite.common import plots as cplots
from edgesuite.common import precision, pretrained
from edgesuite.common import text as ctext
from edgesuite.common.config import teacher_runs
from edgesuite.common.data import batch_pipeline
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.common.task import DataSplits, Task

# the range --max-length 0 picks from: a bag of n-grams costs linear time in the length, the others more
FITTED_LENGTH = {"bag": (16, 2048), "other": (16, 512), "encoder": (16, 254)}
# --model minilm's recipe where the knobs are left at the app's defaults (Task.from_data): BERT fine-tuning's
# small rate with a tenth of the steps as warm-up, a batch of 32, a few epochs (small sets: 300 steps at least)
ENCODER_RECIPE = {"lr": 5e-5, "batch_size": 32, "epochs": 4, "min_steps": 300, "warmup_epochs": 0.4}
# --model auto takes the encoder when its estimated fine-tuning fits: minutes without a --time-budget, and the
# training speed of a first estimate (token positions a second on a 2-core AVX512_BF16/AMX CPU under
# mixed_bfloat16: tests/benchmarks/RESULTS.md); one that passes is checked by timing a few steps on the machine
AUTO_ENCODER_MINUTES, ENCODER_TOKENS_PER_SECOND = 40.0, 2500.0
AUTO_ENCODER_MIN_TEXTS = 1000  # below it the validation split (~100 texts) has a standard error of ~4 points
# --bigram-buckets 0: the linear model's table (vocabulary + buckets rows of class scores and an idf) holds at
# most this many numbers (8 MB of float32, 2 MB in an int8 file); the bag of words' rows are 64-wide embeddings
TABLE_NUMBERS, BOW_BUCKETS = 2**21, 20_000


class TextClassificationTask(Task):
    name = "text-classification"
    Config = Config
    serving = SERVING
    monitor = ("val_macro_f1", "max")
    from_data = {
        "model": "auto",
        "max_length": 0,
        "bigram_buckets": 0,
        "trigram_buckets": -1,  # see Task.from_data
        "lr": 2e-3,
        "batch_size": 64,
        "epochs": 20,
        "min_steps": 1000,
        "warmup_epochs": 1.0,
    }

    # ---- data -------------------------------------------------------------
    def load_data(self, cfg: Config) -> DataSplits:
        splits = tcdata.load_splits(cfg)
        encoder = folder = None
        if cfg.model in ENCODER_MODELS:  # the checkpoint's vocabulary and lower-casing
            folder = pretrained.encoder_folder(minilm.ENCODER, cfg.weights, log=say)
            encoder, vocab = minilm.read_config(folder), minilm.read_vocab(folder)
            if cfg.normalize != "lower":
                say("normalize: lower (the checkpoint's vocabulary is uncased), not " + cfg.normalize)
            cfg = dataclasses.replace(cfg, normalize="lower")
            say(
                f"pretrained encoder: {folder} ({encoder['num_hidden_layers']} layers, {encoder['hidden_size']} "
                f"wide, {len(vocab)} word pieces; an English vocabulary)"
            )
        else:
            vocab = ctext.learn_vocabulary(splits.train.texts, cfg.vocab_size, cfg.normalize, log=say)
        length = cfg.max_length or self._fitted_length(splits.train.texts, vocab, cfg)
        if encoder and length + 2 > encoder["max_position_embeddings"]:
            raise UserInputError(
                f"max_length: expected at most {encoder['max_position_embeddings'] - 2} for the "
                f"encoder's {encoder['max_position_embeddings']} positions, got {length}"
            )
        k = len(splits.class_names)
        buckets = trigrams = 0
        if cfg.model in BAG_MODELS:
            buckets, trigrams = self._fitted_buckets(splits.train.texts, vocab, length, cfg, k)
        tokenizer = ctext.TextTokenizer(vocab, length, cfg.normalize, buckets, trigrams, special_tokens=bool(encoder))
        info = {
            "task": self.name,
            "class_names": splits.class_names,
            "model": cfg.model,
            "tokenizer": tokenizer.settings(),
            "input_length": tokenizer.output_length,
            "max_length": length,
            **({"bigram_buckets": buckets, "trigram_buckets": trigrams} if cfg.model in BAG_MODELS else {}),
            **({"encoder": encoder, **ENCODER_RECIPE} if encoder else {}),
            "data_name": splits.data_name,
            "split_sizes": {
                n: (len(s) if s is not None else 0)
                for n, s in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            },
        }

        ids = {
            name: ctext.tokenize(part.texts, tokenizer)
            for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            if part is not None and len(part)
        }
        soft = None  # the teachers' probabilities for the training texts, then for the unlabelled ones
        if teacher_runs(cfg):
            extra = teachers.read_unlabelled(cfg.unlabelled, cfg.encoding) if cfg.unlabelled else []
            soft = teachers.teacher_targets(
                teacher_runs(cfg), splits.train.texts + extra, splits.class_names, cfg.temperature
            )
            if soft is not None:
                info["teacher_targets"] = True
                if extra:
                    ids["train"] = np.concatenate([ids["train"], ctext.tokenize(extra, tokenizer)])
                    say(f"unlabelled: {len(extra)} texts from {cfg.unlabelled}, labelled by the teachers")

        batch = cfg.batch_size  # the encoder's recipe batch where the knob is left at its default (from_data)
        if encoder and cfg.batch_size == self.from_data["batch_size"]:
            batch = ENCODER_RECIPE["batch_size"]

        def pipe(name: str, train: bool):
            if name not in ids:
                return None
            targets = None if name != "train" or soft is None else self._with_teacher(splits.train.labels, soft, k)
            return batch_pipeline(
                self._dataset_of(ids[name], getattr(splits, name).labels, k, targets),
                batch,
                shuffle=train and cfg.shuffle,
                seed=cfg.seed,
            )

        start = None
        if cfg.model == "linear":  # the n-grams' inverse document frequencies weight the linear model's inputs
            info["idf"] = self._idf(ids["train"], len(vocab) + buckets + trigrams)
            start = baseline.fit_linear_start(ids, splits, info["idf"], k, cfg.class_weight)
            say(
                f"linear model's start: logistic regression on its TF-IDF inputs, C {start['C']} (validation "
                f"macro_f1 {start['val_macro_f1']:.4f})"
                if "val_macro_f1" in start
                else f"linear model's start: logistic regression on its TF-IDF inputs, C {start['C']}"
            )
        counts = np.bincount(splits.train.labels, minlength=k).tolist()
        pick = np.random.default_rng(cfg.seed).permutation(len(splits.train))[:2000]  # files are often sorted by class
        truncated = self._truncated_share([splits.train.texts[i] for i in pick], tokenizer)
        say(
            f"vocabulary: {len(vocab)} word pieces; {truncated:.0%} of training texts are longer than "
            f"{length} tokens and are truncated"
        )
        held = splits.test if splits.test is not None else splits.val
        base = (
            baseline.fit_and_score(splits.train, splits.val if splits.test is not None else None, held, k)
            if held is not None and len(held.texts)
            else None
        )
        if base:
            say(
                f"baseline ({base['features']} TF-IDF + logistic regression, C {base['C']}): accuracy "
                f"{base['accuracy']:.4f}, macro_f1 {base['macro_f1']:.4f} on the held-out split"
            )
        return DataSplits(
            train=pipe("train", True),
            val=pipe("val", False),
            test=pipe("test", False),
            info=info,
            train_size=len(ids["train"]),
            class_counts=counts,
            extras={
                "val_texts": splits.val,
                "misclassified": cfg.misclassified,
                "baseline": base,
                "linear_start": start,
                "encoder_folder": folder,
            },
        )

    @staticmethod
    def _fitted_buckets(texts: list[str], vocab: list[str], length: int, cfg, classes: int) -> tuple[int, int]:
        """The hash buckets of the bigram and trigram ids (``--bigram-buckets`` / ``--trigram-buckets`` when
        given). From the data: enough for the training split's distinct n-grams (the power of two at or above
        their count, so that few of them share a bucket), as many as the model's table allows. The linear model
        keeps one score per class a row (at most ``TABLE_NUMBERS`` numbers in all), the bag of words an embedding
        (at most ``BOW_BUCKETS`` buckets, the old fixed count: 5 MB of float32 table). Trigrams come from the
        data for the linear model on text written without spaces, as the baseline's character trigrams do (on
        word pieces of spaced text they cost the regression a point: RESULTS.md), in the
        room the bigrams leave."""
        v = len(vocab)
        want_trigrams = cfg.trigram_buckets < 0 and cfg.model == "linear" and baseline.spaceless(texts)
        ids = ctext.tokenize(texts, ctext.TextTokenizer(vocab, length, cfg.normalize))
        counts = [len(np.unique(code[live])) for code, live in ctext.ngram_codes(ids, v, want_trigrams)]
        distinct = counts[0]  # distinct bigrams (and trigrams after them)
        cap = TABLE_NUMBERS // (classes + 1) - v if cfg.model == "linear" else BOW_BUCKETS

        def fitted(count: int, room: int) -> int:
            return int(min(2 ** max(10, math.ceil(math.log2(max(count, 1)))), room))

        buckets = cfg.bigram_buckets or max(1024, fitted(distinct, cap))
        if not cfg.bigram_buckets:
            say(
                f"bigram buckets from the data: {buckets} ({distinct} distinct word-piece bigrams in the training "
                "split; --bigram-buckets N sets it)"
            )
        trigrams = max(cfg.trigram_buckets, 0)
        if want_trigrams:
            distinct3 = counts[1]
            room = cap - buckets
            room = 2 ** int(math.log2(room)) if room >= 1024 else 0
            trigrams = fitted(distinct3, room)
            say(
                f"trigram buckets from the data (text without spaces): {trigrams} ({distinct3} distinct word-piece "
                f"trigrams in the training split{'' if trigrams else '; no room left in the table'}; "
                "--trigram-buckets N sets it, 0 drops them)"
            )
        return int(buckets), int(trigrams)

    @staticmethod
    def _fitted_length(texts: list[str], vocab: list[str], cfg) -> int:
        """``--max-length 0``: the token count that covers 95 % of the training texts (of 5,000 drawn), rounded up
        to a multiple of 8, in 16..512 (16..2048 for the bag models, whose cost grows linearly)."""
        import tensorflow as tf

        tok = ctext.TextTokenizer(vocab, 8, cfg.normalize)
        pick = np.random.default_rng(cfg.data_seed).permutation(len(texts))[:5000]
        lengths = tok.tokenizer.tokenize(tf.constant([texts[i] for i in pick])).row_lengths().numpy()
        p95 = int(np.percentile(lengths, 95)) if len(lengths) else 16
        low, high = FITTED_LENGTH[
            "bag" if cfg.model in BAG_MODELS else "encoder" if cfg.model in ENCODER_MODELS else "other"
        ]
        length = int(min(high, max(low, -(-p95 // 8) * 8)))
        say(
            f"max-length from the data: {length} tokens (95 % of the training texts have at most {p95}; "
            "--max-length N sets it)"
        )
        return length

    @staticmethod
    def _idf(ids: np.ndarray, size: int) -> list[float]:
        """Smoothed inverse document frequency of every id over the training texts, as scikit-learn's
        TfidfVectorizer: ln((1 + n) / (1 + df)) + 1 (rounded: info.json keeps it); 0 for the padding id."""
        df = np.zeros(size, np.int64)
        for row in ids:
            df[np.unique(row[row > 0])] += 1
        idf = np.round(np.log((1 + len(ids)) / (1 + df)) + 1, 3)
        idf[0] = 0.0
        return idf.tolist()

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
        return TextClassificationTask._dataset_of(ctext.tokenize(texts.texts, tokenizer), texts.labels, k)

    @staticmethod
    def _dataset_of(ids: np.ndarray, labels: np.ndarray, k: int, targets: np.ndarray | None = None):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(
            (ids, np.eye(k, dtype=np.float32)[labels] if targets is None else targets)
        )

    @staticmethod
    def _with_teacher(labels: np.ndarray, soft: np.ndarray, k: int) -> np.ndarray:
        """``[labels | teacher probabilities]`` a row; an unlabelled text's label is its teachers' probabilities."""
        onehot = np.concatenate([np.eye(k, dtype=np.float32)[labels], soft[len(labels) :]])
        return np.concatenate([onehot, soft], axis=1)

    def load_eval_data(self, cfg: Config, info: dict, data: str | None):
        if data is None:
            splits = tcdata.load_splits(cfg)
            texts = splits.test if splits.test is not None else splits.val
        else:
            texts = tcdata.load_eval_set(data, cfg, info["class_names"])
        tokenizer = ctext.tokenizer_from_settings(info["tokenizer"])
        return batch_pipeline(
            self._dataset(texts, tokenizer, len(info["class_names"])),
            cfg.batch_size,
            shuffle=False,
            seed=cfg.seed,
            cache=False,
        )

    # ---- model ------------------------------------------------------------
    def model_candidates(self, cfg: Config) -> tuple[str, ...]:
        """linear, bow, cnn; then the pretrained encoder when its checkpoint is at hand (or fetched) and its
        fine-tuning, estimated from the data, fits the budget. Its vocabulary is English; other languages are
        judged as any candidate is, by validation macro F1."""
        why = self._encoder_unfit(cfg)
        say(f"model auto: minilm {'left out: ' + why if why else 'included'}")
        return AUTO_CANDIDATES if why else (*AUTO_CANDIDATES, *ENCODER_MODELS)

    @staticmethod
    def _encoder_unfit(cfg: Config) -> str | None:
        """Why ``--model auto`` leaves the encoder out, or None: ``--weights none``, fewer than
        ``AUTO_ENCODER_MIN_TEXTS`` training texts, more estimated minutes than the budget (half the
        ``--time-budget``; else ``AUTO_ENCODER_MINUTES``) at ``ENCODER_TOKENS_PER_SECOND``, or no checkpoint
        (fetched when missing)."""
        if cfg.weights == "none":
            return "--weights none"
        splits = tcdata.load_splits(cfg)
        n = len(splits.train)
        if n < AUTO_ENCODER_MIN_TEXTS:
            return (
                f"{n} training texts, fewer than {AUTO_ENCODER_MIN_TEXTS}: a validation split that small cannot "
                "tell the candidates apart (--model minilm trains it by name)"
            )
        order = np.random.default_rng(cfg.data_seed).permutation(n)[:2000]  # files are often sorted by class
        pick = [splits.train.texts[i] for i in order]
        # word pieces per text: ~1.3 a word of English, one a CJK character; capped as --max-length 0 caps them
        words = np.array([len(t.split()) + sum("\u3400" <= ch <= "\u9fff" for ch in t) / 1.3 for t in pick])
        length = min(max(16.0, float(np.percentile(words, 95)) * 1.3), FITTED_LENGTH["encoder"][1]) + 2
        epochs = max(
            ENCODER_RECIPE["epochs"], math.ceil(ENCODER_RECIPE["min_steps"] * ENCODER_RECIPE["batch_size"] / max(n, 1))
        )
        positions = n * epochs * length
        budget = cfg.time_budget / 2 if cfg.time_budget else AUTO_ENCODER_MINUTES
        work = f"{n} texts, {epochs} epochs of ~{length:.0f} tokens"
        minutes = positions / ENCODER_TOKENS_PER_SECOND / 60
        if minutes > budget:
            return (
                f"its fine-tuning would take ~{minutes:.0f} min on a fast CPU ({work}) where {budget:.0f} min are "
                "allowed (--time-budget N, or --model minilm)"
            )
        try:
            folder = pretrained.encoder_folder(minilm.ENCODER, cfg.weights, log=say)
        except UserInputError as exc:
            return str(exc)
        # the first estimate holds on a fast CPU; this machine's own speed decides (a few seconds of timing)
        encoder = minilm.read_config(folder)
        with precision.scope(cfg.precision, log=lambda _: None):
            speed = minilm.training_speed(
                encoder,
                len(minilm.read_vocab(folder)),
                min(math.ceil(length), encoder["max_position_embeddings"]),
            )
        minutes = positions / speed / 60
        say(
            f"model auto: minilm fine-tuning measured at {speed:,.0f} token positions a second here: ~{minutes:.0f} min"
        )
        if minutes > budget:
            return (
                f"its fine-tuning would take ~{minutes:.0f} min on this machine ({work} at {speed:,.0f} positions a "
                f"second) where {budget:.0f} min are allowed (--time-budget N, or --model minilm)"
            )
        return None

    def build_model(self, cfg: Config, info: dict):
        if info.get("encoder"):
            return minilm.build(
                len(info["class_names"]),
                len(info["tokenizer"]["vocab"]),
                info["input_length"],
                info["encoder"],
                cfg.dropout,
            )
        tok = info["tokenizer"]  # the n-gram buckets the data gave (the knobs may say "from the data")
        cfg = dataclasses.replace(
            cfg, bigram_buckets=tok["bigram_buckets"], trigram_buckets=tok.get("trigram_buckets", 0)
        )
        return tcmodel.build(
            cfg, len(info["class_names"]), len(info["tokenizer"]["vocab"]), info["input_length"], idf=info.get("idf")
        )

    def initial_weights(self, model, data: DataSplits) -> None:
        """The linear model starts where logistic regression on its own inputs ends (``baseline.py``): each id's
        class scores are the regression's coefficients, the softmax layer passes them on with its intercepts."""
        folder = (data.extras or {}).get("encoder_folder")
        if folder is not None:
            minilm.load_checkpoint(model, folder, data.info["encoder"])
            return
        start = (data.extras or {}).get("linear_start")
        if start is None:
            return
        k = start["intercept"].shape[0]
        model.get_layer("ngram_weights").set_weights([start["coef"].T.astype(np.float32)])
        model.get_layer("probabilities").set_weights(
            [np.eye(k, dtype=np.float32), start["intercept"].astype(np.float32)]
        )

    def loss_and_metrics(self, cfg: Config, info: dict):
        import keras

        return (
            keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            [
                keras.metrics.CategoricalAccuracy(name="accuracy"),
                keras.metrics.F1Score(average="macro", name="macro_f1"),
            ],
        )

    def teacher_problem(self, teacher_info: dict, info: dict) -> str | None:
        mine, theirs = info["tokenizer"], teacher_info["tokenizer"]
        if teacher_info.get("encoder") and not mine.get("special_tokens"):
            return None  # a pretrained encoder reads the texts with its own vocabulary (teachers.py)
        if theirs["vocab"] != mine["vocab"] or theirs["normalize"] != mine["normalize"]:
            return (
                "tokenizes with another vocabulary (a teacher needs the student's --vocab-size and "
                "--normalize, on the same training split)"
            )
        return None

    def teacher_input(self, x, teacher_info: dict, info: dict):
        """The student's word pieces at the teacher's length, with the teacher's hashed n-grams if it takes them
        (the student's own n-grams, if any, are dropped first)."""
        import tensorflow as tf

        mine, theirs = info["tokenizer"], teacher_info["tokenizer"]
        if theirs.get("special_tokens") and not mine.get("special_tokens"):
            return teachers.retokenize(x, teacher_info, info)
        ngrams = ("max_length", "bigram_buckets", "trigram_buckets")
        if all(mine.get(key, 0) == theirs.get(key, 0) for key in ngrams):
            return x
        ids, length = x[:, : mine["max_length"]], theirs["max_length"]
        ids = (
            ids[:, :length] if length <= mine["max_length"] else tf.pad(ids, [[0, 0], [0, length - mine["max_length"]]])
        )
        return ctext.with_ngrams(ids, len(theirs["vocab"]), theirs["bigram_buckets"], theirs.get("trigram_buckets", 0))

    # ---- evaluation -------------------------------------------------------
    def evaluate(self, model, ds, info: dict) -> dict:
        return cmetrics.classification_metrics(*cmetrics.predict_dataset(model, ds), info["class_names"])

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list[Path]:
        out = [cplots.training_curves(run.history_path, run.plots_dir / "training_curves.png")]
        if "confusion_matrix" in metrics:
            out.append(
                cplots.confusion_matrix(
                    metrics["confusion_matrix"], data.info["class_names"], run.plots_dir / "confusion_matrix.png"
                )
            )
        val = data.extras.get("val_texts")
        if data.val is not None and val is not None:
            out.append(
                self._write_misclassified(
                    run.path / "misclassified.csv",
                    model,
                    data.val,
                    val,
                    data.info["class_names"],
                    data.extras.get("misclassified", 50),
                )
            )
        return out

    def _write_misclassified(
        self, path: Path, model, ds, texts: tcdata.LabelledTexts, names: list[str], limit: int
    ) -> Path:
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
                w.writerow(
                    [texts.where[i], names[labels[i]], names[pred[i]], f"{probs[i, pred[i]]:.3f}", texts.texts[i]]
                )
        os.replace(tmp, path)
        return path


TASK = TextClassificationTask()
