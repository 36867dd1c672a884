import numpy as np
import pytest

from edgesuite.common.data import SkipLog, check_image, stratified_split
from edgesuite.common.errors import UserInputError


def test_stratified_split_is_deterministic_disjoint_and_complete():
    labels = np.repeat(np.arange(4), [50, 30, 20, 10])
    a = stratified_split(labels, (0.1, 0.2), seed=3)
    b = stratified_split(labels, (0.1, 0.2), seed=3)
    c = stratified_split(labels, (0.1, 0.2), seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])
    assert sorted(np.concatenate(a).tolist()) == list(range(len(labels)))
    for part, frac in zip(a[1:], (0.1, 0.2)):
        assert set(labels[part]) == {0, 1, 2, 3}  # every class in every split
        assert abs(len(part) - frac * len(labels)) <= 4


def test_skiplog_counts_or_fails_when_strict(capsys):
    log = SkipLog("unreadable images")
    log.skip("a.png", "broken")
    log.skip("b.png", "broken")
    log.report()
    assert "skipped 2 unreadable images: a.png: broken; b.png: broken" in capsys.readouterr().err
    with pytest.raises(UserInputError, match="c.png: broken"):
        SkipLog("x", strict=True).skip("c.png", "broken")


def test_check_image(tmp_path):
    from PIL import Image

    Image.new("L", (20, 10)).save(tmp_path / "ok.png")
    assert check_image(tmp_path / "ok.png") == (20, 10)
    with pytest.raises(UserInputError, match=r"ok\.png: image is 20x10 pixels, smaller than the minimum 16x16"):
        check_image(tmp_path / "ok.png", min_size=16)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ValueError, match="not a readable image"):
        check_image(tmp_path / "bad.png")


def test_image_size_left_to_the_data_keeps_the_native_side_up_to_a_cap(tmp_path):
    """Segmentation and detection, --image-size 0 (the default): 128 px tiles train at 128 (not 64), 400 px
    aerial tiles at the 256 cap, the canvases at 64; masks do not count; a size given stays."""
    import dataclasses

    from PIL import Image

    from edgesuite.apps import get_config_class
    from edgesuite.common.data import with_image_size

    def folder(name, side, count=5):
        root = tmp_path / name
        for sub in ("images", "masks"):
            (root / sub).mkdir(parents=True)
        for i in range(count):
            Image.new("RGB", (side + i, side)).save(root / "images" / f"{i}.png")
            Image.new("L", (16, 16)).save(root / "masks" / f"{i}.png")
        return str(root)

    for app in ("segmentation", "object-detection"):
        cfg = get_config_class(app)()
        assert cfg.image_size == 0
        logged = []
        assert (
            with_image_size(dataclasses.replace(cfg, data=folder(f"{app}-128", 128)), logged.append).image_size == 128
        )
        assert "median shorter side 128 px of 5 images" in logged[0]
        assert (
            with_image_size(dataclasses.replace(cfg, data=folder(f"{app}-400", 400)), logged.append).image_size == 256
        )
        assert with_image_size(dataclasses.replace(cfg, data=folder(f"{app}-20", 20)), logged.append).image_size == 32
        assert with_image_size(cfg, logged.append).image_size == 64  # the embedded canvases
        assert with_image_size(dataclasses.replace(cfg, image_size=96), logged.append).image_size == 96
