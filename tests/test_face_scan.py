"""Faces across video frames (fomm_cli.face.scan): full scans every few frames, tracking in between."""

from __future__ import annotations

import numpy as np

from fomm_cli.face.dlib_backend import DlibBackend
from fomm_cli.face.scan import FaceScanner, detect_near
from tests.face_scenes import CountingBackend, astronaut_samples, matches, scene


def two_faces(t: int, size: tuple[int, int] = (360, 640), late: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """Frame ``t`` of a scene where a 40 px face drifts right and a 60 px face drifts up; with ``late`` a third
    face (50 px) is in the picture from frame 3 on."""
    samples = astronaut_samples()
    layout = [(samples[0], 40, (120 + t, 120)), (samples[1], 60, (420, 240 - t))]
    if late and t >= 3:
        layout.append((samples[2], 50, (560, 90)))
    return scene(size, layout)


def test_full_scans_every_few_frames_and_tracking_in_between_find_every_face() -> None:
    backend = CountingBackend()
    scanner = FaceScanner(backend, full_every=5, track_every=1)
    for t in range(8):
        frame, truths = two_faces(t)
        faces = scanner(t, frame)
        assert faces is not None and len(faces) == 2, t
        for truth in truths:
            assert sum(matches(face.box, truth) for face in faces) == 1, t
    assert (scanner.full_scans, scanner.tracked_scans) == (2, 6)  # frames 0 and 5 in full
    full = [shape for shape in backend.shapes if shape == (360, 640)]
    windows = [shape for shape in backend.shapes if shape != (360, 640)]
    assert len(full) == 2 and len(windows) == 12  # two faces tracked on six frames
    assert all(max(shape) <= 3 * 70 for shape in windows)  # about three times the face, not the frame


def test_a_face_that_enters_is_found_by_the_next_full_scan() -> None:
    scanner = FaceScanner(DlibBackend(), full_every=4, track_every=2)
    counts = {}
    for t in range(9):
        frame, _ = two_faces(t, late=True)
        faces = scanner(t, frame)
        if faces is not None:
            counts[t] = len(faces)
    # looked at: full scans at 0, 4, 8; tracking at 2 and 6; the third face (from frame 3) joins at 4
    assert counts == {0: 2, 2: 2, 4: 3, 6: 3, 8: 3}


def test_tracking_costs_the_same_in_a_larger_frame() -> None:
    """The tracked windows depend on the faces, not on the frame: a 640 x 360 and a 1920 x 1080 scene with
    the same faces give the same windows (the per-frame cost does not grow with the frame)."""
    windows = []
    for size in [(360, 640), (1080, 1920)]:
        backend = CountingBackend()
        scanner = FaceScanner(backend, full_every=10)
        for t in range(3):
            scanner(t, two_faces(t, size)[0])
        windows.append(sorted(backend.shapes[1:]))
    assert windows[0] == windows[1] and len(windows[0]) == 4


def test_faces_seen_from_two_windows_are_reported_once() -> None:
    samples = astronaut_samples()
    frame, truths = scene((300, 400), [(samples[0], 50, (160, 150)), (samples[1], 50, (240, 150))])
    faces = detect_near(frame, DlibBackend(), truths)  # each window holds both faces
    assert len(faces) == 2
    for truth in truths:
        assert sum(matches(face.box, truth) for face in faces) == 1
    for face in faces:  # landmarks moved back to frame pixels with their box
        assert (face.landmarks >= face.box[:2] - 6).all() and (face.landmarks <= face.box[2:] + 6).all()
