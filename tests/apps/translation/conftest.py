"""Short verse pairs cut from the embedded Bible corpus, and one small trained translator."""

from pathlib import Path

import pytest


def short_pairs(limit: int = 900, max_words: int = 12) -> list[tuple[str, str, str]]:
    """The first ``limit`` pairs of the embedded corpus whose sides have at most ``max_words`` words."""
    from edgesuite.common.datasets import bible_en_es as bible

    out = []
    with bible.open_text() as f:
        for line in f:
            ref, en, es = line.rstrip("\n").split("\t")
            if len(en.split()) <= max_words and len(es.split()) <= max_words:
                out.append((ref, en, es))
                if len(out) == limit:
                    break
    return out


def write_tsv(path: Path, rows, encoding: str = "utf-8") -> Path:
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding=encoding)
    return path


@pytest.fixture(scope="session")
def pairs_tsv(tmp_path_factory) -> Path:
    """eng<TAB>spa<TAB>attribution, as a Tatoeba/Anki file has it (the attribution column is the reference)."""
    rows = [(en, es, f"bible {ref}") for ref, en, es in short_pairs()]
    return write_tsv(tmp_path_factory.mktemp("translation") / "pairs.tsv", rows)


TINY = [
    "--epochs",
    "6",
    "--layers",
    "1",
    "--d-model",
    "32",
    "--heads",
    "2",
    "--ffn",
    "64",
    "--vocab-size",
    "600",
    "--max-length",
    "24",
    "--batch-size",
    "32",
    "--lr",
    "0.005",
    "--beam-size",
    "2",
    "--eval-samples",
    "40",
    "--early-stopping",
    "0",
    "--seed",
    "1",
    "--no-xla",
]


@pytest.fixture(scope="session")
def translation_run(pairs_tsv, tmp_path_factory) -> Path:
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("translation-runs")
    assert main(["train", "translation", "--data", str(pairs_tsv), *TINY, "--out", str(out), "--name", "shared"]) == 0
    return out / "translation" / "shared"


@pytest.fixture(scope="session")
def translation_export(translation_run) -> dict:
    import edgesuite

    return edgesuite.open_run(str(translation_run)).export("all", calibration_samples=24, eval_samples=24)
