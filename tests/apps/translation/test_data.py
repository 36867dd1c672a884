"""The embedded corpus, the loaders, the chapter split, and every bad input the issue lists."""

import lzma

import numpy as np
import pytest

from edgesuite.apps.translation import data as tdata
from edgesuite.apps.translation.config import Config
from edgesuite.common.data import SkipLog
from edgesuite.common.errors import UserInputError

from .conftest import write_tsv


def test_embedded_corpus_is_clean_and_complete():
    from edgesuite.common.datasets import bible_en_es as bible

    with lzma.open(bible.PATH, "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    assert len(rows) == 31080
    assert all(len(r) == 3 and r[1] and r[2] for r in rows)
    assert rows[0] == [
        "Gen.1.1",
        "In the beginning God created the heaven and the earth.",
        "En el principio crió Dios los cielos y la tierra.",
    ]
    assert not any("¶" in r[1] or "  " in r[1] or "  " in r[2] for r in rows)
    assert rows[-1][0] == "Rev.22.21"


def test_clean_verse():
    from edgesuite.common.datasets.bible_en_es import clean_verse

    assert clean_verse("  ¶ And   God said, ") == "And God said,"
    assert clean_verse("EN el principio", first_of_chapter=True) == "En el principio"
    assert clean_verse("JEHOVÁ es mi pastor", first_of_chapter=False) == "JEHOVÁ es mi pastor"


def test_bible_split_is_by_chapter_and_deterministic():
    cfg = Config()
    a, b = tdata.load_splits(cfg), tdata.load_splits(cfg)
    assert a.test.where == b.test.where
    chapters = [set(s.groups) for s in (a.train, a.val, a.test)]
    assert not chapters[0] & chapters[2] and not chapters[0] & chapters[1] and not chapters[1] & chapters[2]
    assert len(a.train) + len(a.val) + len(a.test) == 31080
    assert 0.03 < len(a.test) / 31080 < 0.08
    other = tdata.load_splits(Config(seed=7))
    assert set(other.test.groups) != set(a.test.groups)


def test_tsv_columns_and_attribution(tmp_path):
    path = write_tsv(tmp_path / "a.tsv", [("Hi.", "Hola.", "CC-BY 2.0 (France) Attribution: tatoeba.org")] * 3)
    pairs = tdata.read_tsv(path, Config(data=str(path)), SkipLog("pairs"))
    assert pairs.sources == ["Hi."] * 3 and pairs.targets == ["Hola."] * 3
    swapped = tdata.read_tsv(path, Config(data=str(path), source_column=1, target_column=0), SkipLog("pairs"))
    assert swapped.sources == ["Hola."] * 3


def test_short_row_is_named_and_skipped_or_fatal(tmp_path, capsys):
    path = tmp_path / "a.tsv"
    path.write_text("Hi.\tHola.\nno tab here\nBye.\tAdiós.\n", encoding="utf-8")
    skips = SkipLog("sentence pairs")
    pairs = tdata.read_tsv(path, Config(data=str(path)), skips)
    assert len(pairs) == 2
    skips.report()
    err = capsys.readouterr().err
    assert f"{path}:2" in err and "1 tab-separated column, expected at least 2" in err and "skipped 1" in err
    with pytest.raises(UserInputError, match=f"{path}:2: 1 tab-separated column"):
        tdata.read_tsv(path, Config(data=str(path)), SkipLog("sentence pairs", strict=True))


def test_empty_lines_of_parallel_files_are_counted(tmp_path, capsys):
    src = tmp_path / "en.txt"
    tgt = tmp_path / "es.txt"
    src.write_text("Hi.\n\nBye.\nYes.\n", encoding="utf-8")
    tgt.write_text("Hola.\nAlgo.\nAdiós.\n \n", encoding="utf-8")
    skips = SkipLog("sentence pairs")
    pairs = tdata.read_parallel_files(src, tgt, Config(source_file=str(src), target_file=str(tgt)), skips)
    assert pairs.sources == ["Hi.", "Bye."] and pairs.targets == ["Hola.", "Adiós."]
    skips.report()
    err = capsys.readouterr().err
    assert "skipped 2 sentence pairs" in err and f"{src}:2: empty line" in err and f"{tgt}:4: empty line" in err


def test_line_count_mismatch_names_both_counts(tmp_path):
    src, tgt = tmp_path / "en.txt", tmp_path / "es.txt"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    tgt.write_text("x\ny\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"en.txt has 3 lines and .*es.txt has 2"):
        tdata.read_parallel_files(src, tgt, Config(source_file=str(src), target_file=str(tgt)), SkipLog("p"))


def test_line_count_mismatch_exits_2_from_the_cli(tmp_path, capsys):
    from edgesuite.cli import main

    src, tgt = tmp_path / "en.txt", tmp_path / "es.txt"
    src.write_text("a\nb\nc\n", encoding="utf-8")
    tgt.write_text("x\ny\n", encoding="utf-8")
    assert (
        main(
            [
                "train",
                "translation",
                "--source-file",
                str(src),
                "--target-file",
                str(tgt),
                "--out",
                str(tmp_path / "runs"),
            ]
        )
        == 2
    )
    assert "has 3 lines" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "translation").exists() or not any((tmp_path / "runs" / "translation").iterdir())


def test_a_byte_in_the_wrong_encoding_is_named_and_skipped_or_fatal(tmp_path, capsys):
    path = tmp_path / "latin.tsv"
    path.write_bytes(b"Hi.\tHola.\n" + "No.\tAñejo.\n".encode("latin-1") + "Yes.\tSí.\n".encode())
    skips = SkipLog("sentence pairs")
    pairs = tdata.read_tsv(path, Config(data=str(path)), skips)
    assert pairs.sources == ["Hi.", "Yes."] and pairs.where == [f"{path}:1", f"{path}:3"]
    skips.report()
    err = capsys.readouterr().err
    assert "skipped 1 sentence pairs" in err and f"{path}:2: byte 0xf1 at column 6 is not valid utf-8" in err
    assert "--encoding latin-1" in err
    with pytest.raises(UserInputError, match=r"latin.tsv:2: byte 0xf1 .* not valid utf-8.*--encoding latin-1"):
        tdata.read_tsv(path, Config(data=str(path)), SkipLog("p", strict=True))
    path.write_bytes("Hi.\tHola.\nNo.\tAñejo.\n".encode("latin-1"))
    pairs = tdata.read_tsv(path, Config(data=str(path), encoding="latin-1"), SkipLog("p"))
    assert pairs.targets[1] == "Añejo."


def test_a_bad_byte_on_one_side_of_parallel_files_drops_its_pair_and_keeps_the_alignment(tmp_path, capsys):
    src, tgt = tmp_path / "en.txt", tmp_path / "es.txt"
    src.write_text("Hi.\nNo.\nYes.\n", encoding="utf-8")
    tgt.write_bytes(b"Hola.\n" + "Añejo.\n".encode("latin-1") + "Sí.\n".encode())
    skips = SkipLog("sentence pairs")
    pairs = tdata.read_parallel_files(src, tgt, Config(source_file=str(src), target_file=str(tgt)), skips)
    assert pairs.sources == ["Hi.", "Yes."] and pairs.targets == ["Hola.", "Sí."]
    skips.report()
    assert f"{tgt}:2: byte 0xf1" in capsys.readouterr().err


def test_a_folder_given_as_data_or_as_a_parallel_file_is_named_as_a_folder(tmp_path, capsys):
    from edgesuite.cli import main

    assert main(["train", "translation", "--data", str(tmp_path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}: is a folder; --data takes a TSV file") and "no such file" not in err
    (tmp_path / "es.txt").write_text("Hola.\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=f"{tmp_path}: is a folder; --source-file and --target-file take"):
        tdata.read_parallel_files(tmp_path, tmp_path / "es.txt", Config(), SkipLog("p"))
    assert not (tmp_path / "runs" / "translation").exists() or not any((tmp_path / "runs" / "translation").iterdir())


def test_one_of_source_and_target_file_is_a_config_error():
    with pytest.raises(UserInputError, match="give both"):
        Config(source_file="a.txt").validate()


def test_over_long_pairs_are_truncated_with_a_count(tmp_path, capsys):
    from edgesuite.apps.translation.task import TASK

    rows = [("one two three", "uno dos tres", "x")] * 40 + [(" ".join(["word"] * 50), "palabra " * 50, "x")] * 3
    path = write_tsv(tmp_path / "long.tsv", rows)
    cfg = Config(data=str(path), max_length=8, vocab_size=100, test_fraction=0.1, val_fraction=0.1)
    data = TASK.load_data(cfg)
    said = capsys.readouterr()
    assert "longer than --max-length 8 tokens and were truncated" in said.out + said.err  # a warning: stderr
    (src, dec_in), labels, weights = next(iter(data.train))
    assert src.shape[1] <= 8 and labels.shape == dec_in.shape
    # every label row ends with [END] inside the window, truncated or not
    assert np.all(np.asarray(labels == 3).sum(1) == 1)
