"""Procedural training data: cartoon faces that turn, tilt, nod, blink, look around and talk.

Pure rendering with numpy + cv2 (no torch). A face is an ellipsoid seen by a fixed orthographic camera:
its surface colours live in a longitude/latitude "albedo map" (skin, pattern, hair, nose, and per frame
the eyes, brows and mouth), and each frame maps screen pixels back onto the rotated ellipsoid to look
the map up. Turning the head therefore shifts the features sideways and foreshortens the far side for
free. Ears, neck, shoulders and long hair are flat polygons drawn behind the head. Frames are drawn at
2-8x the output size and downscaled with ``cv2.INTER_AREA`` (anti-aliasing).

Everything is a pure function of integer seeds: an identity seed fixes the appearance (and background),
``(identity seed, clip)`` fixes the motion, so several clips of one identity share a look but move
differently. Frames are uint8 H x W x 3 RGB.

Modules: ``params`` (appearance and motion from seeds), ``drawing`` (surface maps and face parts),
``renderer`` (``FaceRenderer``, ``render_frame``, ``render_video``), ``dataset`` (``write_dataset``).
"""

from fomm_cli.synth.dataset import VideoSpec, dataset_videos, identity_seed, write_dataset
from fomm_cli.synth.params import Appearance, FaceParams, Motion, Pose
from fomm_cli.synth.renderer import FaceRenderer, render_frame, render_video

__all__ = ["Appearance", "FaceParams", "FaceRenderer", "Motion", "Pose", "VideoSpec", "dataset_videos",
           "identity_seed", "render_frame", "render_video", "write_dataset"]
