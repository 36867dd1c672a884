"""Reversible spacing of translation targets: decoding the tokenized reference gives the reference back, and the
SavedModel's regular expressions space words exactly as the numpy detokenizer does."""

import csv
import itertools

import numpy as np
import pytest

from edgesuite.apps.translation import postprocess as codec

GERMAN = [
    "Er sagte: „Ich komme morgen um 8.30 Uhr.“",
    "Das ist Toms Buch, nicht Marias.",
    "Wie geht's dir? – Gut, danke!",
    "Sie wohnt in der Goethe-Straße 12 (2. Stock).",
    "„Warum?“, fragte das Kind.",
    "Ich hab's nicht gewusst.",
    "Die E-Mail kam um 10:45 an.",
    "Er kaufte 3,5 kg Äpfel für 4,20 €.",
    "Das Wort „Weltschmerz“ ist schwer zu übersetzen.",
    "Wir fahren nach Köln/Bonn – oder?",
]
CHINESE = [
    "这部电影很无聊。",
    "我不喜欢这个故事，但是演员很好。",
    "他说：“明天见！”",
    "你今天去哪儿了？",
    "我们在2024年买了3台电脑。",
    "「你好」，她笑着说。",
    "这本书（第二版）很贵。",
    "iPhone 15 的价格是多少？",
    "天气预报说明天会下雨。",
    "我的电话号码是 138-0000-0000。",
]
ENGLISH = [
    "It's not what he'd said.",
    "He's the LORD's servant.",
    "You're right, aren't you?",
    "A well-known 3.5-star film (2019).",
    "\"Go now,\" she said. 'Really?'",
    "Tom's dog isn't here - yet.",
    "It costs $4.50, or 10%.",
    "Wait... what?!",
    "Mr. O'Brien's e-mail: ob@example.org",
    "I'd've gone.",
]
SPANISH = [
    "¿Por qué no vienes?",
    "¡Qué día tan bonito!",
    "Él dijo: «Mañana iré a la ciudad».",
    "Cuesta 3,50 € (más IVA).",
    "María—la hermana de Juan—llegó tarde.",
    "Son las 10:30, ¿verdad?",
]


def _round_trip_share(lines: list[str]) -> tuple[float, list[str]]:
    """The share of ``lines`` that the target tokenizer, learned on them, and the detokenizer give back."""
    import tensorflow as tf

    from edgesuite.apps.translation import model as tmodel
    from edgesuite.common import text as ctext

    vocab = ctext.learn_vocabulary(lines, 2000, "none", extra_reserved=tmodel.TARGET_RESERVED)
    tok = ctext.TextTokenizer(vocab, 1024, "none")  # long enough for the longest review: no truncation
    ids = tok(tf.constant([codec.mark_spacing(t) for t in lines])).numpy()
    got = [codec.detokenize(row, vocab) for row in ids]
    misses = [f"{want!r} -> {have!r}" for want, have in zip(lines, got) if have != " ".join(want.split())]
    return 1 - len(misses) / len(lines), misses


@pytest.mark.parametrize("lines", [GERMAN, CHINESE, ENGLISH, SPANISH], ids=["de", "zh", "en", "es"])
def test_decoding_the_tokenized_reference_gives_it_back(lines):
    share, misses = _round_trip_share(lines * 3)  # the learner keeps pieces seen at least twice
    assert share == 1.0, misses


def test_real_english_and_spanish_references_come_back_at_least_99_percent():
    """Real text: 2,000 Bible verses of each side (KJV: LORD's, colons; Reina-Valera: ¿¡, accents) and 2,000
    Rotten Tomatoes snippets (contractions, quotes, numbers)."""
    from edgesuite.apps.translation.data import read_bible
    from edgesuite.common.datasets import rotten_tomatoes as rt

    bible = read_bible()
    pick = np.random.default_rng(0).permutation(len(bible.sources))[:2000]
    with rt.open_text() as f:
        reviews = [row["text"] for row in itertools.islice(csv.DictReader(f), 2000) if row["text"].strip()]
    for name, lines in (
        ("en verses", [bible.sources[i] for i in pick]),
        ("es verses", [bible.targets[i] for i in pick]),
        ("en reviews", reviews),
    ):
        share, misses = _round_trip_share(lines)
        assert share >= 0.99, (name, share, misses[:10])


def test_the_marks_appear_only_where_the_rules_would_space_wrongly():
    assert codec.mark_spacing("It's here, isn't it?") == "It ' s here , isn ' t it ?"
    assert codec.mark_spacing("这部电影。") == "这 部 电 影 。"
    assert codec.mark_spacing("3.5 km - far") == f"3 . {codec.GLUE} 5 km {codec.SPACE} - {codec.SPACE} far"


def test_the_graphs_regular_expressions_space_words_as_spell_does():
    """Random word sequences over the characters every rule looks at, marks included: tf.strings.regex_replace
    with GRAPH_STEPS on the words joined by spaces is spell(words), gap for gap."""
    import tensorflow as tf

    atoms = [
        "a",
        "Zoë",
        "3",
        "'",
        "-",
        ".",
        ",",
        "?",
        "¿",
        "(",
        ")",
        "“",
        "”",
        "„",
        "»",
        "«",
        "这",
        "部",
        "。",
        "，",
        "ー",
        "カ",
        "%",
        "$",
        "/",
        codec.GLUE,
        codec.SPACE,
        "x##",
        "漢",
    ]
    rng = np.random.default_rng(0)
    seqs = [[atoms[i] for i in rng.integers(0, len(atoms), rng.integers(1, 9))] for _ in range(3000)]
    text = tf.constant([" ".join(s) for s in seqs])
    for pattern, rewrite in codec.GRAPH_STEPS:
        text = tf.strings.regex_replace(text, pattern, rewrite)
    graph = [t.decode() for t in tf.strings.strip(text).numpy()]
    wrong = [(s, g, codec.spell(s)) for s, g in zip(seqs, graph) if g != codec.spell(s)]
    assert not wrong, wrong[:5]
