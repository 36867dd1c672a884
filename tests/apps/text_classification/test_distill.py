"""Distillation into a text classifier: teachers of another architecture read the student's token ids."""

import json

import pytest

from edgesuite.common.errors import UserInputError


def _train(args, out, name):
    from edgesuite.cli import main

    assert main(["train", *args, "--out", str(out), "--name", name]) == 0
    return out / args[0] / name


def test_text_student_distils_from_a_bag_teacher_with_bigrams(text_csv, text_run, tmp_path):
    student = _train(
        [
            "text-classification",
            "--data",
            str(text_csv),
            "--model",
            "cnn",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--vocab-size",
            "600",
            "--max-length",
            "24",
            "--embed-dim",
            "8",
            "--hidden",
            "8",
            "--seed",
            "1",
            "--precision",
            "float32",
            "--teacher",
            str(text_run),
        ],
        tmp_path,
        "student",
    )
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["teacher_ensemble"]["macro_f1"] > 0.5  # the bow teacher reads the cnn's 24 ids + its bigrams


def test_a_teacher_of_another_task_is_refused(text_csv, trained_run, tmp_path):
    from edgesuite.api import train

    with pytest.raises(UserInputError, match="is a image-classification run, not text-classification"):
        train(
            "text-classification",
            data=str(text_csv),
            epochs=1,
            teacher=str(trained_run),
            out=str(tmp_path),
            vocab_size=600,
            max_length=16,
        )
