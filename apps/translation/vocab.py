"""The joint vocabulary: one WordPiece vocabulary for both sides of a pair of languages that share an alphabet.

With one vocabulary a name, a number or a word the model never learned is the same pieces on both sides, so
the decoder writes it by copying ids (the source kept cased and accented like the target). Every ASCII letter
and digit is a piece alone and as a ``##`` piece whatever the training text holds, so a name or number made of
characters the training pairs never used still becomes pieces, not one ``[UNK]`` (WordPiece turns a whole
word into ``[UNK]`` when one of its characters has no piece).

    vocab = joint(sources, targets, 4000, "none", reserved=("[START]", "[END]"))
"""

from __future__ import annotations

import logging
import string

SHARED_ALPHABET = 0.9  # the share of the target's letters found in the source's alphabet that makes it shared
ALWAYS = string.ascii_letters + string.digits

log = logging.getLogger("edgesuite")


def alphabet_overlap(sources: list[str], targets: list[str]) -> float:
    """The share of the target side's letters and digits (occurrences, either case) that the source side uses."""
    from collections import Counter

    src = {ch for t in sources for ch in t.lower() if ch.isalnum()}
    counts = Counter(ch for t in targets for ch in t.lower() if ch.isalnum())
    total = sum(counts.values())
    return sum(c for ch, c in counts.items() if ch in src) / total if total else 0.0


def joint(sources: list[str], targets: list[str], vocab_size: int, normalize: str, reserved: tuple[str, ...]):
    """A vocabulary of about ``vocab_size`` pieces learned from both sides' texts, with :data:`ALWAYS`."""
    from edgesuite.common import text as ctext

    vocab = ctext.learn_vocabulary(
        list(sources) + list(targets), vocab_size, normalize, extra_reserved=reserved, log=log.info
    )
    have = set(vocab)
    return vocab + [p for ch in ALWAYS for p in (ch, "##" + ch) if p not in have]
