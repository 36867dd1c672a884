"""Each kind of bad image/mask pair: a message naming the file; skipped and counted, or fatal with --strict."""

import numpy as np
import pytest
from PIL import Image

from edgesuite.apps.segmentation.config import Config
from edgesuite.apps.segmentation.data import load_splits
from edgesuite.common.errors import UserInputError


def _load(data, **kw):
    return load_splits(Config(data=str(data), image_size=32, **kw))


def _broken(pairs, capsys, strict_match, **kw):
    """Loads leniently (one pair fewer, a counted warning) and strictly (an error naming the file)."""
    splits = _load(pairs, **kw)
    n = len(splits.train) + len(splits.val) + (len(splits.test) if splits.test is not None else 0)
    warning = capsys.readouterr().err
    with pytest.raises(UserInputError, match=strict_match):
        _load(pairs, strict=True, **kw)
    return n, warning


def test_the_clean_folder_loads_every_pair_with_the_classes_txt_names(pairs):
    splits = _load(pairs)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 24
    assert splits.class_names[0] == "background" and len(splits.class_names) == 11
    assert splits.train.masks.dtype == np.uint8 and splits.train.images.shape[1:] == (32, 32, 3)


def test_a_mask_whose_size_differs_from_its_image(pairs, capsys):
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(pairs / "masks" / "c003.png")
    n, warning = _broken(pairs, capsys, r"c003\.png: mask is 30x20 pixels, its image c003\.png is 32x32")
    assert n == 23 and "skipped 1 image/mask pairs" in warning and "c003.png" in warning


def test_an_image_without_a_mask_and_a_mask_without_an_image(pairs, capsys):
    (pairs / "masks" / "c004.png").unlink()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(pairs / "masks" / "orphan.png")
    n, warning = _broken(pairs, capsys, r"images/c004\.png: no mask with the stem 'c004'")
    assert n == 23 and "skipped 2 image/mask pairs" in warning and "orphan.png: no image with the stem" in warning


def test_a_mask_value_above_the_classes_that_is_not_the_ignore_index(pairs, capsys):
    mask = np.zeros((32, 32), np.uint8)
    mask[:4, :4] = 42
    mask[10:, 10:] = 255  # the ignore index is fine
    Image.fromarray(mask).save(pairs / "masks" / "c005.png")
    n, warning = _broken(
        pairs, capsys, r"c005\.png: mask value 42 is not a class id \(0\.\.10\) nor the ignore index 255"
    )
    assert n == 23 and "mask value 42" in warning


def test_num_classes_flag_bounds_the_mask_values(pairs, capsys):
    (pairs / "classes.txt").unlink()
    with pytest.raises(UserInputError, match=r"mask value \d+ is not a class id \(0\.\.2\)"):
        _load(pairs, num_classes=3, strict=True)


def test_an_rgb_colour_mask_is_named_and_converted_when_classes_txt_has_colours(pairs, capsys):
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[5:15, 5:15] = (128, 0, 0)
    Image.fromarray(rgb).save(pairs / "masks" / "c006.png")
    n, warning = _broken(pairs, capsys, r"c006\.png: an RGB colour mask where class indices were expected")
    assert n == 23
    # with a colour per class the same mask is converted: (128, 0, 0) is class 1
    names = [ln for ln in (pairs / "classes.txt").read_text().splitlines() if ln]
    colours = ["0 0 0", "128 0 0"] + [f"{i} {i} {i}" for i in range(10, 10 + len(names) - 2)]
    (pairs / "classes.txt").write_text("".join(f"{n} {c}\n" for n, c in zip(names, colours)))
    for p in (pairs / "masks").glob("*.png"):  # the others become colour masks too
        if p.name != "c006.png":
            m = np.asarray(Image.open(p))
            table = np.array([[0, 0, 0], [128, 0, 0]] + [[i, i, i] for i in range(10, 10 + len(names) - 2)], np.uint8)
            Image.fromarray(table[m]).save(p)
    splits = _load(pairs, val_fraction=0.0, test_fraction=0.0)
    i = [k for k, name in enumerate(splits.train.names) if name.endswith("c006.png")][0]
    assert set(np.unique(splits.train.masks[i])) == {0, 1}
    assert (splits.train.masks[i][5:15, 5:15] == 1).all()


