"""The translation Task: training and evaluation. Data in ``data.py``, the network in ``model.py``, decoding
in ``decoding.py``, what an exported file carries in ``serving.py``."""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from edgesuite.apps.translation import baseline, vocab
from edgesuite.apps.translation import data as tdata
from edgesuite.apps.translation import model as tmodel
from edgesuite.apps.translation import postprocess as codec
from edgesuite.apps.translation.config import Config
from edgesuite.apps.translation.decoding import Decoder
from edgesuite.apps.translation.serving import SERVING
from edgesuite.common import plots as cplots
from edgesuite.common import text as ctext
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.common.task import DataSplits, Task

LENGTH_EDGES = (0, 10, 20, 30, 40, 60)  # source words: the groups of the BLEU-by-length plot
log = logging.getLogger("edgesuite")


def beam_name(beam: int) -> str:
    return "greedy" if beam == 1 else f"beam{beam}"


def longest_run(tokens: list) -> int:
    """The most times one token follows itself in a row."""
    best = run = 0
    for i, t in enumerate(tokens):
        run = run + 1 if i and t == tokens[i - 1] else 1
        best = max(best, run)
    return best


def copy_recall(sources: list[str], references: list[str], hypotheses: list[str]) -> float | None:
    """Of the source words a reference keeps as they are (names, numbers, placeholders: words of 2 or more
    characters, with a capital or a digit, written alike on both sides), the share the translation keeps too."""
    kept = found = 0
    for s, r, h in zip(sources, references, hypotheses):
        ref, hyp = set(baseline.words(r)), set(baseline.words(h))
        for w in set(baseline.words(s)):
            if w in ref and len(w) > 1 and (w[0].isupper() or any(c.isdigit() for c in w)):
                kept += 1
                found += w in hyp
    return found / kept if kept else None


