"""Knowledge distillation (--teacher): the loss, the packed targets, the teacher checks, an image student."""

import json

import numpy as np
import pytest

from edgesuite.common.errors import UserInputError


def test_loss_is_the_base_loss_on_labels_and_adds_the_soft_term_on_packed_targets():
    import keras

    from edgesuite.common.distill import DistillationLoss

    base = keras.losses.CategoricalCrossentropy()
    loss = DistillationLoss(base, classes=3, alpha=0.5, temperature=2.0)
    y = np.array([[1, 0, 0], [0, 1, 0]], np.float32)
    p = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1]], np.float32)
    assert float(loss(y, p)) == pytest.approx(float(base(y, p)), rel=1e-6)  # validation: labels only
    # a teacher equal to the student at T: the KL term is 0, so the loss is half the cross-entropy
    soft = np.exp(np.log(p) / 2) / np.exp(np.log(p) / 2).sum(-1, keepdims=True)
    assert float(loss(np.concatenate([y, soft], -1), p)) == pytest.approx(0.5 * float(base(y, p)), rel=1e-5)
    # any other teacher costs more
    other = np.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1]], np.float32)
    assert float(loss(np.concatenate([y, other], -1), p)) > 0.5 * float(base(y, p)) + 0.1
    again = DistillationLoss.from_config(loss.get_config())
    assert (again.classes, again.alpha, again.temperature) == (3, 0.5, 2.0)


def test_metrics_read_the_labels_part_of_packed_targets():
    import keras

    from edgesuite.common.distill import OnLabels

    m = OnLabels(keras.metrics.CategoricalAccuracy(name="accuracy"), classes=2)
    assert m.name == "accuracy"
    y = np.array([[1, 0, 0.1, 0.9], [0, 1, 0.2, 0.8]], np.float32)  # the teacher is wrong on the first
    m.update_state(y, np.array([[0.9, 0.1], [0.4, 0.6]], np.float32))
    assert float(m.result()) == 1.0


def _train(args, out, name):
    from edgesuite.cli import main

    assert main(["train", *args, "--out", str(out), "--name", name]) == 0
    return out / args[0] / name


def test_student_learns_from_two_teachers_and_reports_their_ensemble(tiny_folder, trained_run, tmp_path):
    import keras

    base = [
        "image-classification",
        "--data",
        str(tiny_folder),
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--precision",
        "float32",
        "--seed",
        "1",
    ]
    t1 = trained_run  # the shared run: the default CNN at seed 1, its own recipe (flips, mirror average)
    # another seed on the same splits (bagging over seeds), another size (resized for it), another width
    t2 = _train(
        base + ["--image-size", "32", "--width", "0.5", "--seed", "2", "--split-seed", "1"], tmp_path, "teacher-32px"
    )
    student = _train(
        base + ["--width", "0.25", "--teacher", str(t1), str(t2), "--temperature", "3"], tmp_path, "student"
    )
    metrics = json.loads((student / "metrics.json").read_text())
    ensemble = metrics["teacher_ensemble"]
    assert ensemble["runs"] == [str(t1), str(t2)] and 0 <= ensemble["accuracy"] <= 1
    assert "accuracy" in metrics
    import yaml

    cfg = yaml.safe_load((student / "config.yaml").read_text())
    assert cfg["teacher"] == f"{t1},{t2}" and cfg["temperature"] == 3
    history = (student / "history.csv").read_text().splitlines()[0]
    assert "val_accuracy" in history and "accuracy" in history
    # the student's file is the student alone with the plain loss: plain Keras loads it
    model = keras.models.load_model(student / "model.keras")
    assert type(model.loss).__name__ == "CategoricalCrossentropy"
    assert model.count_params() < keras.models.load_model(t1 / "model.keras").count_params()


def test_teacher_on_other_splits_or_task_is_refused(tiny_folder, trained_run, tmp_path):
    from edgesuite.api import train

    with pytest.raises(UserInputError, match="splits come from seed 1, the student's from seed 7.*--split-seed"):
        train(
            "image-classification",
            data=str(tiny_folder),
            epochs=1,
            seed=7,
            teacher=[str(trained_run)],
            out=str(tmp_path),
            precision="float32",
        )
    with pytest.raises(UserInputError, match="splits come from seed 1, the student's from seed 3"):
        train(
            "image-classification",
            data=str(tiny_folder),
            epochs=1,
            seed=1,
            split_seed=3,
            teacher=[str(trained_run)],
            out=str(tmp_path),
            precision="float32",
        )
    assert not (tmp_path / "image-classification").exists() or not any((tmp_path / "image-classification").iterdir())