def test_an_unreadable_image_or_mask(pairs, capsys):
    (pairs / "images" / "c007.png").write_bytes(b"not a png at all")
    (pairs / "masks" / "c008.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    n, warning = _broken(pairs, capsys, r"c00[78]\.png: not a readable")
    assert n == 22 and "skipped 2 image/mask pairs" in warning


def test_palette_and_tiff_masks_hold_class_indices_and_binary_reduces_them(pairs):
    m = np.asarray(Image.open(pairs / "masks" / "c000.png"))
    pal = Image.fromarray(m, mode="P")
    pal.putpalette([v for i in range(256) for v in (i * 7 % 256, i * 13 % 256, i * 29 % 256)])
    pal.save(pairs / "masks" / "c000.png")
    (pairs / "masks" / "c001.png").unlink()
    Image.fromarray(
        np.asarray(Image.open(pairs / "images" / "c001.png").convert("L")).astype(np.uint16) * 0
        + np.asarray(Image.open(pairs / "masks" / "c002.png")).astype(np.uint16)
    ).save(pairs / "masks" / "c001.tif")
    splits = _load(pairs, val_fraction=0.0, test_fraction=0.0)
    by_name = dict(zip(splits.train.names, splits.train.masks))
    assert np.array_equal(by_name[str(pairs / "masks" / "c000.png")], m)
    assert np.array_equal(
        by_name[str(pairs / "masks" / "c001.tif")], np.asarray(Image.open(pairs / "masks" / "c002.png"))
    )
    binary = _load(pairs, val_fraction=0.0, test_fraction=0.0, binary=True)
    assert binary.class_names == ["background", "foreground"]
    assert set(np.unique(binary.train.masks)) == {0, 1}


def test_a_missing_folder():
    with pytest.raises(UserInputError, match="no such folder"):
        _load("/nonexistent/segdata")


def test_no_masks_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(UserInputError, match=r"expected an images/ and a masks/ folder \(missing masks/\)"):
        _load(tmp_path)


def test_knobs_that_do_not_apply_to_pixels_are_not_knobs_of_segmentation():
    from edgesuite.apps.segmentation.config import Config
    from edgesuite.common.config import from_dict

    for knobs, name in (({"class_weight": "balanced"}, "class_weight"), ({"label_smoothing": 0.1}, "label_smoothing")):
        with pytest.raises(UserInputError, match=f"unknown key '{name}'"):
            from_dict(Config, knobs)
    with pytest.raises(UserInputError, match="image_size: expected a multiple of 16"):
        Config(image_size=40).validate()


def test_a_grey_and_alpha_mask_is_read_by_its_grey_channel(pairs):
    mask = np.asarray(Image.open(pairs / "masks" / "c006.png"))
    la = np.stack([mask, np.full_like(mask, 255)], -1)
    Image.fromarray(la, mode="LA").save(pairs / "masks" / "c006.png")
    splits = _load(pairs)
    names = splits.train.names + splits.val.names + splits.test.names
    assert len(names) == 24  # nothing skipped as "an RGB colour mask"


def test_a_stray_mask_value_that_adds_classes_is_warned_about_with_its_count(pairs, capsys):
    """A stray value near the classes adds two: warned. One far above them (40: 30 of 41 classes in no mask)
    is refused, see test_bad_input_round3.py."""
    (pairs / "classes.txt").unlink()
    mask = np.asarray(Image.open(pairs / "masks" / "c007.png")).copy()
    mask[0, 0] = 12
    Image.fromarray(mask).save(pairs / "masks" / "c007.png")
    splits = _load(pairs)
    out = capsys.readouterr().err
    assert len(splits.class_names) == 13
    assert "warning: 13 classes inferred from the mask values (largest 12, in 1 of 24 masks; " in out
    assert "9, 11 in none); if 12 is a stray value, give --num-classes 11 or a classes.txt" in out
    mask[0, 0] = 40
    Image.fromarray(mask).save(pairs / "masks" / "c007.png")
    with pytest.raises(
        UserInputError,
        match=r"mask values 0\.\.8, 10, 40 would make 41 classes, 30 of them in no "
        r"mask; 40 in 1 of 24 masks \(.*c007.png\)",
    ):
        _load(pairs)
    mask[0, 0] = 0
    Image.fromarray(mask).save(pairs / "masks" / "c007.png")
    _load(pairs)
    assert "classes inferred" not in capsys.readouterr().err


def test_make_canvas_masks_writes_what_the_app_reads_back_exactly(tmp_path):
    from edgesuite.apps.segmentation.config import Config
    from edgesuite.apps.segmentation.data import load_splits
    from edgesuite.cli import main
    from edgesuite.common.canvas import make_canvases

    root = tmp_path / "canvas"
    assert (
        main(
            [
                "data",
                "make-canvas",
                "--out",
                str(root),
                "--format",
                "masks",
                "--count",
                "12",
                "--image-size",
                "32",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    splits = load_splits(Config(data=str(root), image_size=32))
    expected = make_canvases(12, 32, "train", seed=3)  # as the embedded canvases: 3 items at most
    assert splits.class_names == expected.mask_class_names
    assert [len(s) for s in (splits.train, splits.val, splits.test)] == [12, 2, 2]
    assert np.array_equal(np.asarray(splits.train.masks), expected.masks)
    assert np.array_equal(np.asarray(splits.train.images), expected.images)
