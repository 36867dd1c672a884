"""Bad input, third round (issue 45), text classification: a label that would break the label files."""

import pytest

from edgesuite.cli import main

from .conftest import corpus_rows, write_csv


@pytest.mark.parametrize("layout", ["csv", "folders"])
def test_a_label_with_a_newline_or_other_control_character_is_refused_at_load_time(tmp_path, capsys, layout):
    rows = corpus_rows(per_class=20)
    if layout == "csv":
        rows[3]["label"] = "fresh\nish"  # a quoted CSV field may hold a newline
        data = write_csv(tmp_path / "reviews.csv", rows)
        named = f"{data}:"  # and the line the csv module counts (texts may hold newlines too)
        assert_named = "class name 'fresh\\nish'"
    else:
        data = tmp_path / "folders"
        for i, row in enumerate(rows):
            label = "rot\x07ten" if row["label"] == rows[-1]["label"] else row["label"]
            (data / label).mkdir(parents=True, exist_ok=True)
            (data / label / f"{i}.txt").write_text(row["text"])
        named = f"{data}: class name 'rot\\x07ten' holds the control character '\\x07'"
        assert_named = named
    code = main(["train", "text-classification", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert named in errors[0] and assert_named in errors[0] and "control character" in errors[0], errors[0]
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]  # no run begun
