"""English-Spanish verse pairs from two public-domain Bibles: the translation app's embedded default.

``bible_en_es.tsv.xz`` beside this file holds one verse per line,
``reference<TAB>english<TAB>spanish`` (reference ``Gen.1.1``), built from the
Debian packages ``sword-text-kjv`` (SWORD module ``engKJV2006eb``, King James
Version, 1769 text) and ``sword-text-sparv`` (``spaRV1909eb``, Reina-Valera
1909), both public domain, read with the MIT-licensed ``pysword`` and paired by
verse reference (both modules use the KJV versification). See
``BIBLE_EN_ES.md``. Rebuild it (needs ``apt-get download`` and ``pip install
pysword``; nothing of either at run time)::

    python -m edgesuite.common.datasets.bible_en_es --rebuild [--sword-dir /usr/share/sword]

Cleaning (``clean_verse``): the KJV paragraph sign ``¶`` and the markup
spacing left by stripped Strong's numbers go, whitespace is collapsed, and
the all-capital first word of a chapter in RV1909 (a drop-capital in print:
``EN el principio``) is written as a word (``En``). A verse missing or empty
in either Bible is left out, as is a pair where either side is longer than
``MAX_WORDS`` words (a handful of genealogies and Esther 8:9).
"""

from __future__ import annotations

import argparse
import lzma
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from edgesuite.common.log import say

PATH = Path(__file__).with_name("bible_en_es.tsv.xz")
SOURCE_MODULE, TARGET_MODULE = "engKJV2006eb", "spaRV1909eb"
PACKAGES = ("sword-text-kjv", "sword-text-sparv")
MAX_WORDS = 80
COLUMNS = ("reference", "english", "spanish")


def open_text():
    """The pairs as a text stream: UTF-8, tab-separated, no header."""
    return lzma.open(PATH, "rt", encoding="utf-8", newline="")


def chapter_of(reference: str) -> str:
    """``Gen.1.1`` -> ``Gen.1``: the unit the train/validation/test split is drawn by."""
    return reference.rsplit(".", 1)[0]


_CAPS_WORD = re.compile(r"^([A-ZÁÉÍÓÚÑÜ])([A-ZÁÉÍÓÚÑÜ]+)\b")


def clean_verse(text: str, first_of_chapter: bool = False) -> str:
    text = text.replace("¶", " ")
    text = re.sub(r"\s+", " ", text).strip()
    if first_of_chapter:
        text = _CAPS_WORD.sub(lambda m: m.group(1) + m.group(2).lower(), text, count=1)
    return text


def extract(sword_dir: Path):
    """Yields (reference, english, spanish) for every verse present and non-empty in both modules."""
    from pysword.modules import SwordModules

    modules = SwordModules(str(sword_dir))
    found = modules.parse_modules()
    for name in (SOURCE_MODULE, TARGET_MODULE):
        if name not in found:
            raise SystemExit(f"{sword_dir}: no SWORD module {name} (install {', '.join(PACKAGES)})")
    en, es = modules.get_bible_from_module(SOURCE_MODULE), modules.get_bible_from_module(TARGET_MODULE)
    for testament in en.get_structure().get_books().values():
        for book in testament:
            for chapter, length in enumerate(book.chapter_lengths, start=1):
                for verse in range(1, length + 1):
                    where = dict(books=[book.osis_name], chapters=[chapter], verses=[verse])
                    try:
                        a, b = en.get(**where), es.get(**where)
                    except Exception:  # a verse the module lacks
                        continue
                    a, b = clean_verse(a), clean_verse(b, first_of_chapter=verse == 1)
                    if a and b:
                        yield f"{book.osis_name}.{chapter}.{verse}", a, b


def rebuild(out: Path = PATH, sword_dir: Path | None = None) -> None:
    """Extracts the pairs (from ``sword_dir``, else from the Debian packages fetched with apt-get download)."""
    with tempfile.TemporaryDirectory() as tmp:
        if sword_dir is None:
            for pkg in PACKAGES:
                subprocess.run(["apt-get", "download", pkg], cwd=tmp, check=True)
            for deb in Path(tmp).glob("*.deb"):
                subprocess.run(["dpkg-deb", "-x", str(deb), str(Path(tmp) / "root")], check=True)
            sword_dir = Path(tmp) / "root" / "usr" / "share" / "sword"
        rows, long = [], 0
        for ref, a, b in extract(sword_dir):
            if max(len(a.split()), len(b.split())) > MAX_WORDS:
                long += 1
                continue
            rows.append("\t".join((ref, a, b)) + "\n")
    tmp_out = out.with_name(out.name + ".tmp")
    with lzma.open(tmp_out, "wt", encoding="utf-8", preset=9) as f:
        f.writelines(rows)
    tmp_out.replace(out)
    say(f"wrote {out}: {len(rows)} verse pairs ({long} over {MAX_WORDS} words left out), {out.stat().st_size} bytes")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="extract the pairs again from the SWORD modules")
    parser.add_argument(
        "--sword-dir",
        type=Path,
        help="a SWORD folder holding both modules (mods.d/, modules/); "
        "default: fetch the Debian packages with apt-get download",
    )
    args = parser.parse_args()
    if args.rebuild:
        rebuild(sword_dir=args.sword_dir)
    else:
        parser.print_help()
        sys.exit(0)