class TranslationTask(Task):
    name = "translation"
    Config = Config
    serving = SERVING
    # the kept epoch, early stopping and tune: chrF of greedy translations of a validation sample (token
    # accuracy under teacher forcing kept rising while BLEU fell on a small set the model memorised)
    monitor = ("val_chrf", "max")
    from_data = {
        "max_length": 0,
        "dropout": -1.0,
        "vocab_size": 0,
        "shared_vocab": "auto",
        "copy_head": "auto",
        "source_normalize": "auto",
        "token_dropout": -1.0,
        "spelled_copies": -1.0,
        "label_smoothing": -1.0,
        "min_steps": -1,
    }
    VAL_CHRF_PAIRS = 200

    # ---- data -------------------------------------------------------------
    def load_data(self, cfg: Config) -> DataSplits:
        splits = tdata.load_splits(cfg)
        say(
            f"data: {len(splits.train)} training, {len(splits.val) if splits.val else 0} validation, "
            f"{len(splits.test)} test pairs ({splits.data_name})"
        )
        recipe = self._fitted_recipe(cfg, splits.train)
        cfg = dataclasses.replace(cfg, source_normalize=recipe["source_normalize"])
        if recipe["shared_vocab"]:  # one vocabulary, learned from both sides: a piece copied is the same id
            src_vocab = tgt_vocab = vocab.joint(
                splits.train.sources,
                splits.train.targets,
                2 * recipe["vocab_size"],
                cfg.target_normalize,
                tmodel.TARGET_RESERVED,
            )
        else:
            src_vocab = ctext.learn_vocabulary(
                splits.train.sources, recipe["vocab_size"], cfg.source_normalize, log=say
            )
            tgt_vocab = ctext.learn_vocabulary(
                splits.train.targets,
                recipe["vocab_size"],
                cfg.target_normalize,
                log=say,
                extra_reserved=tmodel.TARGET_RESERVED,
            )
        src_tok, tgt_tok = tdata.tokenizers(cfg, src_vocab, tgt_vocab)
        dropout = (
            cfg.dropout
            if cfg.dropout >= 0
            else self._fitted_dropout(cfg, len(splits.train), recipe["words"], recipe["passes"])
        )
        info = {
            "task": self.name,
            "source_tokenizer": src_tok.settings(),
            "target_tokenizer": tgt_tok.settings(),
            "max_length": cfg.max_length,
            "dropout": dropout,
            "token_dropout": recipe["token_dropout"],
            "spelled_copies": recipe["spelled_copies"],
            "label_smoothing": recipe["label_smoothing"],
            "shared_vocab": "yes" if recipe["shared_vocab"] else "no",
            "copy_head": recipe["copy_head"],
            "copy_next": recipe["copy_head"] == "on",
            "min_steps": recipe["min_steps"],
            "vocab_size": recipe["vocab_size"],
            "source_normalize": recipe["source_normalize"],
            "beam_size": cfg.beam_size,
            "length_penalty": cfg.length_penalty,
            "eval_samples": cfg.eval_samples,
            "samples": cfg.samples,
            "data_name": splits.data_name,
            "split_sizes": {
                "train": len(splits.train),
                "val": len(splits.val) if splits.val else 0,
                "test": len(splits.test),
            },
        }
        say(f"vocabularies: {len(src_vocab)} source and {len(tgt_vocab)} target word pieces")
        train = tdata.arrays(splits.train, src_tok, tgt_tok, warn="training")
        info["decoding"] = self._fitted_decoding(train[0], train[2])
        share = info["spelled_copies"] = self._fitted_spelled(recipe, train, tgt_vocab)
        spelled = tdata.spelled_copies(train, tgt_vocab) if share else None
        if spelled is not None:
            say(
                f"spelled copies: {int(spelled[3].sum())} of {len(splits.train)} training pairs have a word on both "
                f"sides; each comes spelled out one character a piece in {share:.0%} of the epochs"
            )
        val = tdata.arrays(splits.val, src_tok, tgt_tok, warn="validation") if splits.val else None
        val_ds = tdata.batches(val, cfg.batch_size, cfg.seed, shuffle=False) if val else None
        base = (
            baseline.fit_and_score(splits.train, self.evaluated_pairs(splits.test, info)) if len(splits.test) else None
        )
        if base:
            say(
                f"baselines on the test pairs: word for word (a lexicon of {base['lexicon_words']} words from the "
                f"training pairs) BLEU {base['bleu']:.2f}, chrF {base['chrf']:.2f}; the source copied BLEU "
                f"{base['copy_bleu']:.2f}, chrF {base['copy_chrf']:.2f}"
            )
        return DataSplits(
            train=tdata.batches(
                train,
                cfg.batch_size,
                cfg.seed,
                shuffle=cfg.shuffle,
                token_dropout=recipe["token_dropout"],
                spelled=spelled,
                spelled_share=share,
            ),
            val=val_ds,
            test=tdata.EvalSet(splits.test, val_ds),
            info=info,
            train_size=len(splits.train),
            extras={"train_tokens": int((train[2] > 0).sum()), "val_pairs": splits.val, "baseline": base},
        )

    # between the sets where they helped (5 such words) and hurt (202, 2,407), near the geometric mean
    SPELLED_SHARE, FEW_COPIED_IN_PIECES = 0.5, 30

    def _fitted_spelled(self, recipe: dict, train, vocab: list[str]) -> float:
        """``--spelled-copies -1``: ``SPELLED_SHARE`` with the copy head when the training pairs copy fewer than
        ``FEW_COPIED_IN_PIECES`` distinct words written in several pieces (a tiny set copied 5: new names came
        through 8 to 10 times in 10 with spelled copies, at most once without), else 0 (4,000 verse pairs copied 202,
        14,000 interface strings 2,407: spelled copies cost both chrF and names, tests/benchmarks/RESULTS.md)."""
        if recipe["spelled_copies"] >= 0 or recipe["copy_head"] != "on":
            return max(0.0, recipe["spelled_copies"])
        copied = len(tdata.words_copied_in_pieces(train, vocab))
        share = self.SPELLED_SHARE if copied < self.FEW_COPIED_IN_PIECES else 0.0
        say(
            f"spelled copies from the data: the training pairs copy {copied} distinct words written in several "
            f"pieces ({'fewer than' if share else 'at least'} {self.FEW_COPIED_IN_PIECES}), so spelled copies "
            f"{'in ' + format(share, '.0%') + ' of the epochs' if share else 'off'} (--spelled-copies sets it)"
        )
        return share

    LENGTH_QUANTILE = 0.99  # of the training pairs' target / source piece ratios: the decoding length bound

    def _fitted_decoding(self, source, labels) -> dict:
        """The decoding rules (``postprocess.DECODING_RULES``) with the length bound from the training pairs: at
        most ceil(r x source pieces) + extra target pieces, r the 99th percentile of their target / source ratios,
        so a translation cannot run on to max_length when the model loses its way."""
        src = (source > 0).sum(axis=1)
        tgt = (labels > 0).sum(axis=1) - 1  # without [END]
        real = src > 0
        ratio = np.quantile(tgt[real] / src[real], self.LENGTH_QUANTILE) if real.any() else 0.0
        rules = {**codec.DECODING_RULES, "length_ratio_pct": int(np.ceil(100 * ratio))}
        say(
            f"decoding from the data: at most ceil({rules['length_ratio_pct'] / 100:.2f} x source pieces) + "
            f"{rules['length_extra']} target pieces ({self.LENGTH_QUANTILE:.0%} of the training pairs' ratio), no "
            f"token more than {rules['max_run']} times in a row, no {rules['no_repeat_ngram']} pieces twice"
        )
        return rules

    SMALL_DATA_DROPOUT = 0.1
    # Sennrich & Zhang (ACL 2019) on German-English sets of 100k to 3.2M words: below a few hundred thousand words
    # a side, NMT needs a much smaller subword vocabulary, aggressive dropout with word dropout and more label
    # smoothing; the recipe switches to those settings below LOW_RESOURCE_WORDS running words a side. Their
    # aggressive dropout and smoothing are for a model trained until it memorises: only a recipe planning
    # MEMORISING_PASSES passes over the pairs or more gets them (2,000 verse pairs, 80 passes, were memorised by
    # the fifth without dropout; 14,000 user-interface strings in 13 passes learned far faster without them:
    # tests/benchmarks/RESULTS.md)
    LOW_RESOURCE_WORDS, MEMORISING_PASSES = 300_000, 30
    LOW_RESOURCE_DROPOUT, TOKEN_DROPOUT, LOW_RESOURCE_SMOOTHING, SMOOTHING = 0.3, 0.1, 0.2, 0.1
    WORDS_PER_PIECE, VOCAB_RANGE = 100, (500, 4000)  # per side: one piece per 100 running words, within this range
    MIN_STEPS, LOW_RESOURCE_MIN_STEPS = 2000, 5000  # --min-steps -1: the least optimizer steps, by regime

    def _fitted_recipe(self, cfg: Config, train: tdata.Pairs) -> dict:
        """The knobs at their from-the-data value, chosen from the training pairs (said in the log): the
        vocabulary (size, joint where the sides share an alphabet), and for a low-resource set word dropout and
        more label smoothing."""
        words = max(sum(len(t.split()) for t in train.sources), sum(len(t.split()) for t in train.targets))
        low = words < self.LOW_RESOURCE_WORDS
        lo, hi = self.VOCAB_RANGE
        size = cfg.vocab_size or int(min(hi, max(lo, round(words / self.WORDS_PER_PIECE, -2))))
        overlap = vocab.alphabet_overlap(train.sources, train.targets)
        # joint where it copies: with the copy head (same alphabet, low-resource); a joint vocabulary alone copied no
        # name (RESULTS.md) and doubles the target softmax of a large set (the embedded verses: 8,000 pieces)
        shared = cfg.shared_vocab == "yes" or (
            cfg.shared_vocab == "auto" and overlap >= vocab.SHARED_ALPHABET and (low or cfg.copy_head == "on")
        )
        normalize = (
            cfg.source_normalize if cfg.source_normalize != "auto" else (cfg.target_normalize if shared else "lower")
        )
        copy = cfg.copy_head if cfg.copy_head != "auto" else ("on" if shared and low else "off")
        if copy == "on" and not shared:
            raise UserInputError("copy_head: on needs one vocabulary for both sides (--shared-vocab yes or auto)")
        if cfg.spelled_copies > 0 and not shared:
            raise UserInputError("spelled_copies: needs one vocabulary for both sides (--shared-vocab yes or auto)")
        min_steps = cfg.min_steps if cfg.min_steps >= 0 else (self.LOW_RESOURCE_MIN_STEPS if low else self.MIN_STEPS)
        passes = max(cfg.epochs, math.ceil(min_steps / max(1, math.ceil(len(train) / cfg.batch_size))))
        memorising = low and passes >= self.MEMORISING_PASSES
        recipe = {
            "words": words,
            "passes": passes,
            "vocab_size": size,
            "shared_vocab": shared,
            "source_normalize": normalize,
            "copy_head": copy,
            # heavy dropout and word dropout learn slower: a low-resource set trains more updates
            "min_steps": min_steps,
            "token_dropout": cfg.token_dropout if cfg.token_dropout >= 0 else self.TOKEN_DROPOUT * low,
            "spelled_copies": cfg.spelled_copies,
            "label_smoothing": cfg.label_smoothing
            if cfg.label_smoothing >= 0
            else (self.LOW_RESOURCE_SMOOTHING if memorising else self.SMOOTHING),
        }
        log.info(
            f"recipe from the data: {len(train)} training pairs, {words:,} running words on the longer side"
            f"{' (low-resource: < ' + format(self.LOW_RESOURCE_WORDS, ',') + ')' if low else ''}, {passes} passes "
            f"over them planned; "
            f"vocabulary {size} pieces a side"
            f"{'' if cfg.vocab_size else ' (1 per ' + str(self.WORDS_PER_PIECE) + ' words)'}, "
            f"{'joint' if shared else 'one per side'} ({overlap:.0%} of the target's letters are in the source's "
            f"alphabet), source normalize {normalize}, copy head {copy}; "
            f"token dropout {recipe['token_dropout']}, label smoothing "
            f"{recipe['label_smoothing']}, at least {recipe['min_steps']} steps (--vocab-size, --shared-vocab, "
            "--token-dropout, --label-smoothing, --min-steps set them)"
        )
        return recipe

    def _fitted_dropout(self, cfg: Config, pairs: int, words: int, passes: int) -> float:
        """``--dropout -1``: 0.3 for a low-resource set (fewer than ``LOW_RESOURCE_WORDS`` running words a side)
        that the recipe passes over ``MEMORISING_PASSES`` times or more (2,000 verse pairs, 52,000 words, were
        memorised by epoch 5 without it), 0.1 for one with fewer passes and up to twice those words, else 0 (the
        embedded 28,749 verse pairs, 750,000 words: where the number of updates is what is short)."""
        dropout = (
            self.LOW_RESOURCE_DROPOUT
            if words < self.LOW_RESOURCE_WORDS and passes >= self.MEMORISING_PASSES
            else self.SMALL_DATA_DROPOUT
            if words < 2 * self.LOW_RESOURCE_WORDS
            else 0.0
        )
        log.info(
            f"dropout from the data: {dropout} ({pairs} training pairs, {words:,} running words on the longer "
            f"side, {passes} passes; --dropout sets it)"
        )
        return dropout

    def load_eval_data(self, cfg: Config, info: dict, data: str | None):
        return tdata.eval_set(cfg, info, data)

    def epoch_callbacks(self, cfg: Config, data: DataSplits) -> list:
        """``val_chrf`` in each epoch's logs: chrF (sacrebleu) of greedy translations of a fixed sample of
        validation pairs (at most ``VAL_CHRF_PAIRS``), decoded in the graph's loop."""
        import keras
        import sacrebleu

        pairs = (data.extras or {}).get("val_pairs")
        if not pairs or not len(pairs):
            return []
        if len(pairs) > self.VAL_CHRF_PAIRS:
            pairs = pairs.subset(np.sort(np.random.default_rng(0).permutation(len(pairs))[: self.VAL_CHRF_PAIRS]))
        info = data.info

        class ValidationChrF(keras.callbacks.Callback):
            decoder = None

            def on_epoch_end(self, epoch, logs=None):
                if self.decoder is None or self.decoder.model is not self.model:
                    self.decoder = Decoder(self.model, info)
                hyps = self.decoder.translate(pairs.sources)
                value = float(sacrebleu.corpus_chrf(hyps, [pairs.targets]).score)
                if logs is not None:
                    logs["val_chrf"] = value
                say(f"epoch {epoch + 1}: val_chrf {value:.2f} ({len(pairs)} validation pairs, greedy)")

        return [ValidationChrF()]

    # ---- model ------------------------------------------------------------
    def build_model(self, cfg: Config, info: dict):
        cfg = dataclasses.replace(cfg, dropout=info["dropout"])  # -1 in cfg: from the data
        return tmodel.build(
            cfg,
            len(info["source_tokenizer"]["vocab"]),
            len(info["target_tokenizer"]["vocab"]),
            copy=info.get("copy_head") == "on",
            copy_next=info.get("copy_next", False),  # runs from before it: built as they were trained
        )

    def loss_and_metrics(self, cfg: Config, info: dict):
        smoothing = info.get("label_smoothing", cfg.label_smoothing)  # -1 in cfg: from the data
        return tmodel.SmoothedTokenCrossentropy(smoothing if smoothing >= 0 else self.SMOOTHING), [
            tmodel.TokenAccuracy()
        ]

    def compile_options(self, cfg: Config) -> dict:
        # XLA fuses the softmax, the smoothed cross-entropy over the vocabulary and the attention masks
        # (tests/benchmarks/bench_translation.py measures it against graph mode)
        return {"jit_compile": cfg.xla}

    # ---- evaluation -------------------------------------------------------
    def evaluate(self, model, ds: tdata.EvalSet, info: dict) -> dict:
        """BLEU and chrF of greedy (and beam) decoding on a fixed sample of the pairs, the token accuracy on
        the validation batches, BLEU by source length and the first ``samples`` translations (what
        ``plots`` draws and writes)."""
        import sacrebleu

        pairs = self.evaluated_pairs(ds.pairs, info)
        metrics: dict = {"test_pairs": len(pairs)}
        decoder = Decoder(model, info)
        hypotheses = {}
        for b in [1] + ([info["beam_size"]] if info.get("beam_size", 1) > 1 else []):
            t0 = time.time()
            hyps = decoder.translate(pairs.sources, beam_size=b)
            seconds = time.time() - t0
            suffix = "" if b == 1 else f"_beam{b}"
            metrics["bleu" + suffix] = float(sacrebleu.corpus_bleu(hyps, [pairs.targets]).score)
            metrics["chrf" + suffix] = float(sacrebleu.corpus_chrf(hyps, [pairs.targets]).score)
            metrics["decode_ms_per_sentence" + suffix] = round(1000 * seconds / max(len(pairs), 1), 2)
            hypotheses[beam_name(b)] = hyps
        hyps = hypotheses[beam_name(1)]
        metrics["repeat_share"] = float(np.mean([longest_run(h.split()) > 3 for h in hyps])) if hyps else 0.0
        metrics["copy_recall"] = copy_recall(pairs.sources, pairs.targets, hyps)
        # the floor a translator must clear: the source copied as it is (names, numbers, shared words score)
        metrics["copy_bleu"] = float(sacrebleu.corpus_bleu(list(pairs.sources), [pairs.targets]).score)
        metrics["copy_chrf"] = float(sacrebleu.corpus_chrf(list(pairs.sources), [pairs.targets]).score)
        if ds.val is not None:
            metrics["val_token_accuracy"] = self._token_accuracy(model, ds.val)
        best = list(hypotheses)[-1]
        metrics["examples"] = [
            {"source": s, "reference": r, "hypothesis": h}
            for s, r, h in list(zip(pairs.sources, pairs.targets, hypotheses[best]))[:5]
        ]
        metrics["bleu_by_length"] = self._bleu_by_length(pairs, hypotheses)
        metrics["samples"] = [
            {
                "where": pairs.where[i],
                "source": pairs.sources[i],
                "reference": pairs.targets[i],
                **{k: h[i] for k, h in hypotheses.items()},
            }
            for i in range(min(info.get("samples", 50), len(pairs)))
        ]
        return metrics

    @staticmethod
    def evaluated_pairs(pairs: tdata.Pairs, info: dict) -> tdata.Pairs:
        """The pairs evaluation scores: ``eval_samples`` of them, a fixed seeded subset (the same every time)."""
        n = info.get("eval_samples", 0) or len(pairs)
        if n < len(pairs):
            pairs = pairs.subset(np.sort(np.random.default_rng(0).permutation(len(pairs))[:n]))
        return pairs

    @staticmethod
    def _token_accuracy(model, batches) -> float:
        """The training metric over validation batches; the model need not be compiled (one rebuilt from a
        checkpoint is not)."""
        accuracy = tmodel.TokenAccuracy()
        for x, y, _ in batches:
            accuracy.update_state(y, model(x, training=False))
        return float(accuracy.result())

    @staticmethod
    def _bleu_by_length(pairs: tdata.Pairs, hypotheses: dict) -> dict:
        """Corpus BLEU of the pairs grouped by source length in words: where the model breaks down."""
        import sacrebleu

        words = np.array([len(s.split()) for s in pairs.sources])
        edges = [*LENGTH_EDGES, 10**6]
        groups, bleu = [], {k: [] for k in hypotheses}
        for lo, hi in zip(edges[:-1], edges[1:]):
            idx = np.flatnonzero((words >= lo) & (words < hi))
            if not len(idx):
                continue
            groups.append({"words": f"{lo}-{hi - 1}" if hi < edges[-1] else f"{lo}+", "pairs": int(len(idx))})
            for k, hyps in hypotheses.items():
                bleu[k].append(
                    float(sacrebleu.corpus_bleu([hyps[i] for i in idx], [[pairs.targets[i] for i in idx]]).score)
                )
        return {"groups": groups, "bleu": bleu}

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list[Path]:
        out = [cplots.training_curves(run.history_path, run.plots_dir / "training_curves.png")]
        if metrics.get("samples"):
            out.append(self._write_samples(run.path / "samples.tsv", metrics["samples"]))
        by_length = metrics.get("bleu_by_length")
        if by_length and by_length["groups"]:
            labels = [f"{g['words']}\n({g['pairs']})" for g in by_length["groups"]]
            out.append(
                cplots.grouped_bars(
                    labels,
                    {k.replace("beam", "beam "): v for k, v in by_length["bleu"].items()},
                    run.plots_dir / "bleu_by_length.png",
                    title="test BLEU by source length (words; pairs)",
                    ylabel="BLEU",
                )
            )
        return out

    @staticmethod
    def _write_samples(path: Path, rows: list[dict]) -> Path:
        """Source, reference and hypotheses (greedy, and beam where decoded) of the first test pairs."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="\t", lineterminator="\n")
            w.writerow(list(rows[0]))
            w.writerows([list(r.values()) for r in rows])
        os.replace(tmp, path)
        return path


TASK = TranslationTask()
