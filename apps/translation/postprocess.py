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

Spacing is reversible. The WordPiece pre-tokenizer splits off every punctuation mark and CJK character, so
the pieces alone cannot tell ``it's`` from ``it ' s`` or ``这部`` from ``这 部``. Detokenization joins ``##``
pieces to the piece before and decides each gap between words by the rules of :func:`glued` (no space before
``.,;:!?)”’``, none after ``¿¡(“„‘``, none between CJK characters, none between a letter or digit and ``'``,
``’`` or ``-``). The training targets carry the exceptions (:func:`mark_spacing`): a ``⁀`` piece where the text had no
space though the rules would put one, a ``␣`` where it had one though they would not, so the decoder learns to
write them, and decoding the tokenized reference gives the reference back (``tests/apps/translation``:
English, Spanish, German and Chinese lines). The SavedModel holds the same steps as regular expressions
(:data:`GRAPH_STEPS`).
"""

from __future__ import annotations

import re

import numpy as np

from edgesuite.common.text import as_texts, encode, split_words

START_ID, END_ID = 2, 3
EXAMPLE_TEXT = "And God said, Let there be light: and there was light."
GLUE, SPACE = "\u2040", "\u2423"  # ⁀ and ␣: reserved target pieces, see the module docstring
NO_SPACE_BEFORE = ".,;:!?)]}»”’%"
NO_SPACE_AFTER = "¿¡([{«“„‘"
JOINERS = "'’-"  # glued to a letter or digit on either side: it's, it’s, well-known
# written without spaces: CJK symbols and punctuation, kana, ideographs, fullwidth forms
SPACELESS = (
    (0x3000, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF),
    (0x20000, 0x2FA1F),
)


def _spaceless(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in SPACELESS)


def _alnum(ch: str) -> bool:
    return ch.isalpha() or ch.isdecimal()  # RE2's [\pL\p{Nd}]


def glued(left: str, right: str) -> bool:
    """The rule for the gap between a word ending in ``left`` and one starting with ``right``: True = no space."""
    return (
        right in NO_SPACE_BEFORE
        or left in NO_SPACE_AFTER
        or (_spaceless(left) and _spaceless(right))
        or (right in JOINERS and _alnum(left))
        or (left in JOINERS and _alnum(right))
    )


def _re2_class(chars: str = "", ranges=()) -> str:
    body = "".join("\\" + c if c in "\\]^-[" else c for c in chars)
    return "[" + body + "".join(f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in ranges) + "]"


_ALNUM_RE2 = r"[\pL\p{Nd}]"
# the same steps for tf.strings.regex_replace (RE2) on the words joined by spaces: the marks first, then each
# rule twice (a match takes the characters on both sides of its gap, so a chain of gaps needs a second pass)
_RULES = [
    (f" ({_re2_class(NO_SPACE_BEFORE)})", r"\1"),
    (f"({_re2_class(NO_SPACE_AFTER)}) ", r"\1"),
    (f"({_re2_class(ranges=SPACELESS)}) ({_re2_class(ranges=SPACELESS)})", r"\1\2"),
    (f"({_ALNUM_RE2}) ({_re2_class(JOINERS)})", r"\1\2"),
    (f"({_re2_class(JOINERS)}) ({_ALNUM_RE2})", r"\1\2"),
]
GRAPH_STEPS = [
    (f" ?{GLUE} ?", ""),
    (f" ?{SPACE} ?", SPACE),
    *[r for rule in _RULES for r in (rule, rule)],
    (SPACE, " "),
]


def spell(words: list[str]) -> str:
    """Words (``##`` pieces joined) to text: the marks, then :func:`glued` for every other gap."""
    text = re.sub(f" ?{SPACE} ?", SPACE, re.sub(f" ?{GLUE} ?", "", " ".join(words)))
    out = ""
    for part in text.split(" "):
        if part:
            out += part if not out or glued(out[-1], part[0]) else " " + part
    return out.replace(SPACE, " ").strip()


def mark_spacing(text: str) -> str:
    """A target text as its words joined by spaces, with ``⁀`` / ``␣`` wherever :func:`glued` would get its
    spacing wrong: what the target tokenizer reads in training, so that :func:`spell` gives ``text`` back."""
    marked: list[str] = []
    prev = ""
    for word, space in split_words(text):
        if prev:
            rule = glued(prev[-1], word[0])
            if space and rule:
                marked.append(SPACE)
            elif not space and not rule:
                marked.append(GLUE)
        marked.append(word)
        prev = word
    return " ".join(marked)


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
    return spell(words)


def postprocess(outputs, metadata: dict) -> list[dict]:
    """(N, L) target ids -> one dict per sentence: translation, token ids."""
    vocab = metadata["target_tokenizer"]["vocab"]
    return [{"translation": detokenize(row, vocab), "token_ids": strip_ids(row)} for row in np.asarray(outputs)]


def describe(result: dict) -> str:
    return f"{result['input']!r} -> {result['translation']!r}"


def example_input(metadata: dict) -> list[str]:
    return [EXAMPLE_TEXT]


# What decoding may write, in every format alike (the graph's loop and beam_search here): a token at most
# ``max_run`` times in a row, no ``no_repeat_ngram`` pieces twice (fairseq's no_repeat_ngram_size), and at most
# ceil(length_ratio_pct / 100 x source pieces) + length_extra pieces before [END] is written (a run's info sets the
# ratio from its training pairs; without one the only bound is max_length).
DECODING_RULES = {"max_run": 3, "no_repeat_ngram": 4, "length_ratio_pct": 0, "length_extra": 4}


def decoding_rules(metadata: dict) -> dict:
    return {**DECODING_RULES, **(metadata.get("decoding") or {})}


def length_limits(source_ids: np.ndarray, metadata: dict) -> np.ndarray:
    """(N,) the most target pieces each sentence may get before [END] is forced: integer arithmetic, so the graph's
    loop (:func:`edgesuite.apps.translation.model.greedy_decoder`) computes the same numbers."""
    rules, max_length = decoding_rules(metadata), metadata["max_length"]
    n = (np.asarray(source_ids) > 0).sum(axis=1).astype(np.int64)
    if not rules["length_ratio_pct"]:
        return np.full(len(n), max_length, np.int64)
    return np.minimum(max_length - 1, (rules["length_ratio_pct"] * n + 99) // 100 + rules["length_extra"])


def banned_next(tokens: list[int], rules: dict) -> set[int]:
    """The tokens that may not follow ``tokens``: the last one when it already ran ``max_run`` times, and every
    token that followed an earlier occurrence of the last ``no_repeat_ngram - 1`` tokens."""
    out = set()
    run, n = rules["max_run"], rules["no_repeat_ngram"]
    if run and len(tokens) >= run and len(set(tokens[-run:])) == 1:
        out.add(tokens[-1])
    if n and len(tokens) >= n - 1:
        last = tokens[len(tokens) - (n - 1) :]
        out.update(tokens[j + n - 1] for j in range(len(tokens) - (n - 1)) if tokens[j : j + n - 1] == last)
    return out


def _length_penalty(length: int, alpha: float) -> float:
    """GNMT's ((5 + length) / 6) ** alpha: alpha 0 compares summed log-probabilities, larger favours longer."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(
    next_log_probs,
    n: int,
    max_length: int,
    beam_size: int = 1,
    length_penalty: float = 0.6,
    rules: dict | None = None,
    limits=None,
) -> np.ndarray:
    """Decodes ``n`` sentences; returns (n, max_length) int32 ids, ``[END]`` then zeros after each.

    ``next_log_probs(rows, prefix)``: for hypotheses of the sentences ``rows``
    (M,) with target prefixes ``prefix`` (M, t) (``[START]`` first), the
    log-probabilities of the next token (M, V). A hypothesis ends at ``[END]``
    or at ``max_length`` tokens; each sentence keeps its ``beam_size`` best live
    hypotheses and stops once a finished one beats what any live one could
    still reach. Scores are summed log-probabilities divided by GNMT's length
    penalty. ``beam_size=1`` is greedy decoding, token for token the graph's loop. ``rules``
    (:data:`DECODING_RULES`) bans repeats; ``limits`` (:func:`length_limits`) forces ``[END]`` after that many tokens.
    """
    b = int(beam_size)
    rules = rules or {**DECODING_RULES}
    live = [[([], 0.0)] for _ in range(n)]  # per sentence: (tokens, summed log-probability)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(n)]  # (normalized score, tokens)
    for _step in range(max_length):
        owners = [(s, h) for s in range(n) for h in range(len(live[s]))]
        if not owners:
            break
        prefixes = np.array([[START_ID, *live[s][h][0]] for s, h in owners], np.int32)
        logp = np.asarray(next_log_probs(np.array([s for s, _ in owners]), prefixes), np.float64)
        logp[:, [0, START_ID]] = -np.inf  # never padding, never a second [START]
        cands: dict[int, list[tuple[float, list[int]]]] = {}
        for r, (s, h) in enumerate(owners):
            tokens, score = live[s][h]
            if limits is not None and len(tokens) >= limits[s]:
                logp[r] = np.where(np.arange(logp.shape[1]) == END_ID, 0.0, -np.inf)
            else:
                logp[r, list(banned_next(tokens, rules))] = -np.inf
            top = np.argsort(-logp[r], kind="stable")[: 2 * b] if b > 1 else [int(np.argmax(logp[r]))]
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
        pool = finished[s] + [
            (score / _length_penalty(len(tokens), length_penalty), tokens) for tokens, score in live[s]
        ]
        tokens = max(pool, key=lambda f: f[0])[1][:max_length] if pool else [END_ID]
        out[s, : len(tokens)] = tokens
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
            raise ValueError(
                f"{runtime.path.name}: this format holds greedy decoding; beam search needs a format "
                "with the step model (.keras, .h5, .onnx, int8 .tflite)"
            )
        return runtime.run_batched(preprocess(inputs, metadata, runtime.input_dtype), batch).astype(np.int32)
    source = preprocess(inputs, metadata, "int32")
    fixed = runtime.fixed_length
    out = []
    for i in range(0, len(source), batch):
        chunk = source[i : i + batch]
        if not fixed:  # formats with dynamic shapes get the chunk's own length, not max_length
            chunk = chunk[:, : max(1, int((chunk > 0).sum(1).max()))]

        def next_log_probs(rows, prefix, chunk=chunk):
            t = prefix.shape[1]
            target = np.zeros((len(rows), fixed or t), np.int32)
            target[:, :t] = prefix
            probs = runtime.run([chunk[rows], target])
            return log_softmax_rows(probs[:, t - 1])

        out.append(
            beam_search(
                next_log_probs,
                len(chunk),
                max_length,
                beam_size,
                metadata.get("length_penalty", 0.6),
                decoding_rules(metadata),
                length_limits(chunk, metadata),
            )
        )
    ids = np.concatenate(out) if out else np.zeros((0, max_length), np.int32)
    if not isinstance(inputs, np.ndarray) or inputs.dtype.kind not in "iu":
        ids[[not t.strip() for t in as_texts(inputs)]] = 0  # an empty text translates to an empty text
    return ids
