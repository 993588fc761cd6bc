"""Faces: detection backends, crop boxes and tubes, best-frame search, paste-back, identity descriptors.

Face models (vox) only work on tight, aligned square crops; this package finds those crops.
Submodules are imported directly (``from fomm_cli.face.backends import get_backend``) so that
importing the package stays cheap: dlib, face-alignment and torch load only when a backend is built.

- backends.py: the ``Face`` value, the backend protocol, ``get_backend`` (auto choice);
  dlib_backend.py, fan_backend.py: the two backends.
- crop.py: box math, square crop boxes, face tubes. scan.py: faces across video frames (full scans
  every few frames, tracking in between). clips.py: ``fomm crop``'s detection and frame writing.
- source.py: the source face and the driving video's face tube for ``fomm animate``; select.py: which
  faces of a photo to animate; composite.py: animated crops pasted back into the photo.
- best_frame.py, identity.py: pose matching and identity descriptors.

Conventions: images are uint8 H x W x 3 RGB numpy arrays; boxes are float ``[x1, y1, x2, y2]`` in
pixels of the image they were found in (x = column), or integer squares once a crop is decided.
"""

# Defaults shared by the library and the CLI flags (kept here, free of heavy imports, so that the CLI
# modules can show them in --help without importing numpy).

# Margin added on each side of the face box, as a fraction of its larger side: 0.5 makes the face half
# the crop, which frames head, hair and neck the way the VoxCeleb crops used to train face models do.
DEFAULT_INCREASE = 0.5
# Smallest face width (pixels of the input) the detectors look for: smaller finds smaller faces, slower.
DEFAULT_MIN_FACE = 40
# One second at 25 fps: shorter face tracks are usually detector flicker, not a usable clip.
DEFAULT_MIN_FRAMES = 25
# Side of the crops written by `fomm crop` (the size of the official face models).
DEFAULT_CROP_SIZE = 256
BACKEND_NAMES = ("auto", "face-alignment", "dlib")


# Which faces of the source ``fomm animate`` animates: "all", "largest" or a face number from 1, counted
# left to right (fomm_cli.face.select).
FaceChoice = str | int
FACE_CHOICE_EXPECTED = "all, largest or a face number counted left to right from 1"


def parse_face_choice(value: str | int) -> FaceChoice:
    """``"all"``, ``"largest"`` or a face number >= 1 (from ``"2"`` or ``2``); InvalidSetting("face") otherwise."""
    from fomm_cli.errors import InvalidSetting

    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("all", "largest"):
            return text
        if not text.isdigit():
            raise InvalidSetting("face", value, FACE_CHOICE_EXPECTED)
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidSetting("face", value, FACE_CHOICE_EXPECTED)
    return value
