"""Faces: detection backends, crop boxes and tubes, best-frame search, paste-back, identity descriptors.

Face models (vox) only work on tight, aligned square crops; this package finds those crops.
Submodules are imported directly (``from fomm_cli.face.backends import get_backend``) so that
importing the package stays cheap: dlib, face-alignment and torch load only when a backend is built.

Conventions: images are uint8 H x W x 3 RGB numpy arrays; boxes are float ``[x1, y1, x2, y2]`` in
pixels of the image they were found in (x = column), or integer squares once a crop is decided.
"""

# Defaults shared by the library and the CLI flags (kept here, free of heavy imports, so that the CLI
# modules can show them in --help without importing numpy).

# Margin added on each side of the face box, as a fraction of its larger side: 0.5 makes the face half
# the crop, which frames head, hair and neck the way the VoxCeleb crops used to train face models do.
DEFAULT_INCREASE = 0.5
# Longest image side the detector sees; faces smaller than ~10% of it are missed.
DEFAULT_DETECT_SIZE = 640
# One second at 25 fps: shorter face tracks are usually detector flicker, not a usable clip.
DEFAULT_MIN_FRAMES = 25
# Side of the crops written by `fomm crop` (the size of the official face models).
DEFAULT_CROP_SIZE = 256
BACKEND_NAMES = ("auto", "face-alignment", "dlib")
