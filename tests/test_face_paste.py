"""Feathered paste-back of an animated crop into the full-resolution source."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.face.paste import feather_mask, paste_back


def test_feather_mask_is_one_inside_and_ramps_down_to_the_edges() -> None:
    mask = feather_mask(100, 80, 0.1)
    assert mask.shape == (100, 80) and mask.dtype == np.float32
    assert not mask.flags.writeable  # cached and shared between frames
    assert mask[20:80, 20:60].min() == 1.0
    assert 0 < mask.min() < 0.05 and mask[0, 0] == mask.min()
    np.testing.assert_allclose(mask, mask[::-1, ::-1])
    assert (np.diff(mask[50, :40]) >= 0).all()


def test_paste_back_changes_only_the_box() -> None:
    rng = np.random.default_rng(0)
    full = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    before = full.copy()
    box = np.array([150, 50, 278, 178])  # 128 px square
    animated = np.full((64, 64, 3), (255, 0, 0), np.uint8)
    out = paste_back(full, animated, box)

    assert out.shape == full.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(full, before)  # the source is not modified
    outside = np.ones(full.shape[:2], bool)
    outside[50:178, 150:278] = False
    np.testing.assert_array_equal(out[outside], full[outside])  # bit-identical outside the box
    assert (out[80:148, 180:248] == [255, 0, 0]).all()  # the middle is the animated crop
    # the edge of the box is blended, mostly source
    edge = out[50, 200].astype(int)
    assert np.abs(edge - full[50, 200].astype(int)).max() < 40


def test_paste_back_rejects_boxes_outside_the_image() -> None:
    full = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="not inside"):
        paste_back(full, np.zeros((64, 64, 3), np.uint8), np.array([50, 50, 150, 150]))
