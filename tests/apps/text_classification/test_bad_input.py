"""Each bad text input: a clear message naming the file and line, exit status 2, no run left behind."""

import json

import pytest

from edgesuite.cli import main

from .conftest import write_csv


def _train(tmp_path, *args):
    return main(
        [
            "train",
            "text-classification",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--vocab-size",
            "200",
            "--max-length",
            "16",
            "--out",
            str(tmp_path / "out"),
            *args,
        ]
    )


def _failed_cleanly(code, capsys, tmp_path, *fragments):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ")
    for f in fragments:
        assert f in err, err
    root = tmp_path / "out" / "text-classification"
    assert not root.exists() or not any(root.iterdir())


def test_label_column_that_does_not_exist_lists_the_columns(text_csv, tmp_path, capsys):
    code = _train(tmp_path, "--data", str(text_csv), "--label-column", "sentiment")
    _failed_cleanly(code, capsys, tmp_path, f"{text_csv}: no column 'sentiment'", "'text', 'label'")


def test_wrong_encoding_names_the_line_and_suggests_the_flag(tmp_path, capsys):
    rows = [
        {"text": "un film très réussi" if i == 7 else f"review number {i}", "label": "ab"[i % 2]} for i in range(20)
    ]
    path = write_csv(tmp_path / "latin.csv", rows, encoding="latin-1")
    _failed_cleanly(
        _train(tmp_path, "--data", str(path)),
        capsys,
        tmp_path,
        f"{path}:9: byte 0xe8",
        "not valid utf-8",
        "--encoding latin-1",
    )
    assert _train(tmp_path, "--data", str(path), "--encoding", "latin-1") == 0


def test_empty_texts_are_skipped_with_a_count_or_fatal_when_strict(tmp_path, capsys):
    rows = [
        {"text": "" if i in (3, 4) else f"text {i} {'good' if i % 2 else 'bad'}", "label": "ab"[i % 2]}
        for i in range(30)
    ]
    path = write_csv(tmp_path / "gaps.csv", rows)
    _failed_cleanly(
        _train(tmp_path, "--data", str(path), "--strict"), capsys, tmp_path, f"{path}:5: empty or missing text"
    )
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.data import load_splits

    splits = load_splits(Config(data=str(path)))
    assert len(splits.train) + len(splits.val) + len(splits.test) == 28
    assert "warning: skipped 2 text rows" in capsys.readouterr().err


def test_the_default_corpus_has_empty_rows_and_they_are_counted(capsys):
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.data import load_splits

    splits = load_splits(Config())
    assert len(splits.train) + len(splits.val) + len(splits.test) == 13905 - 14
    assert splits.class_names == ["fresh", "plot", "rotten"]
    assert "warning: skipped 14 text rows" in capsys.readouterr().err


def test_one_class_only(tmp_path, capsys):
    path = write_csv(tmp_path / "one.csv", [{"text": f"text {i}", "label": "same"} for i in range(10)])
    _failed_cleanly(
        _train(tmp_path, "--data", str(path)),
        capsys,
        tmp_path,
        "every row has the label 'same'; a classifier needs at least two classes",
    )


def test_validation_label_never_seen_in_training(tmp_path, capsys):
    d = tmp_path / "splits"
    d.mkdir()
    write_csv(d / "train.csv", [{"text": f"text {i}", "label": "ab"[i % 2]} for i in range(20)])
    write_csv(d / "val.csv", [{"text": "odd one", "label": "c"}, {"text": "text 1", "label": "a"}])
    _failed_cleanly(
        _train(tmp_path, "--data", str(d), "--strict"),
        capsys,
        tmp_path,
        f"{d / 'val.csv'}:2: label 'c' in the val split was never seen in training",
    )
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.data import load_splits

    splits = load_splits(Config(data=str(d)))
    assert len(splits.val) == 1 and len(splits.train) + len(splits.test) == 20


def test_malformed_json_lines_name_the_line(tmp_path, capsys):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"text": "fine", "label": "a"}) + "\n" + '{"text": "broken", "label": \n')
    _failed_cleanly(_train(tmp_path, "--data", str(path)), capsys, tmp_path, f"{path}:2: not a JSON object")


@pytest.mark.parametrize("layout", ["jsonl", "tsv", "folders"])
def test_every_loader_reads_the_same_rows(tmp_path, layout):
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.data import SkipLog, read_any

    rows = [
        {"text": f"第{i}条 review\twith tab" if layout != "tsv" else f"第{i}条 review", "label": "xy"[i % 2]}
        for i in range(6)
    ]
    if layout == "jsonl":
        path = tmp_path / "d.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif layout == "tsv":
        path = write_csv(tmp_path / "d.tsv", rows, delimiter="\t")
    else:
        path = tmp_path / "folders"
        for i, r in enumerate(rows):
            (path / r["label"]).mkdir(parents=True, exist_ok=True)
            (path / r["label"] / f"{i}.txt").write_text(r["text"], encoding="utf-8")
    got = read_any(path, Config(), SkipLog("rows"))
    assert sorted(zip(got.texts, got.labels)) == sorted((r["text"], r["label"]) for r in rows)
