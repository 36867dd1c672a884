"""Decoding of translation outputs, numpy only: ids to text, and greedy / beam search over a step function.

``edgesuite.load`` serves a translator from any format through ``run``:

- SavedModel and the float TFLite files take raw strings and hold the whole
  greedy loop (tokenize, encode, decode in a ``tf.while_loop``): one call
  gives target ids, ``detokenize`` turns them into text.
- ``.keras``, ``.h5``, ONNX, Core ML and the int8 TFLite file hold the
  teacher-forcing model ``[source_ids, target_ids] -> probabilities``; the
  decoding loop runs here, in numpy, one model call per output token
  (``beam_search``; greedy is beam size 1). Source texts are tokenized with
  the vocabulary the metadata carries (``common.text.encode``, no TensorFlow).

Detokenization joins ``##`` pieces to the piece before, words with a space,
then removes the spaces the tokenizer put around punctuation (``Dios , y`` ->
``Dios, y``; ``¿ por qué ?`` -> ``¿por qué?``), so BLEU and chrF compare text
as people write it.
"""

from __future__ import annotations

import re

import numpy as np

from edgesuite.common.text import as_texts, encode

START_ID, END_ID = 2, 3
EXAMPLE_TEXT = "And God said, Let there be light: and there was light."
NO_SPACE_BEFORE = re.compile(r" ([.,;:!?)\]}»”’%])")
NO_SPACE_AFTER = re.compile(r"([¿¡(\[{«“]) ")


def tidy(text: str) -> str:
    """Spacing of punctuation as written (what the WordPiece pre-tokenizer split off)."""
    return NO_SPACE_AFTER.sub(r"\1", NO_SPACE_BEFORE.sub(r"\1", text)).strip()


def strip_ids(ids) -> list[int]:
    """Token ids up to the first ``[END]`` (or padding), without the special ids."""
    out = []
    for i in np.asarray(ids).reshape(-1).tolist():
        if i in (END_ID, 0):
            break
        if i != START_ID:
            out.append(int(i))
    return out


def detokenize(ids, vocab: list[str]) -> str:
    words: list[str] = []
    for i in strip_ids(ids):
        piece = vocab[i] if 0 <= i < len(vocab) else "[UNK]"
        if piece.startswith("##") and words:
            words[-1] += piece[2:]
        else:
            words.append(piece)
    return tidy(" ".join(words))


def postprocess(outputs, metadata: dict) -> list[dict]:
    """(N, L) target ids -> one dict per sentence: translation, token ids."""
    vocab = metadata["target_tokenizer"]["vocab"]
    return [{"translation": detokenize(row, vocab), "token_ids": strip_ids(row)} for row in np.asarray(outputs)]


def describe(result: dict) -> str:
    return f"{result['input']!r} -> {result['translation']!r}"


def example_input(metadata: dict) -> list[str]:
    return [EXAMPLE_TEXT]


