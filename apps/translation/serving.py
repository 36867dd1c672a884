"""What an exported translator carries and serves (its decoding loop where the format holds one), and how
each file is checked: exact match and BLEU of the decoded ids, not a max |diff|."""

from __future__ import annotations

import numpy as np

from edgesuite.apps.translation import data as tdata
from edgesuite.apps.translation import model as tmodel
from edgesuite.apps.translation import postprocess as codec
from edgesuite.apps.translation.decoding import Decoder
from edgesuite.common import text as ctext
from edgesuite.common.data import parity_draw
from edgesuite.common.task import Serving

PARITY_SENTENCES = 200  # at most, topped up from the other splits as every app's parity inputs are


class TranslationServing(Serving):
    name = "translation"
    codec = codec
    parity_numeric = False  # parity compares decoded token ids

    def metadata(self, info: dict) -> dict:
        src, tgt = info["source_tokenizer"], info["target_tokenizer"]
        length = info["max_length"]
        return {
            "task": self.name,
            "kind": "translator",
            "input": {"name": "text", "shape": [], "dtype": "string"},
            "model_input": [
                {"name": "source_ids", "shape": [None], "dtype": "int32"},
                {"name": "target_ids", "shape": [None], "dtype": "int32"},
            ],
            "outputs": ["probabilities"],
            "max_length": length,
            "length_penalty": info.get("length_penalty", 0.6),
            "decoding": codec.decoding_rules(info),  # repeats banned, the length bound: every format's loop alike
            "start_id": codec.START_ID,
            "end_id": codec.END_ID,
            "preprocessing": (
                f"source: WordPiece ({len(src['vocab'])} pieces, normalize={src['normalize']}), "
                f"{length} tokens, 0-padded; target: WordPiece ({len(tgt['vocab'])} pieces, "
                f"normalize={tgt['normalize']}), [START]={codec.START_ID}, [END]={codec.END_ID}"
            ),
            "normalization": (
                "SavedModel and float TFLite: texts in, target ids (and, in the SavedModel, texts) out, "
                "greedy loop inside; other formats: the step model [source_ids, target_ids] -> "
                "probabilities, the loop in edgesuite.load"
            ),
            "source_tokenizer": src,
            "target_tokenizer": tgt,
            "tflite_custom_ops": list(ctext.TFLITE_TEXT_OPS),
            "tflite_custom_ops_registrar": "tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS",
            "data_name": info.get("data_name"),
        }

    def serving_module(self, model, metadata: dict):
        """The loop graph of the SavedModel and float TFLite: texts (N,) -> target ids (N, L) and texts.

        tokenize (tensorflow-text, TFLite kernels), encode once, greedy decode in
        a ``tf.while_loop`` with static shapes, detokenize. The texts output
        (FastWordpiece detokenization + punctuation spacing) needs
        ``RegexReplace``, which TFLite lacks, so it exists in the SavedModel only;
        the .tflite returns the ids and ``edgesuite.load`` detokenizes them
        with the vocabulary in the metadata.
        """
        import tensorflow as tf
        import tensorflow_text as tft

        length = metadata["max_length"]
        tokenizer = ctext.tokenizer_from_settings(metadata["source_tokenizer"])
        decode = tmodel.greedy_decoder(model, length, fixed_buffer=True, rules=codec.decoding_rules(metadata))

        class Translator(tf.Module):
            def __init__(self):
                super().__init__(name="translator")
                self.tokenizer = tokenizer
                self.detokenizer = tft.FastWordpieceTokenizer(
                    metadata["target_tokenizer"]["vocab"],
                    suffix_indicator="##",
                    no_pretokenization=True,
                    support_detokenization=True,
                    unknown_token=ctext.UNK,
                )

            def token_ids(self, texts):
                texts = tf.reshape(texts, [-1])
                # no [UNK] stand-in for an empty text: all-padding source rows decode to nothing
                ids = self.tokenizer.tokenizer.tokenize(texts).to_tensor(default_value=0, shape=[None, length])
                return {"token_ids": decode(ids)}

            def with_text(self, texts):
                out = self.token_ids(texts)
                ids = out["token_ids"]
                keep = tf.logical_and(tf.cumsum(tf.cast(tf.equal(ids, codec.END_ID), tf.int32), axis=1) == 0, ids > 3)
                text = self.detokenizer.detokenize(tf.ragged.boolean_mask(ids, keep))
                for pattern, rewrite in codec.GRAPH_STEPS:  # codec.spell's spacing, as regular expressions
                    text = tf.strings.regex_replace(text, pattern, rewrite)
                return {**out, "translation": tf.strings.strip(text)}

        return Translator()

    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        """Calibration pairs (source ids, decoder input ids) from training, held-out texts with references."""
        splits = tdata.load_splits(cfg)
        src_tok, tgt_tok = tdata.tokenizers_from_info(info)
        order = np.random.default_rng(cfg.seed).permutation(len(splits.train))[:calibration]
        src, dec_in, _ = tdata.arrays(splits.train.subset(order), src_tok, tgt_tok)
        # parity decodes every sentence once per format, token by token: 200 keep an export to minutes
        held, extra = parity_draw(splits, min(samples, PARITY_SENTENCES), cfg.seed)
        sources = held.sources + [s for part in extra for s in part.sources]
        return (src, dec_in), (np.array(sources, dtype=object), held.targets)

    def reference(self, model, x, metadata: dict):
        """Greedy translations (target ids) of the float32 Keras model, decoded in the graph's loop."""
        return Decoder(model, metadata).ids(list(x)).astype(np.float32)

    def parity_metric(self, outputs, labels, metadata: dict) -> tuple[str, float]:
        import sacrebleu

        vocab = metadata["target_tokenizer"]["vocab"]
        hyps = [codec.detokenize(row, vocab) for row in np.asarray(outputs).astype(np.int64)]
        return "bleu", float(sacrebleu.corpus_bleu(hyps, [list(labels)]).score)

    def parity_agreement(self, reference, outputs, metadata: dict, step: float = 0.0) -> float:
        """Exact-match rate of the translations (token ids up to [END])."""
        ref = [codec.strip_ids(r) for r in np.asarray(reference).astype(np.int64)]
        out = [codec.strip_ids(r) for r in np.asarray(outputs).astype(np.int64)]
        return float(np.mean([a == b for a, b in zip(ref, out)])) if ref else 0.0

    def parity_details(self, reference, outputs, metadata: dict) -> str:
        import sacrebleu

        vocab = metadata["target_tokenizer"]["vocab"]
        ref = [codec.detokenize(r, vocab) for r in np.asarray(reference).astype(np.int64)]
        out = [codec.detokenize(r, vocab) for r in np.asarray(outputs).astype(np.int64)]
        return f"BLEU vs Keras output {sacrebleu.corpus_bleu(out, [ref]).score:.1f}"

    def parity_limits(self, precision: str) -> dict:
        """Float formats: exact match of the greedy translations with the Keras model's, and BLEU (points)
        against the references. Quantized formats: BLEU against the references only (the exact-match rate
        is still reported): one token that flips early rewrites the rest of a sentence, so the share of
        whole sentences that match falls with their length rather than with fidelity, while a broken file
        still fails on BLEU (tests/benchmarks/RESULTS.md, translation parity)."""
        return {
            "float32": {"top1_agreement": 0.97, "metric_drop": 0.5},
            "float16": {"top1_agreement": 0.9, "metric_drop": 1.0},
            "dynamic": {"metric_drop": 2.0},
            "int8": {"metric_drop": 3.0},
        }[precision]


SERVING = TranslationServing()
