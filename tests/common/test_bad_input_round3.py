"""Bad input, third round (issue 45), the shared helpers: names of saved outputs that never collide, output
folders checked before anything is written, class names that fit label files."""

import os

import numpy as np
import pytest

from edgesuite.common.data import check_label, check_labels
from edgesuite.common.decode import output_stems
from edgesuite.common.errors import UserInputError
from edgesuite.common.runs import check_output_dir


def test_output_stems_tell_inputs_of_one_name_apart_by_folder_then_number(tmp_path):
    assert output_stems(["a/000.png", "b/000.png", "c.png", np.zeros((4, 4))]) == ["a_000", "b_000", "c", "input3"]
    assert output_stems(["x/a/000.png", "y/a/000.png"]) == ["x_a_000", "y_a_000"]
    assert output_stems(["a/000.png", "a/000.jpg"]) == ["000", "000-2"]  # the folders do not tell them apart
    assert output_stems(["a/000.png", "a/000.png", "b/000.png"]) == ["a_000", "a_000-2", "b_000"]
    assert output_stems(["000.png", "000.png", "000-2.png"]) == ["000", "000-2", "000-2-2"]


def test_check_output_dir_names_a_file_on_the_way_and_a_read_only_folder(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserInputError, match="--out .*/f/a/b: .*/f is a file, so no folder can be made there"):
        check_output_dir(tmp_path / "f" / "a" / "b", "--out")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        with pytest.raises(UserInputError, match="the folder above it, .*ro, is read-only"):
            check_output_dir(ro / "new", "--out")
    finally:
        os.chmod(ro, 0o755)
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not made


def test_class_names_that_would_break_label_files_are_refused_on_one_line():
    assert check_label("t-shirt/top", "x") == "t-shirt/top"
    assert check_label("Ünïcödé 猫 👍\u200d", "x")  # format characters (a zero-width joiner) are text
    for bad in ("a\nb", "a\tb", "a\x00", "a\u2028b"):
        with pytest.raises(UserInputError) as refused:
            check_label(bad, "data/a\nb")
        assert "\n" not in str(refused.value) and str(refused.value).startswith("data/a\\nb: class name ")
    with pytest.raises(UserInputError, match="class name 'a' is listed twice"):
        check_labels(["a", "b", "a"], "classes.txt")
    with pytest.raises(UserInputError, match="class name None is a null"):
        check_labels(["a", None], "data.yaml")
