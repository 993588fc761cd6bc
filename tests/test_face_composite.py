"""Several animated face crops pasted back into one photo (fomm_cli.face.composite)."""

from __future__ import annotations

import numpy as np
import pytest

from fomm_cli.face.composite import Compositor, feather_mask, paste_back

RED, BLUE, GREEN = (230, 20, 20), (20, 20, 230), (20, 200, 20)


def photo(height: int = 300, width: int = 500) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def flat(colour: tuple[int, int, int], size: int = 64) -> np.ndarray:
    return np.full((size, size, 3), colour, np.uint8)


def outside(shape: tuple[int, ...], boxes: list[np.ndarray]) -> np.ndarray:
    mask = np.ones(shape[:2], bool)
    for x1, y1, x2, y2 in boxes:
        mask[y1:y2, x1:x2] = False
    return mask


def test_feather_mask_is_one_inside_and_ramps_down_to_the_edges() -> None:
    mask = feather_mask(100, 80, 0.1)
    assert mask.shape == (100, 80) and mask.dtype == np.float32
    assert not mask.flags.writeable  # cached and shared between frames
    assert mask[20:80, 20:60].min() == 1.0
    assert 0 < mask.min() < 0.05 and mask[0, 0] == mask.min()
    np.testing.assert_allclose(mask, mask[::-1, ::-1])
    assert (np.diff(mask[50, :40]) >= 0).all()


def test_one_face_is_blended_with_its_mask_and_nothing_outside_changes() -> None:
    import cv2

    image = photo()
    before = image.copy()
    box = np.array([150, 50, 278, 178])  # 128 px square
    crop = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out = paste_back(image, crop, box)
    np.testing.assert_array_equal(image, before)  # the photo is not modified
    keep = outside(image.shape, [box])
    np.testing.assert_array_equal(out[keep], image[keep])  # bit-identical outside the box
    mask = feather_mask(128, 128)[..., None]
    resized = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    expected = image[50:178, 150:278] * (1 - mask) + resized * mask
    assert np.abs(out[50:178, 150:278] - expected).max() <= 0.51
    np.testing.assert_array_equal(out[80:148, 180:248], np.clip(resized[30:98, 30:98], 0, 255).round())
    with pytest.raises(ValueError, match="not inside"):
        paste_back(image, crop, np.array([450, 250, 550, 350]))


def test_overlapping_crops_keep_each_face_and_meet_without_a_seam() -> None:
    image = photo()
    # two 160 px crops overlapping by 80 px (faces 160 px apart), and a separate third one
    boxes = [np.array([40, 60, 200, 220]), np.array([120, 60, 280, 220]), np.array([340, 100, 460, 220])]
    compositor = Compositor(image, boxes)
    out = compositor.paste([flat(RED), flat(BLUE), flat(GREEN)]).copy()

    keep = outside(image.shape, boxes)
    np.testing.assert_array_equal(out[keep], image[keep])  # bit-identical away from every crop
    # each face's middle is its own crop, even where the neighbour's crop covers it (no double pasting)
    np.testing.assert_array_equal(out[140, 120 - 40 + 20], RED)  # x 100: inside both crops, nearer red
    np.testing.assert_array_equal(out[140, 200 - 20 + 20], BLUE)  # x 200: inside both crops, nearer blue
    np.testing.assert_array_equal(out[160, 400], GREEN)
    # along the line between the two faces, red hands over to blue smoothly: no jump at either box edge
    row = out[140, 60:260].astype(int)
    steps = np.abs(np.diff(row, axis=0)).max(axis=1)
    assert steps.max() <= 40  # the full red-to-blue change is 210 per channel
    handover = np.nonzero((row[:, 0] < 200) & (row[:, 0] > 50))[0] + 60
    assert handover.min() >= 150 and handover.max() <= 170 and len(handover) >= 5  # about 1/10 of a crop, midway


def test_the_canvas_is_reused_without_accumulating() -> None:
    image = photo()
    boxes = [np.array([40, 60, 200, 220]), np.array([120, 60, 280, 220])]
    compositor = Compositor(image, boxes)
    first = compositor.paste([flat(RED), flat(BLUE)])
    second = compositor.paste([flat(GREEN), flat(GREEN)])
    assert second is first  # one persistent canvas
    fresh = Compositor(image, boxes).paste([flat(GREEN), flat(GREEN)])
    np.testing.assert_array_equal(second, fresh)
    with pytest.raises(ValueError, match="1 crops for 2 faces"):
        compositor.paste([flat(RED)])
    with pytest.raises(ValueError, match="not inside"):
        Compositor(image, [np.array([400, 0, 600, 200])])


def test_a_group_photo_animated_face_by_face() -> None:
    """Three real faces in a photo, each cropped, animated by one driving video and pasted back: every face
    changes, and every pixel away from the faces' crops is the photo's, in every frame."""
    from fomm_cli.animate import Animator
    from fomm_cli.checkpoints import load_model
    from fomm_cli.face.dlib_backend import DlibBackend
    from fomm_cli.face.select import crop_faces
    from tests.face_scenes import astronaut_samples, scene
    from tests.helpers import PARITY, driving_frames

    samples = astronaut_samples()
    image, _ = scene((360, 640), [(samples[0], 50, (120, 160)), (samples[1], 60, (230, 200)),
                                  (samples[3], 70, (480, 170))])
    crops = crop_faces(image, DlibBackend().detect(image), "all", size=64)
    assert len(crops) == 3
    boxes = [c.box for c in crops]
    model = load_model(PARITY / "a.pth.tar")
    model.config.image_size = (64, 64)
    driving = driving_frames()
    animation = Animator(model, "cpu").start([c.crop for c in crops], driving[0])
    compositor = Compositor(image, boxes, [c.centre for c in crops])
    keep = outside(image.shape, boxes)
    changed = np.zeros(len(crops))
    for results in animation.frames(driving):
        frame = compositor.paste(results)
        np.testing.assert_array_equal(frame[keep], image[keep])
        for k, (x1, y1, x2, y2) in enumerate(boxes):
            inner = (slice(y1 + 8, y2 - 8), slice(x1 + 8, x2 - 8))
            changed[k] = max(changed[k], np.abs(frame[inner].astype(int) - image[inner].astype(int)).mean())
    assert (changed > 1).all(), changed
