"""Face backends on real photos (dlib), the automatic choice, and face-alignment with stand-in weight files."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from fomm_cli.errors import InvalidSetting, MissingDependency, ModelUnavailable
from fomm_cli.face import backends
from fomm_cli.face.backends import get_backend, host_reachable
from fomm_cli.face.crop import face_box, iou
from fomm_cli.face.dlib_backend import DlibBackend, dlib_model_path, load_hog_detector
from fomm_cli.face.fan_backend import decode_heatmaps, face_alignment_weight_paths, fan_crop_geometry, s3fd_scale
from fomm_cli.reporting import Reporter
from tests.face_scenes import ASTRONAUT_FACE, astronaut_samples, matches, scene


class Recorder(Reporter):
    """A reporter that keeps its notes (the base class keeps warnings)."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="module")
def dlib_backend() -> DlibBackend:
    return DlibBackend()


def on_canvas(image: np.ndarray, scale: float, tx: float, ty: float, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled by ``scale`` and moved by (tx, ty) on a plain canvas of ``size`` = (height, width)."""
    matrix = np.array([[scale, 0, tx], [0, scale, ty]], np.float64)
    return cv2.warpAffine(image, matrix, (size[1], size[0]), flags=cv2.INTER_AREA, borderValue=(40, 60, 90))


def test_dlib_model_files_are_found_without_importing_face_recognition_models() -> None:
    for name in ("shape_predictor_68_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"):
        path = dlib_model_path(name)
        assert path.is_file() and path.stat().st_size > 1_000_000
    with pytest.raises(MissingDependency, match="face-recognition-models"):
        dlib_model_path("no_such_model.dat")


def test_the_hog_detector_is_saved_once_and_loads_the_same(tmp_path: Path, astronaut: np.ndarray) -> None:
    import dlib

    built = load_hog_detector(tmp_path)
    (saved,) = tmp_path.iterdir()
    assert saved.name == f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    loaded = load_hog_detector(tmp_path)
    assert [str(r) for r in loaded(astronaut)] == [str(r) for r in built(astronaut)] != []
    saved.write_bytes(b"truncated")  # a damaged copy is replaced
    assert len(load_hog_detector(tmp_path)(astronaut)) == 1
    assert saved.stat().st_size > 100_000


def test_dlib_finds_the_astronaut_face_with_68_landmarks(astronaut: np.ndarray, dlib_backend: DlibBackend) -> None:
    faces = dlib_backend.detect(astronaut)
    assert len(faces) == 1  # the mission patch is not a face
    face = faces[0]
    assert face.box.dtype == np.float32 and face.box.shape == (4,)
    assert iou(face.box, ASTRONAUT_FACE) >= 0.7
    assert iou(face_box(face), ASTRONAUT_FACE) >= 0.7
    lm = face.landmarks
    assert lm is not None and lm.shape == (68, 2) and lm.dtype == np.float32
    eyes, mouth, jaw = lm[36:48], lm[48:68], lm[0:17]
    assert eyes[:, 1].mean() < mouth[:, 1].mean()  # right way up
    assert jaw[:, 0].min() < eyes[:, 0].min() and jaw[:, 0].max() > eyes[:, 0].max()
    assert (lm >= ASTRONAUT_FACE[:2] - 10).all() and (lm <= ASTRONAUT_FACE[2:] + 10).all()


def test_detection_at_any_scale_reports_input_pixels(astronaut: np.ndarray, dlib_backend: DlibBackend) -> None:
    fine = dlib_backend.detect(astronaut, min_face=30)[0]  # scanned at 2.3x
    coarse = dlib_backend.detect(astronaut, min_face=90)[0]  # scanned at 0.78x
    assert iou(fine.box, ASTRONAUT_FACE) >= 0.7 and iou(coarse.box, ASTRONAUT_FACE) >= 0.6
    assert np.abs(coarse.landmarks - fine.landmarks).mean() < 3.0


def test_small_faces_in_a_large_scene_are_found_without_settings(dlib_backend: DlibBackend) -> None:
    """Four real faces 40 to 200 px wide in a 1280 x 720 collage: all found, nothing else."""
    samples = astronaut_samples()
    layout = [(samples[0], 40, (120, 120)), (samples[1], 60, (420, 560)), (samples[2], 100, (700, 200)),
              (samples[3], 200, (1040, 440))]
    frame, truths = scene((720, 1280), layout)
    faces = dlib_backend.detect(frame)
    assert len(faces) == 4
    for truth in truths:
        assert sum(matches(face.box, truth) for face in faces) == 1
    # a larger minimum scans a smaller copy: faster, and the 40 px face is no longer looked for
    assert not any(matches(face.box, truths[0]) for face in dlib_backend.detect(frame, min_face=100))


def test_faces_follow_a_moved_and_zoomed_photo(astronaut: np.ndarray, dlib_backend: DlibBackend) -> None:
    for scale, tx, ty in [(0.8, 30, 100), (1.0, 200, -40), (1.3, -60, 20)]:
        frame = on_canvas(astronaut, scale, tx, ty, (480, 640))
        truth = ASTRONAUT_FACE * scale + np.array([tx, ty, tx, ty], np.float32)
        faces = dlib_backend.detect(frame)
        assert len(faces) == 1
        assert iou(face_box(faces[0]), truth) >= 0.7, (scale, tx, ty)


def test_two_people_largest_first_and_no_face_in_noise(astronaut: np.ndarray, dlib_backend: DlibBackend) -> None:
    head = astronaut[0:300, 100:350]
    smaller = cv2.resize(head, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    pair = np.zeros((300, 450, 3), np.uint8)
    pair[:240, :200] = smaller
    pair[:, 200:] = head
    faces = dlib_backend.detect(pair)
    assert len(faces) == 2
    assert faces[0].area > faces[1].area
    assert faces[0].box[0] > 200 > faces[1].box[2]  # the larger face is the right one
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert dlib_backend.detect(noise) == []
    with pytest.raises(ValueError, match="uint8"):
        dlib_backend.detect(noise.astype(np.float32))


def test_auto_without_cached_weights_depends_on_the_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no face-alignment weights cached here
    asked: list[str] = []

    def offline(host: str) -> bool:
        asked.append(host)
        return False

    monkeypatch.setattr(backends, "host_reachable", offline)
    reporter = Recorder()
    assert get_backend("auto", reporter=reporter).name == "dlib"
    assert asked == ["www.adrianbulat.com"]
    assert reporter.notes == ["face backend: dlib (face-alignment's weights are not cached and "
                              "www.adrianbulat.com cannot be reached)"]
    # online: face-alignment is started and downloads; a failed download falls back to dlib with a warning
    monkeypatch.setattr(backends, "host_reachable", lambda host: True)
    started: list[bool] = []

    def failing_download(device: str, allow_download: bool) -> None:
        started.append(allow_download)
        raise ModelUnavailable("face-alignment", "could not load it (URLError: timed out)", "put ...")

    monkeypatch.setattr("fomm_cli.face.fan_backend.FaceAlignmentBackend", failing_download)
    reporter = Recorder()
    assert get_backend("auto", reporter=reporter).name == "dlib"
    assert started == [True]
    assert reporter.warnings == ["face-alignment could not start (face-alignment: could not load it (URLError: "
                                 "timed out); put ...); using dlib"]
    assert reporter.notes == ["face backend: dlib (face-alignment could not start)"]


def test_backend_names_and_unusable_face_alignment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(InvalidSetting, match="face_backend must be auto, face-alignment or dlib, not 'openface'"):
        get_backend("openface")
    with pytest.raises(ModelUnavailable, match=r"not cached; put s3fd-.*\.pth and 2DFAN4-.*\.pth\.tar in .*hub"):
        get_backend("face-alignment", allow_download=False)
    # face-alignment 1.4 shipped TorchScript weights under other names: refused, and auto does not try it
    monkeypatch.setattr("importlib.metadata.version", lambda name: "1.4.1")
    with pytest.raises(MissingDependency, match=r"1\.5 or newer; 1\.4\.1 is installed.*pip install -U face-alignment"):
        get_backend("face-alignment", allow_download=False)
    reporter = Recorder()
    assert get_backend("auto", reporter=reporter).name == "dlib"
    assert "1.4.1 is installed" in reporter.notes[0]


def test_reachability_check_is_bounded() -> None:
    assert host_reachable("host.invalid", timeout=2.0) is False  # reserved name: never resolves


# ---------------------------------------------------------------------------------- face-alignment
#
# face-alignment 1.5 loads plain state dicts (torch.load, weights_only=True) named after their URLs in
# $TORCH_HOME/hub/checkpoints. The stand-ins below have the real architectures' keys and shapes, with
# every tensor a broadcast scalar (a few hundred kB on disk). Their values are chosen so the S3FD
# detector reports exactly one face: only its coarsest level (stride 128, 512 px anchors) says "face",
# and its box regression shrinks the anchor to 32 px and moves it to the centre of a 64 px image.


def _stand_in_state(module: object, overrides: dict) -> dict:
    import torch

    state = {}
    for key, value in module.state_dict().items():
        if key in overrides:
            state[key] = overrides[key]
        else:
            state[key] = torch.zeros((), dtype=value.dtype).expand(value.shape)
    return state


@pytest.fixture()
def face_alignment_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import torch
    from face_alignment.detection.sfd.net_s3fd import s3fd
    from face_alignment.models import FAN

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    detector_path, fan_path = face_alignment_weight_paths()
    detector_path.parent.mkdir(parents=True)
    with torch.device("meta"):  # shapes only, no memory
        detector, fan = s3fd(), FAN(4)
    background, face = torch.tensor([8.0, 0.0]), torch.tensor([0.0, 8.0])
    shrink = math.log(32 / 512) / 0.2  # S3FD decodes sizes as anchor * exp(0.2 * t)
    overrides = {f"{level}_mbox_conf.bias": background for level in ("conv4_3_norm", "conv5_3_norm", "fc7", "conv6_2")}
    overrides["conv3_3_norm_mbox_conf.bias"] = torch.tensor([8.0, 8.0, 8.0, 0.0])  # 3 background maxout channels
    overrides["conv7_2_mbox_conf.bias"] = face
    # anchor centre 64 -> 32: offsets are anchor * 0.1 * t
    overrides["conv7_2_mbox_loc.bias"] = torch.tensor([-32 / 51.2, -32 / 51.2, shrink, shrink])
    torch.save(_stand_in_state(detector, overrides), detector_path)
    torch.save(_stand_in_state(fan, {}), fan_path)
    return tmp_path


def test_auto_uses_face_alignment_when_its_weights_are_cached(
    face_alignment_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "host_reachable", lambda host: pytest.fail("cached weights need no network"))
    reporter = Recorder()
    backend = get_backend("auto", device="cpu", reporter=reporter)
    assert backend.name == "face-alignment"
    assert reporter.notes == ["face backend: face-alignment (its weights are cached)"]
    image = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    faces = backend.detect(image)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].box, [16, 16, 48, 48], atol=0.5)
    assert 0.99 < faces[0].score <= 1.0
    assert faces[0].landmarks.shape == (68, 2) and np.isfinite(faces[0].landmarks).all()


def test_unusable_face_alignment_weights(face_alignment_home: Path) -> None:
    face_alignment_weight_paths()[0].write_bytes(b"not a checkpoint")
    with pytest.raises(ModelUnavailable, match=r"face-alignment: could not load it \(.*\); put s3fd"):
        get_backend("face-alignment", allow_download=False)
    reporter = Recorder()
    assert get_backend("auto", reporter=reporter).name == "dlib"
    assert reporter.warnings[0].startswith("face-alignment could not start (face-alignment: could not load it")
    assert reporter.notes == ["face backend: dlib (face-alignment could not start)"]


def test_s3fd_scans_a_copy_where_the_smallest_face_is_20_px_and_never_below_640_px() -> None:
    assert s3fd_scale((1080, 1920), 40) == 0.5 and s3fd_scale((2160, 3840), 40) == 0.5
    assert s3fd_scale((1080, 1920), 80) == pytest.approx(640 / 1920)
    assert s3fd_scale((480, 640), 40) == 1.0 and s3fd_scale((256, 256), 10) == 1.0


def test_heatmap_decoding_inverts_face_alignments_crop_transform() -> None:
    """A heatmap peak placed where face-alignment's own transform maps an image point decodes back to it."""
    from face_alignment.utils import transform

    center, scale = fan_crop_geometry(np.array([100.0, 120.0, 228.0, 260.0]))
    points = np.array([[120.0, 150.0], [164.0, 190.0], [210.0, 240.0]])
    heatmaps = np.zeros((len(points), 64, 64), np.float32)
    for k, point in enumerate(points):
        x, y = (int(v) for v in transform(point, center, scale, 64))
        heatmaps[k, y, x] = 1.0
    decoded = decode_heatmaps(heatmaps, center, scale)
    pixel = 200.0 * scale / 64  # one heatmap cell in image pixels
    assert np.abs(decoded - points).max() <= 1.5 * pixel
