"""Still images: any common format in, uint8 RGB out; atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fomm_cli.errors import InputError, InputNotFound, InvalidSetting
from fomm_cli.fsutil import write_bytes_atomic


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Normalise a decoded image to uint8 H x W x 3 RGB.

    Grayscale is replicated, 16-bit is scaled to 8 bits (x / 257), alpha is composited over white.
    Input channel order is RGB(A).
    """
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported image sample type {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels in (1, 2):  # gray, gray + alpha
        image = np.concatenate([np.repeat(image[:, :, :1], 3, axis=2), image[:, :, 1:]], axis=2)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        image = (image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(image[:, :, :3])


def read_image(path: str | Path, what: str = "image") -> np.ndarray:
    """Read png/jpg/webp/... as uint8 H x W x 3 RGB. Raises ``InputNotFound`` (``what`` names the input) and
    ``InputError`` (not an image, or an unsupported sample type)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputNotFound(path, what)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(path, "not a valid image file")
    if image.ndim == 3:
        order = cv2.COLOR_BGRA2RGBA if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
        image = cv2.cvtColor(image, order)
    try:
        return to_rgb8(image)
    except ValueError as err:
        raise InputError(path, str(err)) from None


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write uint8 RGB to ``path`` (format from the extension) through a temporary sibling."""
    import cv2

    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InvalidSetting("output", str(path), "a file name with an image extension (.png, .jpg, .webp, ...)")
    write_bytes_atomic(path, encoded.tobytes())  # not ndarray.tofile: its errors lose the errno (no space)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize uint8 H x W x 3 to ``size`` = (height, width): area averaging down, cubic up."""
    import cv2

    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrinking = h < image.shape[0] or w < image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)


def fit(image: np.ndarray, size: tuple[int, int], mode: str = "crop") -> np.ndarray:
    """Bring an image to ``size`` (height, width) without distorting it unless asked.

    mode "crop": centre-crop to the target aspect ratio, then resize; "pad": letterbox with black;
    "stretch": plain resize.
    """
    h, w = image.shape[:2]
    th, tw = size
    if mode == "stretch" or h * tw == w * th:
        return resize(image, size)
    if mode == "crop":
        if w * th > h * tw:  # too wide
            cw = round(h * tw / th)
            x0 = (w - cw) // 2
            return resize(image[:, x0:x0 + cw], size)
        ch = round(w * th / tw)
        y0 = (h - ch) // 2
        return resize(image[y0:y0 + ch], size)
    if mode == "pad":
        scale = min(th / h, tw / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        out = np.zeros((th, tw, 3), np.uint8)
        y0, x0 = (th - nh) // 2, (tw - nw) // 2
        out[y0:y0 + nh, x0:x0 + nw] = resize(image, (nh, nw))
        return out
    raise InvalidSetting("fit", mode, "crop, pad or stretch")