def _length_penalty(length: int, alpha: float) -> float:
    """GNMT's ((5 + length) / 6) ** alpha: alpha 0 compares summed log-probabilities, larger favours longer."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(next_log_probs, n: int, max_length: int, beam_size: int = 1, length_penalty: float = 0.6) -> np.ndarray:
    """Decodes ``n`` sentences; returns (n, max_length) int32 ids, ``[END]`` then zeros after each.

    ``next_log_probs(rows, prefix)``: for hypotheses of the sentences ``rows``
    (M,) with target prefixes ``prefix`` (M, t) (``[START]`` first), the
    log-probabilities of the next token (M, V). A hypothesis ends at ``[END]``
    or at ``max_length`` tokens; each sentence keeps its ``beam_size`` best live
    hypotheses and stops once a finished one beats what any live one could
    still reach. Scores are summed log-probabilities divided by GNMT's length
    penalty. ``beam_size=1`` is greedy decoding, token for token the graph's loop.
    """
    b = int(beam_size)
    live = [[([], 0.0)] for _ in range(n)]  # per sentence: (tokens, summed log-probability)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]  # (normalized score, tokens)
    for t in range(max_length):
        owners = [(s, h) for s in range(n) for h in range(len(live[s]))]
        if not owners:
            break
        prefixes = np.array([[START_ID, *live[s][h][0]] for s, h in owners], np.int32)
        logp = np.asarray(next_log_probs(np.array([s for s, _ in owners]), prefixes), np.float64)
        logp[:, 0] = -np.inf  # never padding
        cands: dict[int, list[tuple[float, list[int]]]] = {}
        for r, (s, h) in enumerate(owners):
            tokens, score = live[s][h]
            top = np.argsort(-logp[r], kind="stable")[:2 * b] if b > 1 else [int(np.argmax(logp[r]))]
            cands.setdefault(s, []).extend((score + float(logp[r, k]), tokens + [int(k)]) for k in top)
        for s, options in cands.items():
            options.sort(key=lambda c: -c[0])
            nxt = []
            for score, tokens in options:
                if tokens[-1] == END_ID:
                    finished[s].append((score / _length_penalty(len(tokens), length_penalty), tokens))
                elif len(nxt) < b:
                    nxt.append((tokens, score))
                if len(nxt) == b:
                    break
            if finished[s] and nxt:
                best_done = max(f[0] for f in finished[s])
                # the most a live hypothesis can reach: its score (only falls) at the kindest length penalty
                reach = nxt[0][1] / _length_penalty(max_length, length_penalty)
                if len(finished[s]) >= b and reach <= best_done or b == 1:
                    nxt = []
            live[s] = nxt
    out = np.zeros((n, max_length), np.int32)
    for s in range(n):
        pool = finished[s] + [(score / _length_penalty(len(tokens), length_penalty), tokens) for tokens, score in live[s]]
        tokens = max(pool, key=lambda f: f[0])[1][:max_length] if pool else [END_ID]
        out[s, :len(tokens)] = tokens
    return out


def tokenize_sources(texts: list[str], metadata: dict) -> np.ndarray:
    """Texts -> (N, L) int32 source ids, with the vocabulary and settings in the metadata (no TensorFlow)."""
    return encode(texts, metadata["source_tokenizer"])


def preprocess(inputs, metadata: dict, input_dtype: str | None = None) -> np.ndarray:
    """Texts -> an object array of strings (loop formats) or (N, L) int32 source ids (step formats)."""
    if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "iu" and inputs.ndim == 2:
        return inputs.astype(np.int32)
    texts = as_texts(inputs)
    if input_dtype in ("string", "object"):
        return np.array(texts, dtype=object)
    return tokenize_sources(texts, metadata)


def log_softmax_rows(probs: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(probs.astype(np.float64), 1e-30))


def run(runtime, inputs, metadata: dict, beam_size: int = 1, batch: int = 32) -> np.ndarray:
    """Any format's runtime -> (N, L) target ids: the graph's own loop, or beam search over the step model."""
    max_length = metadata["max_length"]
    if getattr(runtime, "input_count", 1) == 1:  # the loop is inside: strings (or source ids) in, ids out
        if beam_size != 1:
            raise ValueError(f"{runtime.path.name}: this format holds greedy decoding; beam search needs a format "
                             "with the step model (.keras, .h5, .onnx, int8 .tflite)")
        return runtime.run_batched(preprocess(inputs, metadata, runtime.input_dtype), batch).astype(np.int32)
    source = preprocess(inputs, metadata, "int32")
    fixed = runtime.fixed_length
    out = []
    for i in range(0, len(source), batch):
        chunk = source[i:i + batch]
        if not fixed:  # formats with dynamic shapes get the chunk's own length, not max_length
            chunk = chunk[:, :max(1, int((chunk > 0).sum(1).max()))]

        def next_log_probs(rows, prefix, chunk=chunk):
            t = prefix.shape[1]
            target = np.zeros((len(rows), fixed or t), np.int32)
            target[:, :t] = prefix
            probs = runtime.run([chunk[rows], target])
            return log_softmax_rows(probs[:, t - 1])

        out.append(beam_search(next_log_probs, len(chunk), max_length, beam_size, metadata.get("length_penalty", 0.6)))
    ids = np.concatenate(out) if out else np.zeros((0, max_length), np.int32)
    if not isinstance(inputs, np.ndarray) or inputs.dtype.kind not in "iu":
        ids[[not t.strip() for t in as_texts(inputs)]] = 0  # an empty text translates to an empty text
    return ids
