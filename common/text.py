"""Text normalization, a WordPiece vocabulary learned from the data, and tokenization.

Tokenization runs tensorflow-text's ``FastBertTokenizer`` (FastBertNormalize +
FastWordpieceTokenize), the ops that have TFLite kernels, so the very same
layer tokenizes in the tf.data pipeline, in the SavedModel signature and inside
the ``.tflite`` (registered with ``tensorflow_text.tflite_registrar``).

Normalization: ``lower`` is BERT-uncased (NFD, lower case, combining marks
stripped: right for English and most Latin-script text); ``none`` keeps case and
marks (Thai vowel signs and Devanagari matras are combining marks, so use it for
such scripts). Either way CJK ideographs are split into characters, and text
without spaces (Thai, Japanese kana) is cut into the vocabulary's pieces: the
vocabulary holds every character seen in training, alone and as ``##`` piece,
so a word never falls back to ``[UNK]`` as a whole for lack of a character.

    vocab = learn_vocabulary(texts, vocab_size=30000)
    tok = TextTokenizer(vocab, max_length=64)
    ids = tok(tf.constant(["a fine film", "我喜欢这部电影"]))   # (2, 64) int32, 0 = padding
    # with bigram_buckets=B: (2, 127), the hashed bigram ids appended (fastText features); with trigram_buckets
    # too: (2, 189), the hashed trigram ids after those
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from edgesuite.common.errors import UserInputError

PAD, UNK = "[PAD]", "[UNK]"
SPECIAL = ("[CLS]", "[SEP]")  # what a BERT encoder's rows start and end with (``special_tokens``)
RESERVED = (PAD, UNK)
NORMALIZATIONS = ("lower", "none")
MAX_BYTES_PER_WORD = 1000  # a 300-character run of Thai is one 'word'; longer ones become [UNK]
# custom ops a string-input .tflite may hold: the tensorflow-text ops with TFLite kernels
TFLITE_TEXT_OPS = ("FastBertNormalize", "FastWordpieceTokenizeWithOffsets", "RaggedTensorToTensor")


def _pretokenize(texts: list[str], lower_case: bool) -> list[bytes]:
    """Words as FastBertTokenizer sees them before WordPiece: normalized, split on spaces, punctuation, CJK."""
    import tensorflow as tf
    import tensorflow_text as tft
    from tensorflow_text.python.ops.bert_tokenizer import BasicTokenizer

    normalizer = tft.FastBertNormalizer(lower_case_nfd_strip_accents=lower_case)
    words = []
    for i in range(0, len(texts), 4096):
        chunk = tf.constant(texts[i : i + 4096])
        words.append(BasicTokenizer(lower_case=False).tokenize(normalizer.normalize(chunk)).flat_values.numpy())
    return list(np.concatenate(words)) if words else []


def learn_vocabulary(
    texts: list[str],
    vocab_size: int = 30000,
    normalize: str = "lower",
    min_count: int = 2,
    log=None,
    extra_reserved: tuple[str, ...] = (),
) -> list[str]:
    """A WordPiece vocabulary from training texts (tensorflow-text's learner).

    Words seen fewer than ``min_count`` times do not shape the pieces (that halves
    the learner's time on a real corpus) but their characters still enter the
    alphabet, so no character of the training data becomes ``[UNK]``; a piece
    must be seen ``min_count`` times to be learned. ``vocab_size`` is the
    learner's target: the result is smaller when the data has fewer such pieces.
    ``extra_reserved`` tokens (a decoder's ``[START]``, ``[END]``) follow
    ``[PAD]``, ``[UNK]`` at the head of the vocabulary.
    """
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    if normalize not in NORMALIZATIONS:
        raise UserInputError(f"normalize: expected one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")
    counts = collections.Counter(w.decode("utf-8") for w in _pretokenize(list(texts), normalize == "lower"))
    words = [(w, c) for w, c in counts.items() if c >= min_count]
    chars = collections.Counter(ch for w, c in counts.items() if c < min_count for ch in w)
    words += [(ch, 1) for ch in chars if ch not in counts]
    if log:
        log(f"learning a WordPiece vocabulary (target {vocab_size}) from {len(counts)} distinct words")
    # lower_thresh: a piece seen fewer than min_count times is never learned. The learner's
    # default (10) capped the corpus at ~4,900 pieces whatever vocab_size asked for, cutting
    # most words into pieces; at 2 it keeps whole words (12,800 pieces), and the CNN's test
    # accuracy went from 0.767 to 0.789 (tests/benchmarks/bench_text_classification.py).
    vocab = learner.learn(
        words,
        vocab_size=vocab_size,
        reserved_tokens=[*RESERVED, *extra_reserved],
        lower_thresh=min_count,
        max_unique_chars=max(1000, len(set("".join(counts)))),
        include_joiner_token=True,
        joiner="##",
    )
    # the learner leaves some alphabet characters without their ## form; text without spaces needs both
    have = set(vocab)
    alphabet = sorted({ch for w in counts for ch in w})
    vocab += [p for ch in alphabet for p in (ch, "##" + ch) if p not in have]
    return vocab


def _bad_byte(raw: bytes, exc: UnicodeDecodeError, encoding: str, flag: str | None = "--encoding") -> str:
    col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
    hint = "latin-1" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else "utf-8"
    fix = f"pass the file's encoding, e.g. {flag} {hint}" if flag else f"save the file as {encoding}"
    return f"byte 0x{raw[exc.start]:02x} at column {col} is not valid {encoding} text; {fix}"


def read_text_file(path: Path, encoding: str = "utf-8", flag: str | None = "--encoding") -> str:
    """The whole file decoded; a bad byte is a UserInputError naming its line, with a hint at ``flag`` (the
    option that sets the encoding; None for files that must be UTF-8, such as annotation files)."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise UserInputError(f"{path}: is a folder, expected a text file") from None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserInputError(f"{path}:{line}: {_bad_byte(raw, exc, encoding, flag)}") from None
    return text[1:] if text.startswith("\ufeff") else text  # a UTF-8 byte-order mark is not part of the header


def read_text_lines(path: Path, encoding: str, skips) -> list[str | None]:
    """The file's lines, each decoded on its own: a line holding a byte that is not valid ``encoding`` text
    goes to ``skips`` (``common.data.SkipLog``: counted, or fatal under --strict) named by file and line, and
    is None in the list, so that line numbers, and the pairing of line-aligned files, stay as they are."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf") and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        raw = raw[3:]
    lines: list[str | None] = []
    for n, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(chunk.decode(encoding))
        except UnicodeDecodeError as exc:
            skips.skip(f"{path}:{n}", _bad_byte(chunk, exc, encoding))
            lines.append(None)
    return lines


def as_texts(inputs) -> list[str]:
    """A text, bytes or a sequence of them -> a list of str (what the text apps' ``preprocess`` accepts)."""
    if isinstance(inputs, (str, bytes)):
        inputs = [inputs]
    out = []
    for i, t in enumerate(list(inputs)):
        if isinstance(t, bytes):
            t = t.decode("utf-8")
        if not isinstance(t, str):
            raise ValueError(f"input {i}: expected a text string, got {type(t).__name__}")
        out.append(t)
    return out


def write_vocabulary(vocab: list[str], path: Path) -> None:
    import os

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(v + "\n" for v in vocab), encoding="utf-8")
    os.replace(tmp, path)


def read_vocabulary(path: Path) -> list[str]:
    vocab = Path(path).read_text(encoding="utf-8").split("\n")
    vocab = vocab[:-1] if vocab and vocab[-1] == "" else vocab
    if vocab[:2] != list(RESERVED):
        raise UserInputError(f"{path}: not an edgesuite vocabulary (expected {PAD} and {UNK} on lines 1 and 2)")
    return vocab


def _tokenizer_class():
    import tensorflow as tf
    import tensorflow_text as tft

    class TextTokenizer(tf.Module):
        """Raw UTF-8 strings (N,) -> int32 token ids (N, max_length), zero-padded and truncated.

        A ``tf.Module`` (its vocabulary is a tracked resource), callable in tf.data,
        in a SavedModel signature and in a TFLite conversion.
        """

        def __init__(
            self,
            vocab: list[str],
            max_length: int,
            normalize: str = "lower",
            bigram_buckets: int = 0,
            trigram_buckets: int = 0,
            special_tokens: bool = False,
        ):
            super().__init__(name="text_tokenizer")
            self.vocab, self.max_length, self.normalize = list(vocab), int(max_length), normalize
            # BERT's [CLS] pieces [SEP] layout (a pretrained encoder's vocabulary holds both)
            self.special = bool(special_tokens)
            if self.special and bigram_buckets:
                raise ValueError("special_tokens and n-gram buckets do not go together")
            self.special_ids = special_ids(self.vocab) if self.special else None
            self.unk_id = self.vocab.index(UNK)  # 1 in a learned vocabulary, 100 in BERT's
            self.bigram_buckets, self.trigram_buckets = int(bigram_buckets), int(trigram_buckets)
            if self.trigram_buckets and not self.bigram_buckets:
                raise ValueError("trigram_buckets needs bigram_buckets (the trigram ids come after the bigram ids)")
            self.tokenizer = tft.FastBertTokenizer(
                self.vocab,
                lower_case_nfd_strip_accents=normalize == "lower",
                token_out_type=tf.int32,
                unknown_token=UNK,
                max_bytes_per_word=MAX_BYTES_PER_WORD,
            )

        @property
        def output_length(self) -> int:
            return sum(ngram_widths(self.max_length, self.bigram_buckets, self.trigram_buckets)) + 2 * self.special

        def __call__(self, texts):
            texts = tf.reshape(texts, [-1])
            ids = self.tokenizer.tokenize(texts).to_tensor(default_value=0, shape=[None, self.max_length])
            # a text with no token at all (only spaces, say) becomes one [UNK]: a mean over nothing is NaN
            empty = tf.reduce_all(tf.equal(ids, 0), axis=1, keepdims=True)
            unk = tf.ones_like(ids[:, :1]) if self.unk_id == 1 else tf.fill(tf.shape(ids[:, :1]), self.unk_id)
            first = tf.where(empty, unk, ids[:, :1])
            ids = tf.concat([first, ids[:, 1:]], axis=1)
            if self.special:  # [CLS] pieces [SEP] 0 ...
                cls, sep = self.special_ids
                count = tf.reduce_sum(tf.cast(ids > 0, tf.int32), axis=1, keepdims=True)
                ids = tf.concat([tf.fill([tf.shape(ids)[0], 1], cls), ids, tf.zeros_like(ids[:, :1])], axis=1)
                return tf.where(tf.equal(tf.range(self.max_length + 2)[None, :], count + 1), sep, ids)
            return with_ngrams(ids, len(self.vocab), self.bigram_buckets, self.trigram_buckets)

        def settings(self) -> dict:
            """What the metadata carries so a runtime without this module can tokenize the same way."""
            return {
                "kind": "wordpiece",
                "normalize": self.normalize,
                "max_length": self.max_length,
                "bigram_buckets": self.bigram_buckets,
                "trigram_buckets": self.trigram_buckets,
                "unknown_token": UNK,
                "padding_id": 0,
                "max_bytes_per_word": MAX_BYTES_PER_WORD,
                "vocab": self.vocab,
                **({"special_tokens": list(SPECIAL)} if self.special else {}),
            }

    return TextTokenizer


def ngram_widths(max_length: int, bigram_buckets: int, trigram_buckets: int = 0) -> list[int]:
    """The parts of a tokenizer's output row: ``max_length`` word pieces, then ``max_length - 1`` hashed bigram
    ids (with bigram buckets), then ``max_length - 2`` hashed trigram ids (with trigram buckets)."""
    return [max_length] + [max_length - 1] * bool(bigram_buckets) + [max_length - 2] * bool(trigram_buckets)


def split_ngram_widths(input_length: int, bigram_buckets: int, trigram_buckets: int = 0) -> list[int]:
    """:func:`ngram_widths` from the row's total length (what a model's input shape says)."""
    parts = 1 + bool(bigram_buckets) + bool(trigram_buckets)
    return ngram_widths((input_length + parts * (parts - 1) // 2) // parts, bigram_buckets, trigram_buckets)


def trigram_modulus(vocab_size: int) -> int:
    """The pair code's modulus in a trigram hash: ``(a * V + b) mod P`` then ``* V + c`` stays in int32."""
    return (2**31 - 1 - vocab_size) // vocab_size


def ngram_codes(ids: np.ndarray, vocab_size: int, trigrams: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """(N, L) token ids -> ``[(bigram codes, live)]`` (and ``(trigram codes, live)`` after it): the codes
    :func:`with_ngrams` takes modulo the bucket counts, in numpy (int64; the graph's int32 steps never
    overflow), and where each n-gram holds no padding."""
    ids = np.asarray(ids, np.int64)
    left, mid = ids[:, :-1], ids[:, 1:]
    code, live = left * vocab_size + mid, (left > 0) & (mid > 0)
    out = [(code, live)]
    if trigrams:
        right = ids[:, 2:]
        out.append((np.mod(code[:, :-1], trigram_modulus(vocab_size)) * vocab_size + right, live[:, :-1] & (right > 0)))
    return out


def with_ngrams(ids, vocab_size: int, bigram_buckets: int, trigram_buckets: int = 0):
    """fastText n-grams in the graph (builtin TFLite ops), appended after the word pieces (0 where any of their
    ids is padding):

    - bigrams: each adjacent pair ``a b`` hashed into ids ``V .. V + B2 - 1`` as ``(a * V + b) mod B2 + V``;
      ``a * V + b`` fits int32 for V < 46,000;
    - trigrams (``trigram_buckets`` B3 > 0): each ``a b c`` into ``V + B2 .. V + B2 + B3 - 1`` as
      ``(((a * V + b) mod P) * V + c) mod B3 + V + B2``, with P = :func:`trigram_modulus` so that every step
      stays in int32 (two trigrams share a code only if their pairs agree mod P and their third ids agree).

    ``bigram_buckets`` 0: the ids as they are."""
    import tensorflow as tf

    if not bigram_buckets:
        return ids
    left, mid = ids[:, :-1], ids[:, 1:]
    code = left * vocab_size + mid
    live = tf.logical_and(left > 0, mid > 0)
    parts = [ids, tf.where(live, tf.math.floormod(code, bigram_buckets) + vocab_size, tf.zeros_like(code))]
    if trigram_buckets:
        right = ids[:, 2:]
        code3 = tf.math.floormod(code[:, :-1], trigram_modulus(vocab_size)) * vocab_size + right
        code3 = tf.math.floormod(code3, trigram_buckets) + (vocab_size + bigram_buckets)
        parts.append(tf.where(tf.logical_and(live[:, :-1], right > 0), code3, tf.zeros_like(code3)))
    return tf.concat(parts, axis=1)


def TextTokenizer(
    vocab: list[str],
    max_length: int,
    normalize: str = "lower",
    bigram_buckets: int = 0,
    trigram_buckets: int = 0,
    special_tokens: bool = False,
):
    """See the class docstring; built on first use so importing this module does not load TensorFlow.
    ``special_tokens``: rows of ``max_length + 2`` ids, ``[CLS]`` pieces ``[SEP]`` then padding, as a pretrained
    BERT encoder takes them (the vocabulary must hold both)."""
    return _tokenizer_class()(vocab, max_length, normalize, bigram_buckets, trigram_buckets, special_tokens)


def special_ids(vocab: list[str]) -> tuple[int, int]:
    """The ids of ``[CLS]`` and ``[SEP]`` in a BERT vocabulary."""
    try:
        return vocab.index(SPECIAL[0]), vocab.index(SPECIAL[1])
    except ValueError:
        raise UserInputError(f"the vocabulary has no {SPECIAL[0]} or {SPECIAL[1]} (not a BERT vocabulary)") from None


def tokenizer_from_settings(settings: dict):
    return TextTokenizer(
        settings["vocab"],
        settings["max_length"],
        settings["normalize"],
        settings.get("bigram_buckets", 0),
        settings.get("trigram_buckets", 0),
        bool(settings.get("special_tokens")),
    )


# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties): ICU's NFKC_Casefold maps these to nothing
_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# code points FastWordpieceTokenizer makes words of their own, besides Unicode punctuation (its
# IsPunctuationOrChineseChar): CJK ideograph blocks and the ASCII symbols
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
    (33, 47),
    (58, 64),
    (91, 96),
    (123, 126),
)


def _in(cp: int, ranges) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def split_words(text: str) -> list[tuple[str, bool]]:
    """FastWordpieceTokenizer's words of an (already normalized) text: split on White_Space, each punctuation
    mark, ASCII symbol and CJK ideograph a word of its own; with each word, whether a space came before it."""
    import unicodedata as ud

    words: list[tuple[str, bool]] = []
    word: list[str] = []
    space = False

    def close():
        nonlocal space
        if word:
            words.append(("".join(word), space))
            word.clear()
            space = False

    for ch in text:
        if ch.isspace() or ud.category(ch) in ("Cc", "Cf"):
            close()
            space = bool(words)
        elif _in(ord(ch), _CJK) or ud.category(ch).startswith("P"):
            close()
            words.append((ch, space))
            space = False
        else:
            word.append(ch)
    close()
    return words


class WordPieceEncoder:
    """The in-graph ``TextTokenizer`` in plain Python and numpy (no TensorFlow): the same ids for the same texts,
    from the settings an exported file's metadata carries (``TextTokenizer.settings()``).

    It follows tensorflow-text's kernels: ``FastBertNormalizer`` maps each code point on its own (with
    ``lower``: ICU's NFKC_Casefold, then NFD, combining marks dropped; either way control and format
    characters become spaces), ``FastWordpieceTokenizer`` splits words on White_Space and makes each
    punctuation mark, ASCII symbol and CJK ideograph a word of its own, then matches the longest vocabulary
    piece from the left (``##`` pieces inside a word); a word longer than ``max_bytes_per_word`` bytes, or one
    with a part no piece matches, is one ``[UNK]``. ``tests/common/test_text.py`` holds it to the graph's ids
    on real text, Chinese and accented included."""

    def __init__(self, settings: dict):
        self.vocab = {piece: i for i, piece in enumerate(settings["vocab"])}
        self.size = len(settings["vocab"])
        self.lower = settings["normalize"] == "lower"
        self.max_length, self.buckets = int(settings["max_length"]), int(settings.get("bigram_buckets", 0))
        self.buckets3 = int(settings.get("trigram_buckets", 0))
        self.max_bytes = int(settings.get("max_bytes_per_word", MAX_BYTES_PER_WORD))
        self.unk = self.vocab[settings.get("unknown_token", UNK)]
        self.special = [self.vocab[t] for t in settings["special_tokens"]] if settings.get("special_tokens") else None
        self._chars: dict[str, str] = {}
        self._words: dict[str, list[int]] = {}

    def _normalize(self, ch: str) -> str:
        import unicodedata as ud

        out = self._chars.get(ch)
        if out is None:
            out = ch
            if self.lower:
                out = "" if _in(ord(ch), _IGNORABLE) else ud.normalize("NFKC", ud.normalize("NFKC", ch).casefold())
                out = "".join(c for c in ud.normalize("NFD", out) if ud.category(c) != "Mn")
            out = "".join(" " if ud.category(c) in ("Cc", "Cf") else c for c in out)
            self._chars[ch] = out
        return out

    def words(self, text: str) -> list[str]:
        """The words of one text, after normalization, before WordPiece."""
        return [w for w, _ in split_words("".join(self._normalize(c) for c in text))]

    def _word_ids(self, word: str) -> list[int]:
        ids = self._words.get(word)
        if ids is None:
            ids, start = ([self.unk], len(word)) if len(word.encode("utf-8")) > self.max_bytes else ([], 0)
            while start < len(word):
                for end in range(len(word), start, -1):
                    piece = word[start:end] if start == 0 else "##" + word[start:end]
                    if piece in self.vocab:
                        ids.append(self.vocab[piece])
                        start = end
                        break
                else:  # no piece matches here: the whole word is unknown
                    ids, start = [self.unk], len(word)
            self._words[word] = ids
        return ids

    def __call__(self, texts) -> np.ndarray:
        """Texts -> (N, max_length) int32 ids (0-padded), with the hashed n-gram ids appended as the graph does."""
        ids = np.zeros((len(texts), self.max_length + 2 * bool(self.special)), np.int32)
        for row, text in enumerate(texts):
            found = [i for w in self.words(text) for i in self._word_ids(w)][: self.max_length]
            found = found or [self.unk]  # a text with no token at all, as the graph does
            if self.special:
                found = [self.special[0], *found, self.special[1]]
            ids[row, : len(found)] = found
        if not self.buckets:
            return ids
        (code, live), *third = ngram_codes(ids, self.size, bool(self.buckets3))
        parts = [ids, np.where(live, np.mod(code, self.buckets) + self.size, 0).astype(np.int32)]
        for code3, live3 in third:
            code3 = np.mod(code3, self.buckets3) + self.size + self.buckets
            parts.append(np.where(live3, code3, 0).astype(np.int32))
        return np.concatenate(parts, axis=1)


_ENCODERS: dict = {}


def encode(texts, settings: dict) -> np.ndarray:
    """Texts -> token ids without TensorFlow, with :class:`WordPieceEncoder` (one kept per vocabulary)."""
    key = (
        tuple(settings["vocab"]),
        settings["max_length"],
        settings["normalize"],
        settings.get("bigram_buckets", 0),
        settings.get("trigram_buckets", 0),
        bool(settings.get("special_tokens")),
    )
    if key not in _ENCODERS:
        _ENCODERS.clear()
        _ENCODERS[key] = WordPieceEncoder(settings)
    return _ENCODERS[key](as_texts(texts))


def tokenize(texts: list[str], tokenizer, batch: int = 4096) -> np.ndarray:
    """Texts -> (N, max_length) int32 ids with ``tokenizer`` (a TextTokenizer), in chunks."""
    import tensorflow as tf

    out = [
        tokenizer(tf.constant(list(texts[i : i + batch]), dtype=tf.string)).numpy() for i in range(0, len(texts), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, tokenizer.output_length), np.int32)


def pieces(text: str, tokenizer) -> list[str]:
    """The WordPiece strings one text becomes (padding dropped): what a person checks."""
    first = int(tokenizer.special)  # after [CLS]
    ids = tokenize([text], tokenizer)[0][first : first + tokenizer.max_length]
    return [tokenizer.vocab[i] for i in ids if i != 0 and tokenizer.vocab[i] not in SPECIAL[1:] * tokenizer.special]
