"""Face detection recall and time per frame with the offline (dlib) backend, on real faces placed small in
large scenes; and the cost per frame of pasting several animated faces back into a photo.

Faces: the astronaut photo (as taken, mirrored, grey, darker and warm) and the people of Labeled Faces in the
Wild that scikit-image ships (25 px grey crops, so LFW faces of 100 and 200 px are 4-8x enlargements: blurry,
a harder test than a real photo). They are pasted (area averaging when shrunk) at random places into 1920 x 1080
and 3840 x 2160 collages of scikit-image's face-free photos; a face's width is ear to ear (``tests/face_scenes``).
A face counts as found when a detection's centre lies inside its box and the widths agree within a factor of 2;
other detections count as false positives.

Rows: ``default`` is ``DlibBackend().detect(frame)`` (the frame scanned at 1.75x for 40 px faces);
``before`` is the previous default (a copy whose long side is 640 px, upsampled only below 480 px). Times
are in CPU seconds of this process (``time.process_time``, OpenCV held to one thread; dlib runs on one
core): unlike wall time, barely affected by other programs sharing the machine. ``video`` runs
``FaceScanner`` as ``fomm crop`` does (a full scan every 10 frames, the faces tracked on the others) over
frames with three moving faces.

    python benchmarks/face_detection.py            # about 3 minutes on one idle core
    python benchmarks/face_detection.py --quick    # 1080p only, fewer frames
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fomm_cli.face.backends import Face, clip_box, largest_first
from fomm_cli.face.dlib_backend import DLIB_MIN_SCORE, DlibBackend, hog_detector
from tests.face_scenes import Sample, astronaut_samples, background, lfw_samples, matches, place

WIDTHS = (40, 60, 100, 200)
RESOLUTIONS = {"1080p": (1080, 1920), "4K": (2160, 3840)}


def previous_default(image: np.ndarray) -> list[Face]:
    """The detection ``fomm crop`` did before: dlib on a 640 px copy, upsampled once below 480 px."""
    import cv2

    scale = min(1.0, 640 / max(image.shape[:2]))
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
    upsample = 1 if max(small.shape[:2]) <= 480 else 0
    rects, scores, _ = hog_detector().run(np.ascontiguousarray(small), upsample, DLIB_MIN_SCORE)
    boxes = [np.array([r.left(), r.top(), r.right() + 1, r.bottom() + 1], np.float32) / scale for r in rects]
    return largest_first([Face(clip_box(b, image.shape), s) for b, s in zip(boxes, scores, strict=True)])


def layout(size: tuple[int, int], width: int, count: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Up to ``count`` face centres on a jittered grid, faces about 2.2 widths apart, away from the border."""
    height, frame_width = size
    cell = max(int(2.2 * width), 1)
    cols, rows = max(frame_width // cell - 1, 1), max(height // cell - 1, 1)
    cells = rng.permutation(cols * rows)[:count]
    jitter = rng.uniform(-0.2, 0.2, (len(cells), 2)) * cell
    return [(cell * (c % cols + 1) + dx, cell * (c // cols + 1) + dy)
            for c, (dx, dy) in zip(cells, jitter, strict=True)]


def recall(detect, size: tuple[int, int], width: int, pool: list[Sample], frames: int, per_frame: int,
           seed: int) -> tuple[int, int, int, list[float]]:
    """(faces found, faces placed, false positives, seconds per frame) over ``frames`` scenes."""
    rng = np.random.default_rng(seed)
    found = placed = false = 0
    times = []
    for f in range(frames):
        canvas = background(*size, seed=seed + f).copy()
        truths = [place(canvas, pool[(f * per_frame + k) % len(pool)], width, centre)
                  for k, centre in enumerate(layout(size, width, per_frame, rng))]
        started = time.process_time()
        faces = detect(canvas)
        times.append(time.process_time() - started)
        hits = [any(matches(face.box, truth) for face in faces) for truth in truths]
        found, placed = found + sum(hits), placed + len(truths)
        false += sum(not any(matches(face.box, truth) for truth in truths) for face in faces)
    return found, placed, false, times


def video_cost(size: tuple[int, int], frames: int) -> tuple[float, int, int, float]:
    """(mean seconds per frame, full scans, tracked frames, share of face-frames found) for FaceScanner."""
    from fomm_cli.face.scan import FaceScanner

    samples = astronaut_samples()
    height, width = size
    scanner = FaceScanner(DlibBackend(), full_every=10, track_every=1)
    spent, hits, total = 0.0, 0, 0
    for t in range(frames):
        canvas = background(*size, seed=7).copy()
        truths = [place(canvas, samples[0], 40, (0.2 * width + 2 * t, 0.3 * height)),
                  place(canvas, samples[1], 60, (0.5 * width, 0.6 * height - t)),
                  place(canvas, samples[3], 100, (0.8 * width - 2 * t, 0.4 * height + t))]
        started = time.process_time()
        faces = scanner(t, canvas)
        spent += time.process_time() - started
        if faces is not None:
            hits += sum(any(matches(face.box, truth) for face in faces) for truth in truths)
            total += len(truths)
    return spent / frames, scanner.full_scans, scanner.tracked_scans, hits / max(total, 1)


def composite_cost(size: tuple[int, int], repeats: int) -> tuple[float, float]:
    """(ms per frame for Compositor.paste, ms per frame for blending each face into a fresh copy of the photo,
    as pasting one face per frame did) with three faces whose 256 px crops overlap, in a photo of ``size``."""
    import cv2

    from fomm_cli.face.composite import Compositor, feather_mask

    image = background(*size, seed=3).copy()
    boxes = [np.array([x, 300, x + 256, 556]) for x in (400, 560, 720)]
    crops = [np.random.default_rng(k).integers(0, 256, (256, 256, 3), dtype=np.uint8) for k in range(3)]
    compositor = Compositor(image, boxes)
    started = time.process_time()
    for _ in range(repeats):
        compositor.paste(crops)
    ours = (time.process_time() - started) / repeats
    started = time.process_time()
    for _ in range(repeats):
        frame = image
        for crop, (x1, y1, x2, y2) in zip(crops, boxes, strict=True):
            frame = frame.copy()
            region = frame[y1:y2, x1:x2].astype(np.float32)
            resized = cv2.resize(crop, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA).astype(np.float32)
            alpha = feather_mask(y2 - y1, x2 - x1)[..., None]
            frame[y1:y2, x1:x2] = np.clip(np.rint(region + (resized - region) * alpha), 0, 255).astype(np.uint8)
    naive = (time.process_time() - started) / repeats
    return 1000 * ours, 1000 * naive


def mmod_seconds() -> float:
    """Seconds for dlib's CNN (MMOD) face detector on one 640 x 360 frame, without upsampling (it then finds faces
    from about 70 px, like HOG; to reach 40 px it would scan a 1.75x larger frame, three times the cost)."""
    from fomm_cli.face.dlib_backend import dlib_model, import_dlib

    import_dlib()
    cnn = dlib_model("cnn_face_detection_model_v1", "mmod_human_face_detector.dat")
    frame = np.ascontiguousarray(background(360, 640, seed=1))
    started = time.process_time()
    cnn(frame, 0)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1080p only, fewer frames")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    frames = 1 if args.quick else 3
    resolutions = {"1080p": RESOLUTIONS["1080p"]} if args.quick else RESOLUTIONS
    backend = DlibBackend()
    astronauts = list(astronaut_samples())
    people = list(lfw_samples())
    print(f"faces: {len(astronauts)} astronaut variants, {len(people)} LFW people (of 100; the others dlib misses "
          "even at 100 px: turned heads)")
    print("load average at the start: {:.1f} {:.1f} {:.1f} (times scale with it on a shared machine)\n".format(
        *os.getloadavg()))

    print("| frame | faces | method | " + " | ".join(f"{w} px" for w in WIDTHS) + " | false pos. / frame "
          "| CPU s / frame |")
    print("|---|---|---|" + "---|" * len(WIDTHS) + "---|---|")
    for label, size in resolutions.items():
        for pool_name, pool in (("astronaut", astronauts), ("LFW", people)):
            for method, detect in (("default", backend.detect), ("before", previous_default)):
                cells, false, times, count = [], 0, [], 0
                for w_index, width in enumerate(WIDTHS):
                    per_frame = 12 if pool_name == "LFW" else 8
                    found, placed, fp, spent = recall(detect, size, width, pool, frames, per_frame, seed=10 * w_index)
                    cells.append(f"{found / placed:.0%} ({found}/{placed})")
                    false, times, count = false + fp, times + spent, count + len(spent)
                print(f"| {label} | {pool_name} | {method} | " + " | ".join(cells)
                      + f" | {false / count:.2f} | {statistics.median(times):.2f} |", flush=True)

    print("\nvideo (three faces of 40, 60 and 100 px moving; full scan every 10 frames, tracked on the others):")
    for label, size in resolutions.items():
        per_frame, full, tracked, share = video_cost(size, 20 if args.quick else 30)
        print(f"  {label}: {1000 * per_frame:.0f} CPU ms per frame on average ({full} full scans, {tracked} tracked "
              f"frames), {share:.0%} of the faces found on the frames looked at", flush=True)

    print("\npaste-back of three overlapping 256 px face crops, per frame:")
    for label, size in RESOLUTIONS.items():
        ours, naive = composite_cost(size, 5 if args.quick else 20)
        print(f"  {label} photo: Compositor {ours:.1f} CPU ms, one full copy per face (as before) {naive:.1f} CPU ms")

    print(f"\nMMOD CNN detector, one 640 x 360 frame (faces from ~70 px): {mmod_seconds():.2f} CPU s")
    print("load average at the end: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
