"""Which faces of a photo to animate, and their square crops.

The ``face`` setting of ``fomm animate`` (``fomm_cli.face.parse_face_choice``): ``"all"`` (every face,
left to right), ``"largest"`` (the default), or a face number ``N`` counted left to right from 1 (by the
centre of each face's box, so the numbers match the order of ``"all"``). Each chosen face gets its own
square crop box, framed as for one face (``fomm_cli.face.crop.square_box``); boxes of neighbouring faces
may overlap, which the compositor (``fomm_cli.face.composite``) handles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fomm_cli.errors import InvalidSetting, NoFaceFound
from fomm_cli.face import DEFAULT_INCREASE, FaceChoice
from fomm_cli.face.backends import Face
from fomm_cli.face.crop import crop_and_resize, face_box, square_box


def left_to_right(faces: Sequence[Face]) -> list[Face]:
    """The faces ordered by the x of their box centre (then y), the order face numbers count in."""
    return sorted(faces, key=lambda f: (float(f.box[0] + f.box[2]), float(f.box[1] + f.box[3])))


def select_faces(faces: Sequence[Face], choice: FaceChoice, where: str = "the source image") -> list[Face]:
    """The faces ``choice`` names, left to right. NoFaceFound(where) when there is none; InvalidSetting
    ("face") when ``choice`` is a number larger than the number of faces."""
    if not faces:
        raise NoFaceFound(where)
    ordered = left_to_right(faces)
    if choice == "all":
        return ordered
    if choice == "largest":
        return [max(faces, key=lambda f: f.area)]
    if isinstance(choice, int) and not isinstance(choice, bool) and 1 <= choice <= len(ordered):
        return [ordered[choice - 1]]
    count = f"{len(ordered)} face" + ("s" if len(ordered) > 1 else "")
    raise InvalidSetting("face", choice, f"all, largest or a number from 1 to {len(ordered)} ({where} has {count})")


@dataclass(eq=False)  # numpy fields: compare values explicitly
class FaceCrop:
    """One chosen face: the detection, its int64 square crop box ``[x1, y1, x2, y2]`` (image pixels, inside
    the image), and the crop resized to the model's size (uint8 H x W x 3)."""

    face: Face
    box: np.ndarray
    crop: np.ndarray

    @property
    def centre(self) -> np.ndarray:
        """float32 (2,) ``(x, y)`` centre of the face box crops are framed on (not of the crop box, which is
        shifted inwards at image borders)."""
        box = face_box(self.face)
        return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)

    def summary(self) -> dict:
        """The JSON description: the crop box and the face's detection box, in image pixels."""
        return {"box": [int(v) for v in self.box], "face": [round(float(v), 1) for v in self.face.box]}


def crop_faces(
    image: np.ndarray,
    faces: Sequence[Face],
    choice: FaceChoice = "largest",
    size: int | tuple[int, int] = 256,
    increase: float = DEFAULT_INCREASE,
    where: str = "the source image",
) -> list[FaceCrop]:
    """The faces of ``image`` (uint8 H x W x 3; ``faces`` as a backend found them) that ``choice`` names, left
    to right, each with its square crop box and its crop resized to ``size`` (see :func:`select_faces`)."""
    crops = []
    for face in select_faces(faces, choice, where):
        box = square_box(face_box(face), image.shape, increase)
        crops.append(FaceCrop(face, box, crop_and_resize(image, box, size)))
    return crops


def describe_choice(found: int, choice: FaceChoice, where: str = "the source image") -> str:
    """A line for the user: how many faces were found and which are animated."""
    faces = f"{found} face" + ("s" if found != 1 else "")
    if found <= 1:
        return f"found {faces} in {where}"
    which = {"all": f"all {found}", "largest": "the largest"}.get(str(choice), f"face {choice} from the left")
    return f"found {faces} in {where}; animating {which}"
