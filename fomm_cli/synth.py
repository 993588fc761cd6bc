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
"""

from __future__ import annotations

import colorsys
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from fomm_cli.errors import FommError, SettingsError
from fomm_cli.fsutil import replace_path, temp_dir_beside
from fomm_cli.progress import track

RGB = tuple[float, float, float]

_SHIFT = 4  # cv2 sub-pixel bits for polygon vertices
_ONE = 1 << _SHIFT
_AA = cv2.LINE_AA
_BLINK_HORIZON = 1 << 14  # blink events are scripted for this many frames, then repeat

_SPLIT_CODES = {"train": 0, "test": 1, "heldout": 2}  # low 2 bits of identity seeds: splits never collide


# --------------------------------------------------------------------------------------------- parameters
def _color(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (255.0 * r, 255.0 * g, 255.0 * b)


def _scale(c: RGB, k: float) -> RGB:
    return tuple(float(min(255.0, max(0.0, x * k))) for x in c)  # type: ignore[return-value]


def _mix(c0: RGB, c1: RGB, t: float) -> RGB:
    return tuple(float(a + (b - a) * t) for a, b in zip(c0, c1, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True)
class Appearance:
    """Everything about how an identity looks; angles are radians on the head sphere, sizes are relative.

    ``eye_lon``/``eye_lat`` place the eye centres (lon > 0 is the viewer's right), the head is an ellipse
    of half-width ``head_w`` and half-height ``head_h`` (in head radii, ``head_size`` of the frame height)
    whose lower half narrows (``taper`` < 0) or widens (> 0).
    """

    texture_seed: int
    head_size: float
    head_w: float
    head_h: float
    taper: float
    skin: RGB
    skin_pattern: str  # plain | stripes | spots | noise | freckles
    pattern_color: RGB
    pattern_scale: float
    outline: float  # outline thickness as a fraction of the head radius
    outline_color: RGB
    ears: str  # none | round | pointed
    ear_size: float
    ear_inner: RGB
    hair: str  # none | cap | bangs | spiky | side
    hair_long: bool
    hair_color: RGB
    hairline: float
    hair_volume: float
    eye_style: str  # round | dot
    eye_lon: float
    eye_lat: float
    eye_w: float
    eye_h: float
    iris_color: RGB
    iris_size: float
    brow_thickness: float
    brow_tilt: float
    brow_color: RGB
    nose: str  # none | dot | button | triangle
    nose_size: float
    mouth_lat: float
    mouth_w: float
    mouth_smile: float
    lip_color: RGB
    teeth: bool
    cheeks: bool
    cheek_color: RGB
    light: tuple[float, float, float]
    ambient: float
    shirt: RGB
    shirt_w: float
    background: str  # flat | linear | radial | stripes | checker | blobs | shapes
    bg_colors: tuple[RGB, RGB, RGB]

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Appearance:
        u = rng.uniform
        if u() < 0.6:  # natural skin tones, else cartoon colours
            skin = _color(u(0.03, 0.11), u(0.25, 0.6), u(0.45, 0.97))
        else:
            skin = _color(u(), u(0.25, 0.7), u(0.6, 0.95))
        if u() < 0.7:
            hair = _color(u(0.02, 0.12), u(0.3, 0.9), float(rng.choice([0.12, 0.3, 0.5, 0.8])))
        else:
            hair = _color(u(), u(0.5, 0.9), u(0.4, 0.9))
        eye_h = u(0.13, 0.22)
        eye_lat = u(0.02, 0.16)
        brow_top = eye_lat + eye_h + 0.3
        light = np.array([u(-0.7, 0.7), u(-0.8, 0.2), 1.0])
        bg_hue = u()
        bg = tuple(_color(bg_hue + u(-0.12, 0.12), u(0.05, 0.55), u(0.25, 0.95)) for _ in range(3))
        return cls(
            texture_seed=int(rng.integers(0, 2**31)),
            head_size=u(0.26, 0.32),
            head_w=u(0.82, 1.05),
            head_h=u(0.98, 1.22),
            taper=u(-0.28, 0.12),
            skin=skin,
            skin_pattern=str(rng.choice(["plain", "plain", "stripes", "spots", "noise", "freckles"])),
            pattern_color=_mix(skin, _color(u(), u(0.3, 0.9), u(0.1, 0.9)), u(0.35, 0.7)),
            pattern_scale=u(0.6, 1.6),
            outline=u(0.015, 0.045),
            outline_color=_scale(skin, u(0.15, 0.45)),
            ears=str(rng.choice(["none", "round", "round", "pointed"])),
            ear_size=u(0.8, 1.25),
            ear_inner=_mix(skin, (230.0, 120.0, 130.0), u(0.2, 0.6)),
            hair=str(rng.choice(["none", "cap", "bangs", "spiky", "side"], p=[0.15, 0.25, 0.25, 0.15, 0.2])),
            hair_long=bool(u() < 0.3),
            hair_color=hair,
            hairline=max(u(0.42, 0.75), brow_top + 0.08),
            hair_volume=u(1.04, 1.16),
            eye_style=str(rng.choice(["round", "round", "dot"])),
            eye_lon=u(0.3, 0.45),
            eye_lat=eye_lat,
            eye_w=u(0.15, 0.24),
            eye_h=eye_h,
            iris_color=_color(u(), u(0.3, 0.9), u(0.2, 0.7)),
            iris_size=u(0.45, 0.75),
            brow_thickness=u(0.025, 0.06),
            brow_tilt=u(-0.12, 0.12),
            brow_color=_scale(hair, 0.8) if u() < 0.7 else _scale(skin, 0.4),
            nose=str(rng.choice(["none", "dot", "button", "triangle"], p=[0.1, 0.3, 0.3, 0.3])),
            nose_size=u(0.05, 0.1),
            mouth_lat=u(-0.6, -0.42),
            mouth_w=u(0.26, 0.42),
            mouth_smile=u(-0.15, 0.5),
            lip_color=_mix(_scale(skin, 0.55), (150.0, 30.0, 40.0), u(0.2, 0.8)),
            teeth=bool(u() < 0.6),
            cheeks=bool(u() < 0.4),
            cheek_color=_mix(skin, (240.0, 110.0, 120.0), u(0.25, 0.5)),
            light=tuple(float(x) for x in light / np.linalg.norm(light)),  # type: ignore[arg-type]
            ambient=u(0.45, 0.7),
            shirt=_color(u(), u(0.2, 0.8), u(0.2, 0.9)),
            shirt_w=u(0.32, 0.48),
            background=str(rng.choice(["flat", "linear", "radial", "stripes", "checker", "blobs", "shapes"])),
            bg_colors=bg,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Pose:
    """The state of a face at one instant: head rotation (radians), offset (fraction of the frame), scale,
    and the parts: ``blink`` 0 open .. 1 closed, ``mouth`` 0 closed .. 1 wide open, ``gaze`` in [-1, 1]^2,
    ``brow`` 0 low .. 1 raised."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
    scale: float = 1.0
    blink: float = 0.0
    mouth: float = 0.0
    gaze: tuple[float, float] = (0.0, 0.0)
    brow: float = 0.5


# Smooth channels: (name, amplitude limit, shortest period, longest period) with periods in frames.
_CHANNELS = (
    ("yaw", 0.7, 30.0, 80.0),
    ("pitch", 0.22, 30.0, 80.0),
    ("roll", 0.3, 30.0, 80.0),
    ("dx", 0.06, 40.0, 110.0),
    ("dy", 0.04, 40.0, 110.0),
    ("scale", 0.08, 50.0, 120.0),
    ("gaze_x", 1.0, 24.0, 70.0),
    ("gaze_y", 0.8, 24.0, 70.0),
    ("brow", 1.0, 20.0, 60.0),
)


@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class Motion:
    """A motion script: every channel is a sum of two sinusoids (smooth, bounded), blinks are scripted
    events, the mouth follows a talking rhythm (syllables inside on/off phrases)."""

    periods: np.ndarray  # (channels, 2) frames
    phases: np.ndarray  # (channels, 2)
    weights: np.ndarray  # (channels, 2), rows sum to at most the channel limit
    blink_times: np.ndarray  # (events,) frame of full closure
    blink_lengths: np.ndarray  # (events,) frames from open to open
    talk: tuple[float, ...]  # phrase period, phrase phase, syllable period, syllable phase, jitter p, jitter ph
    mouth_gain: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Motion:
        n = len(_CHANNELS)
        lo = np.array([c[2] for c in _CHANNELS])[:, None]
        hi = np.array([c[3] for c in _CHANNELS])[:, None]
        limit = np.array([c[1] for c in _CHANNELS])[:, None]
        periods = lo + (hi - lo) * rng.random((n, 2))
        phases = rng.uniform(0, 2 * np.pi, (n, 2))
        weights = rng.dirichlet([2.0, 2.0], n) * limit * rng.uniform(0.6, 1.0, (n, 1))
        gaps = rng.uniform(16, 60, _BLINK_HORIZON // 16)
        times = rng.uniform(3, 20) + np.concatenate([[0.0], np.cumsum(gaps)])
        times = times[times < _BLINK_HORIZON - 10]
        talk = (rng.uniform(40, 110), rng.uniform(0, 2 * np.pi), rng.uniform(9, 18), rng.uniform(0, 2 * np.pi),
                rng.uniform(23, 51), rng.uniform(0, 2 * np.pi))
        return cls(periods, phases, weights, times, rng.uniform(4, 8, len(times)), talk, rng.uniform(0.7, 1.0))

    def pose(self, t: float) -> Pose:
        """The pose at frame ``t`` (any real number; smooth in t)."""
        v = (self.weights * np.sin(2 * np.pi * t / self.periods + self.phases)).sum(axis=1)
        tb = t % _BLINK_HORIZON
        s = (tb - self.blink_times) / self.blink_lengths + 0.5  # 0..1 across one blink
        inside = (s > 0) & (s < 1)
        blink = float(np.sin(np.pi * s[inside]).max() ** 0.6) if inside.any() else 0.0
        pe, phe, ps, phs, pj, phj = self.talk
        phrase = float(np.clip(0.55 + 0.7 * np.sin(2 * np.pi * t / pe + phe), 0.0, 1.0))
        syllable = 0.5 - 0.5 * np.cos(2 * np.pi * t / ps + phs + 0.6 * np.sin(2 * np.pi * t / pj + phj))
        return Pose(yaw=float(v[0]), pitch=float(v[1]), roll=float(v[2]), dx=float(v[3]), dy=float(v[4]),
                    scale=float(np.exp(v[5])), blink=blink, mouth=float(self.mouth_gain * phrase * syllable),
                    gaze=(float(v[6]), float(v[7])), brow=float(0.5 + 0.5 * v[8]))


@dataclass(frozen=True)
class FaceParams:
    """One video's parameters: an identity's appearance and one clip's motion."""

    appearance: Appearance
    motion: Motion

    @classmethod
    def from_seed(cls, seed: int, clip: int = 0) -> FaceParams:
        """Appearance from ``seed`` alone, motion from ``(seed, clip)``."""
        if seed < 0 or clip < 0:
            raise SettingsError(f"seeds and clip numbers must be >= 0, got seed={seed} clip={clip}")
        return cls(Appearance.sample(np.random.default_rng([seed, 0])),
                   Motion.sample(np.random.default_rng([seed, 1, clip])))


# ------------------------------------------------------------------------------------------------ drawing
def _pts(xy: np.ndarray) -> np.ndarray:
    """Float pixel coordinates (N, 2) -> cv2 fixed-point vertices (shift = _SHIFT)."""
    return np.round(np.asarray(xy) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def _ipt(x: float, y: float) -> tuple[int, int]:
    return (round(x * _ONE), round(y * _ONE))


def _ppr(surface_map: np.ndarray) -> float:
    """Pixels per radian of a longitude/latitude map: longitude [-pi, pi) left to right, latitude pi/2 (top)
    to -pi/2 (bottom), twice as wide as high."""
    return surface_map.shape[1] / (2 * np.pi)


def _to_map(lon: float | np.ndarray, lat: float | np.ndarray, ppr: float) -> tuple:
    return (lon + np.pi) * ppr, (np.pi / 2 - lat) * ppr


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, int]) -> np.ndarray:
    """Smooth value noise in [0, 1], float32 (h, w)."""
    n = cv2.resize(rng.random(cells).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    return (n - n.min()) / max(float(n.max() - n.min()), 1e-6)


def _paint(base: RGB, layers: list[tuple[RGB, np.ndarray]], shape: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3): colour ``base``, moved towards each layer's colour by its weight map (H, W) in [0, 1].

    Per-channel 2D maths, because numpy is slow at broadcasting over a last axis of 3."""
    planes = []
    for i in range(3):
        x = np.full(shape, base[i], np.float32)
        for color, t in layers:
            x += (color[i] - x) * t
        planes.append(np.clip(x + 0.5, 0, 255).astype(np.uint8))
    return cv2.merge(planes)


def _background(app: Appearance, res: int, rng: np.random.Generator) -> np.ndarray:
    """The static backdrop, uint8 (res, res, 3)."""
    c0, c1, c2 = app.bg_colors
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32) / res
    ang = rng.uniform(0, np.pi)
    along = (xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang)
    kind = app.background
    if kind == "flat":
        t = np.zeros_like(xx)
    elif kind in ("linear", "shapes"):
        t = np.clip(along + 0.5, 0, 1)
    elif kind == "radial":
        t = np.clip(np.hypot(xx - rng.uniform(0.2, 0.8), yy - rng.uniform(0.1, 0.6)) / 0.8, 0, 1)
    elif kind == "stripes":
        t = (np.sin(2 * np.pi * along * rng.uniform(3, 9)) > 0).astype(np.float32) * 0.8
    elif kind == "checker":
        across = (xx - 0.5) * -np.sin(ang) + (yy - 0.5) * np.cos(ang)
        n = rng.uniform(3, 8)
        t = ((np.floor(along * n) + np.floor(across * n)) % 2) * 0.7
    else:  # blobs
        t = _smooth_noise(rng, res, res, (5, 5))
    layers = [(c1, t.astype(np.float32))]
    if kind == "blobs":
        layers.append((c2, (_smooth_noise(rng, res, res, (4, 4)) > 0.6) * np.float32(0.6)))
    img = _paint(c0, layers, (res, res))
    if kind == "shapes":
        for _ in range(int(rng.integers(5, 14))):
            col = tuple(float(x) for x in np.clip(np.array(c2) * rng.uniform(0.6, 1.4) + rng.normal(0, 25, 3), 0, 255))
            x, y, r = [*rng.uniform(0, res, 2).tolist(), rng.uniform(0.04, 0.16) * res]
            if rng.random() < 0.5:
                cv2.circle(img, _ipt(x, y), round(r * _ONE), col, -1, _AA, _SHIFT)
            else:
                rect = cv2.boxPoints(((x, y), (2 * r, rng.uniform(0.5, 2) * r), rng.uniform(0, 90)))
                cv2.fillPoly(img, [_pts(rect)], col, _AA, _SHIFT)
    return img


def _hairline(app: Appearance, lon: np.ndarray) -> np.ndarray:
    """Latitude above which the scalp is hair, per longitude (front hairline high, back low)."""
    back = (1 - np.cos(lon)) / 2
    h = app.hairline - (app.hairline + 0.45) * back**0.7
    front = np.exp(-((lon / 0.9) ** 2))
    if app.hair == "bangs":
        h = h - 0.16 * front * (1 - 0.6 * np.abs(np.sin(5 * lon)))
    elif app.hair == "spiky":
        h = h + 0.1 * (2 * np.abs((lon * 8 / np.pi) % 2 - 1) - 1)
    elif app.hair == "side":
        h = h + 0.22 * np.tanh(3 * lon + 0.5) * np.exp(-((lon / 1.3) ** 2))
    front_limit = app.eye_lat + app.eye_h + 0.2  # keep the eyes and brows visible
    return np.where(np.abs(lon) < 0.9, np.maximum(h, front_limit), h)


def _head_maps(app: Appearance, rng: np.random.Generator, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Static longitude/latitude maps ``w`` pixels wide: albedo uint8 (H, W, 3), hair colour uint8 (H, W, 3)
    and the mask of the outer hair shell float32 (H, W) in [0, 1]."""
    h, ppr = w // 2, w / (2 * np.pi)
    lon = (np.arange(w, dtype=np.float32) + 0.5) / ppr - np.pi
    lat = np.pi / 2 - (np.arange(h, dtype=np.float32) + 0.5) / ppr
    k = app.pattern_scale
    layers: list[tuple[RGB, np.ndarray]] = []
    if app.skin_pattern == "stripes":
        wob = 0.25 * np.sin(3 * lat[:, None] + rng.uniform(0, 6))
        if rng.random() < 0.5:  # vertical tiger stripes or horizontal bands
            t = np.sin(7 * k * (lon[None, :] + wob)) > 0.35
        else:
            t = np.sin(9 * k * (lat[:, None] + 0.5 * wob)) > 0.45
        layers.append((app.pattern_color, t.astype(np.float32)))
    elif app.skin_pattern == "noise":
        layers.append((app.pattern_color, 0.8 * _smooth_noise(rng, h, w, (int(6 * k) + 2, int(12 * k) + 2))))
    albedo = _paint(app.skin, layers, (h, w))
    pc = app.pattern_color
    if app.skin_pattern == "spots":
        for _ in range(int(rng.integers(12, 30))):
            x, y = _to_map(rng.uniform(-np.pi, np.pi), rng.uniform(-1.1, 1.3), ppr)
            r = rng.uniform(0.05, 0.14) * k * ppr
            cv2.ellipse(albedo, _ipt(x, y), _ipt(r, r * rng.uniform(0.6, 1)), rng.uniform(0, 180), 0, 360, pc,
                        -1, _AA, _SHIFT)
    elif app.skin_pattern == "freckles":
        for _ in range(int(rng.integers(14, 30))):
            side = rng.choice([-1, 1])
            x, y = _to_map(side * rng.uniform(0.15, 0.65), app.eye_lat - app.eye_h - rng.uniform(0.05, 0.3),
                           ppr)
            cv2.circle(albedo, _ipt(x, y), round(rng.uniform(0.012, 0.025) * ppr * _ONE), pc, -1,
                       _AA, _SHIFT)
    if app.cheeks:
        for side in (-1, 1):
            x, y = _to_map(side * (app.eye_lon + 0.08), app.eye_lat - app.eye_h - 0.2, ppr)
            r = 0.11 * ppr
            cv2.ellipse(albedo, _ipt(x, y), _ipt(r, 0.7 * r), 0, 0, 360, app.cheek_color, -1, _AA, _SHIFT)
    _draw_nose(albedo, app)

    # Hair: a streaky texture, pasted where latitude is above the hairline.
    streaks = _smooth_noise(rng, h // 4, w // 4, (3, 96))  # smooth, so a quarter-size texture is upscaled
    hair_rgb = _paint(_scale(app.hair_color, 0.75), [(_scale(app.hair_color, 1.15), streaks)], (h // 4, w // 4))
    hair_rgb = cv2.resize(hair_rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    shell = np.zeros((h, w), np.float32)
    if app.hair != "none":
        line = _hairline(app, lon)
        on_head = lat[:, None] > line[None, :]
        cv2.copyTo(hair_rgb, on_head.astype(np.uint8), albedo)
        x, y = _to_map(lon, line, ppr)
        cv2.polylines(albedo, [_pts(np.stack([x, y], 1))], False, _scale(app.hair_color, 0.55),
                      round(0.02 * ppr), _AA, _SHIFT)
        shell_line = line + 0.04
        if app.hair_long:  # hair falls down the sides of the head
            shell_line = np.where(np.abs(lon) > 1.15, np.minimum(shell_line, -0.9), shell_line)
        shell = (lat[:, None] > shell_line[None, :]).astype(np.float32)
    return albedo, hair_rgb, shell


def _draw_nose(img: np.ndarray, app: Appearance) -> None:
    ppr = _ppr(img)
    x, y = _to_map(0.0, (app.eye_lat + app.mouth_lat) / 2 - 0.02, ppr)
    r = app.nose_size * ppr
    dark = _scale(app.skin, 0.62)
    t = max(2, round(0.25 * r))
    if app.nose == "dot":
        cv2.ellipse(img, _ipt(x, y), _ipt(0.7 * r, 0.5 * r), 0, 0, 360, dark, -1, _AA, _SHIFT)
    elif app.nose == "button":
        cv2.ellipse(img, _ipt(x, y), _ipt(r, 0.8 * r), 0, 0, 360, _scale(app.skin, 1.12), -1, _AA, _SHIFT)
        cv2.ellipse(img, _ipt(x, y), _ipt(r, 0.8 * r), 0, 0, 360, dark, t, _AA, _SHIFT)
        cv2.circle(img, _ipt(x - 0.3 * r, y - 0.3 * r), round(0.22 * r * _ONE), (255, 255, 255), -1, _AA, _SHIFT)
    elif app.nose == "triangle":
        tri = np.array([[x, y - 1.4 * r], [x - 0.8 * r, y + 0.6 * r], [x + 0.8 * r, y + 0.6 * r]])
        cv2.polylines(img, [_pts(tri)], False, dark, t, _AA, _SHIFT)


def _paste(img: np.ndarray, x0: int, y0: int, patch: np.ndarray, alpha: np.ndarray) -> None:
    """Alpha-blend ``patch`` (h, w, 3) into ``img`` at (x0, y0) with ``alpha`` uint8 (h, w), clipped."""
    h, w = alpha.shape
    ys, xs = slice(max(y0, 0), min(y0 + h, img.shape[0])), slice(max(x0, 0), min(x0 + w, img.shape[1]))
    if ys.stop <= ys.start or xs.stop <= xs.start:
        return
    py, px = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
    a = alpha[py, px, None].astype(np.float32) / 255.0
    dst = img[ys, xs]
    dst[:] = (dst * (1 - a) + patch[py, px] * a + 0.5).astype(np.uint8)


def _draw_eye(img: np.ndarray, app: Appearance, pose: Pose, side: int) -> None:
    """One eye in the albedo map: sclera (or a dark dot), iris and pupil following the gaze, and eyelids
    closing with ``pose.blink``; everything clipped to the eye outline."""
    ppr = _ppr(img)
    cx, cy = _to_map(side * app.eye_lon, app.eye_lat, ppr)
    ew, eh = app.eye_w * ppr, app.eye_h * ppr
    pad = 4
    x0, y0 = int(cx - ew) - pad, int(cy - eh) - pad
    pw, ph = int(2 * ew) + 2 * pad + 2, int(2 * eh) + 2 * pad + 2
    lx, ly = cx - x0, cy - y0  # eye centre in patch coordinates
    dot = app.eye_style == "dot"
    patch = np.empty((ph, pw, 3), np.uint8)
    patch[:] = (30, 25, 30) if dot else (250, 250, 246)
    gx, gy = pose.gaze
    r = app.iris_size * min(ew, eh)
    ix, iy = lx + 0.55 * gx * (ew - 0.6 * r), ly + 0.45 * gy * (eh - 0.6 * r)
    if not dot:
        cv2.circle(patch, _ipt(ix, iy), round(r * _ONE), app.iris_color, -1, _AA, _SHIFT)
        cv2.circle(patch, _ipt(ix, iy), round(0.5 * r * _ONE), (15, 15, 20), -1, _AA, _SHIFT)
    hl = 0.28 * r if not dot else 0.22 * min(ew, eh)
    hx, hy = (ix - 0.35 * r, iy - 0.35 * r) if not dot else (lx - 0.3 * ew, ly - 0.35 * eh)
    cv2.circle(patch, _ipt(hx, hy), round(hl * _ONE), (255, 255, 255), -1, _AA, _SHIFT)
    # Eyelids: the upper one covers 60 % of the height when closed, the lower one the rest.
    top, bottom = ly - eh, ly + eh
    upper = top + pose.blink * 1.2 * eh
    lower = bottom - pose.blink * 0.8 * eh
    lid = _scale(app.skin, 0.85)
    rows = np.arange(ph, dtype=np.float32)[:, None, None] + 0.5
    cover = np.clip(upper - rows + 0.5, 0, 1) + np.clip(rows - lower + 0.5, 0, 1)
    patch = (patch * (1 - np.minimum(cover, 1)) + np.array(lid, np.float32) * np.minimum(cover, 1)).astype(np.uint8)
    mask = np.zeros((ph, pw), np.uint8)
    cv2.ellipse(mask, _ipt(lx, ly), _ipt(ew, eh), 0, 0, 360, 255, -1, _AA, _SHIFT)
    _paste(img, x0, y0, patch, mask)
    line = _scale(app.outline_color, 0.8)
    thick = max(2, round(0.03 * ppr))
    cv2.ellipse(img, _ipt(cx, cy), _ipt(ew, eh), 0, 0, 360, line, thick, _AA, _SHIFT)
    if pose.blink > 0.05:  # lash line along the edge of the upper lid
        ly_img = cy - eh + pose.blink * 1.2 * eh
        half = ew * np.sqrt(max(0.0, 1 - ((ly_img - cy) / eh) ** 2))
        cv2.line(img, _ipt(cx - half, ly_img), _ipt(cx + half, ly_img), line, thick + 1, _AA, _SHIFT)


def _draw_brow(img: np.ndarray, app: Appearance, pose: Pose, side: int) -> None:
    ppr = _ppr(img)
    cx, _ = _to_map(side * app.eye_lon, 0.0, ppr)
    lat = app.eye_lat + app.eye_h + 0.08 + 0.1 * pose.brow
    _, cy = _to_map(0.0, lat, ppr)
    s = np.linspace(-1, 1, 9)
    half = 1.2 * app.eye_w * ppr
    x = cx + s * half
    # inner end (towards the nose) tilted by brow_tilt, a gentle arch on top
    y = cy - (1 - s**2) * 0.06 * ppr - (-side * s) * app.brow_tilt * ppr
    cv2.polylines(img, [_pts(np.stack([x, y], 1))], False, app.brow_color,
                  max(2, round(app.brow_thickness * ppr)), _AA, _SHIFT)


def _draw_mouth(img: np.ndarray, app: Appearance, pose: Pose) -> None:
    """Lips as two curves; the opening between them (dark, with teeth and tongue) grows with pose.mouth."""
    ppr = _ppr(img)
    cx, cy = _to_map(0.0, app.mouth_lat, ppr)
    mw = app.mouth_w * ppr
    s = np.linspace(-1, 1, 25)
    x = cx + s * mw
    upper = cy + app.mouth_smile * 0.35 * mw * (1 - s**2) - app.mouth_smile * 0.1 * mw
    lower = upper + pose.mouth * 1.5 * mw * (1 - s**2) ** 0.6
    lip_t = max(3, round(0.035 * ppr))
    if pose.mouth > 0.02:
        pad = 4
        x0, y0 = int(cx - mw) - pad, int(upper.min()) - pad
        pw, ph = int(2 * mw) + 2 * pad + 2, int(lower.max() - upper.min()) + 2 * pad + 2
        patch = np.empty((ph, pw, 3), np.uint8)
        patch[:] = (70, 15, 25)
        if app.teeth:
            cv2.rectangle(patch, (0, 0), (pw, round(upper.max() - y0 + 0.12 * mw)), (245, 245, 240), -1)
        cv2.ellipse(patch, _ipt(cx - x0, lower.max() - y0), _ipt(0.55 * mw, 0.35 * mw), 0, 0, 360,
                    (215, 90, 100), -1, _AA, _SHIFT)
        mask = np.zeros((ph, pw), np.uint8)
        poly = np.concatenate([np.stack([x, upper], 1), np.stack([x, lower], 1)[::-1]]) - (x0, y0)
        cv2.fillPoly(mask, [_pts(poly)], 255, _AA, _SHIFT)
        _paste(img, x0, y0, patch, mask)
    for curve in (upper, lower):
        cv2.polylines(img, [_pts(np.stack([x, curve], 1))], False, app.lip_color, lip_t, _AA, _SHIFT)


# ----------------------------------------------------------------------------------------------- renderer
def _lookup(image: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at (mx, my) (N,), wrapping around: (N, C) float32. cv2.remap wants 2D
    maps under 32k a side, so the points are laid out in rows of 256."""
    n = len(mx)
    if n == 0:
        return np.zeros((0, 1 if image.ndim == 2 else image.shape[2]), np.float32)
    rows = -(-n // 256)
    maps = np.zeros((2, rows * 256), np.float32)
    maps[0, :n], maps[1, :n] = mx, my
    out = cv2.remap(image, maps[0].reshape(rows, 256), maps[1].reshape(rows, 256), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_WRAP)
    return out.reshape(rows * 256, -1)[:n].astype(np.float32)


def _rot(yaw: float, pitch: float) -> np.ndarray:
    """Head frame -> camera frame (x right, y down, z towards the viewer): pitch after yaw."""
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    return rx @ ry


def _check_size(size: int) -> None:
    if not 16 <= size <= 2048:
        raise SettingsError(f"size must be between 16 and 2048 pixels, got {size}")


class FaceRenderer:
    """Renders one appearance at one output size; the background and static maps are built once."""

    def __init__(self, appearance: Appearance, size: int) -> None:
        _check_size(size)
        self.appearance = appearance
        self.size = size
        self.res = size * max(2, -(-192 // size))  # supersampled canvas, at least 192 px
        rng = np.random.default_rng(appearance.texture_seed)
        # Map resolution about matches the canvas: ~80 px per radian up to a 256 px canvas.
        self._albedo, self._hair_rgb, self._shell = _head_maps(appearance, rng, 512 if self.res <= 256 else 1024)
        self._background = _background(appearance, self.res, rng)

    # geometry ------------------------------------------------------------------------------------------
    def _frame(self, pose: Pose) -> tuple[float, float, float, float, float]:
        """Head centre (px), head radius (px), cos/sin of the roll."""
        res, app = self.res, self.appearance
        return (res * (0.5 + pose.dx), res * (0.45 + pose.dy), app.head_size * res * pose.scale,
                float(np.cos(pose.roll)), float(np.sin(pose.roll)))

    def _local_to_screen(self, xy: np.ndarray, pose: Pose) -> np.ndarray:
        """Head-plane points (N, 2) in head radii (y down, before the taper) -> canvas pixels (N, 2)."""
        cx, cy, s, c, sn = self._frame(pose)
        x = xy[:, 0] * (1 + self.appearance.taper * xy[:, 1] / self.appearance.head_h)
        y = xy[:, 1]
        return np.stack([cx + s * (c * x - sn * y), cy + s * (sn * x + c * y)], 1)

    def _head_to_screen(self, pts: np.ndarray, pose: Pose) -> np.ndarray:
        """3D points (N, 3) in the head frame (unit sphere, y down) -> canvas pixels (N, 2)."""
        cam = pts @ _rot(pose.yaw, pose.pitch).T
        app = self.appearance
        return self._local_to_screen(cam[:, :2] * (app.head_w, app.head_h), pose)

    # parts ---------------------------------------------------------------------------------------------
    def _draw_body(self, img: np.ndarray, pose: Pose) -> None:
        app, res = self.appearance, self.res
        # Shoulders follow the head's translation halfway; the neck joins head and shoulders.
        sx, sy = res * (0.5 + 0.5 * pose.dx), res * (0.45 + 0.3 * pose.dy) + app.head_size * res * 1.05 * 1.9
        neck_top = self._local_to_screen(np.array([[-0.38 * app.head_w, 0.3], [0.38 * app.head_w, 0.3]]), pose)
        nw = 0.36 * app.head_w * app.head_size * res
        neck = np.array([neck_top[0], neck_top[1], [sx + nw, sy], [sx - nw, sy]])
        cv2.fillPoly(img, [_pts(neck)], _scale(app.skin, 0.75), _AA, _SHIFT)
        cv2.ellipse(img, _ipt(sx, sy + 0.2 * res), _ipt(app.shirt_w * res, 0.35 * res), 0, 0, 360, app.shirt,
                    -1, _AA, _SHIFT)
        cv2.ellipse(img, _ipt(sx, sy - 0.02 * res), _ipt(nw * 1.15, 0.05 * res), 0, 0, 180,
                    _scale(app.skin, 0.75), -1, _AA, _SHIFT)
        if app.hair_long:
            t = np.linspace(0, np.pi, 24)
            arc = np.stack([1.25 * app.head_w * np.cos(t), -1.05 * app.head_h * np.sin(t)], 1)
            hem = np.stack([-1.3 * app.head_w * np.cos(t), 1.2 + 0.25 * np.sin(t)], 1)
            drape = np.concatenate([arc, hem])
            cv2.fillPoly(img, [_pts(self._local_to_screen(drape, pose))], _scale(app.hair_color, 0.8), _AA,
                         _SHIFT)

    def _draw_ears(self, img: np.ndarray, pose: Pose) -> None:
        app = self.appearance
        k = app.ear_size
        thick = max(1, round(app.outline * self._frame(pose)[2] * 0.7))
        for side in (-1, 1):
            if app.ears == "round":
                t = np.linspace(0, 2 * np.pi, 32, endpoint=False)
                ew, eh = 0.2 * k, 0.28 * k
                y0 = -np.sin(app.eye_lat - 0.1)
                outer = np.stack([side * (0.85 + ew * (1 + np.cos(t))), y0 + eh * np.sin(t), np.full_like(t, -0.05)],
                                 1)
                inner = np.stack([side * (0.88 + 0.55 * ew * (1 + np.cos(t))), y0 + 0.6 * eh * np.sin(t),
                                  np.full_like(t, -0.05)], 1)
            elif app.ears == "pointed":
                lon_c, lat_c, half = side * 0.6, 0.72, 0.38 * k

                def sph(lon: np.ndarray, lat: np.ndarray, rad: np.ndarray) -> np.ndarray:
                    unit = np.stack([np.sin(lon) * np.cos(lat), -np.sin(lat), np.cos(lon) * np.cos(lat)], 1)
                    return unit * rad[:, None]

                lon = np.array([lon_c - half, lon_c + 0.15 * side, lon_c + half])
                lat = np.array([lat_c - 0.1, lat_c + 0.5 * k, lat_c - 0.1])
                outer = sph(lon, lat, np.array([0.95, 1.0 + 0.8 * k, 0.95]))
                lon_i = lon_c + (lon - lon_c) * 0.55
                inner = sph(lon_i, lat - np.array([0.0, 0.12, 0.0]), np.array([0.98, 1.0 + 0.5 * k, 0.98]))
            else:
                return
            o, i = self._head_to_screen(outer, pose), self._head_to_screen(inner, pose)
            cv2.fillPoly(img, [_pts(o)], app.skin, _AA, _SHIFT)
            cv2.fillPoly(img, [_pts(i)], app.ear_inner, _AA, _SHIFT)
            cv2.polylines(img, [_pts(o)], True, app.outline_color, thick, _AA, _SHIFT)

    def _draw_head(self, img: np.ndarray, face: np.ndarray, pose: Pose) -> None:
        """Map each canvas pixel near the head back onto the rotated ellipsoid (and the hair shell around it),
        look up the albedo, shade with a fixed light and draw an outline around the union."""
        app, res = self.appearance, self.res
        cx, cy, s, c, sn = self._frame(pose)
        ext = s * max(app.head_w, app.head_h) * app.hair_volume * (1 + abs(app.taper)) + 3
        x0, x1 = max(0, int(cx - ext)), min(res, int(cx + ext) + 1)
        y0, y1 = max(0, int(cy - ext)), min(res, int(cy + ext) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        dx = (np.arange(x0, x1, dtype=np.float32) - cx)[None, :]
        dy = (np.arange(y0, y1, dtype=np.float32) - cy)[:, None]
        ly = (-sn * dx + c * dy) / s
        lx = (c * dx + sn * dy) / s / (1 + app.taper * ly / app.head_h)
        u, v = (lx / app.head_w).ravel(), (ly / app.head_h).ravel()
        r2 = u * u + v * v
        m = _rot(pose.yaw, pose.pitch).tolist()  # python floats keep the pixel maths in float32
        lx_, ly_, lz_ = app.light
        ppr = _ppr(face)
        # Work on flat lists of the pixels that need it: canvas pixel index of every box pixel.
        flat = img.reshape(-1, 3)
        gidx = (np.arange(y0, y1)[:, None] * res + np.arange(x0, x1)[None, :]).ravel()

        def lambert(uu: np.ndarray, vv: np.ndarray) -> np.ndarray:
            """Shading (N, 1) of a sphere point seen at (uu, vv) (camera frame, unit radius)."""
            ww = np.sqrt(np.clip(1 - uu * uu - vv * vv, 0, 1))
            return (app.ambient + (1 - app.ambient) * np.clip(uu * lx_ + vv * ly_ + ww * lz_, 0, 1))[:, None]

        def surface(sel: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            """Albedo-map coordinates (N,) and shading (N, 1) of pixels ``sel`` on the sphere scaled by k."""
            uu, vv = u[sel] / k, v[sel] / k
            ww = np.sqrt(np.clip(1 - uu * uu - vv * vv, 0, 1))
            # camera -> head frame is the transpose of the rotation
            hx = m[0][0] * uu + m[1][0] * vv + m[2][0] * ww
            hy = m[0][1] * uu + m[1][1] * vv + m[2][1] * ww
            hz = m[0][2] * uu + m[1][2] * vv + m[2][2] * ww
            mx, my = _to_map(np.arctan2(hx, hz), np.arcsin(np.clip(-hy, -1, 1)), ppr)
            return mx - 0.5, my - 0.5, lambert(uu, vv)

        head = r2 < 1
        inside = np.flatnonzero(head)
        mx, my, shade = surface(inside, 1.0)
        col = _lookup(face, mx, my)
        covered = head.copy()
        if app.hair != "none":
            k = app.hair_volume
            # Scalp hair is shaded like the hair volume above it, so it meets the shell without a seam.
            on_hair = _lookup(self._shell, mx, my)
            shade += (lambert(u[inside] / k, v[inside] / k) - shade) * on_hair
            ring = np.flatnonzero(~head & (r2 < k * k))  # the shell only shows around the head
            rx, ry, ring_shade = surface(ring, k)
            alpha = _lookup(self._shell, rx, ry)
            old = flat[gidx[ring]].astype(np.float32)
            flat[gidx[ring]] = (old + (_lookup(self._hair_rgb, rx, ry) * ring_shade - old) * alpha + 0.5).astype(
                np.uint8)
            covered[ring] = alpha[:, 0] > 0.5
        flat[gidx[inside]] = np.minimum(col * shade + 0.5, 255).astype(np.uint8)
        # Outline: the band just inside the silhouette of head + hair.
        width = max(1, round(app.outline * s))
        cov = covered.reshape(y1 - y0, x1 - x0).astype(np.uint8)
        rim = cov & (1 - cv2.erode(cov, np.ones((2 * width + 1, 2 * width + 1), np.uint8)))
        flat[gidx[rim.ravel().astype(bool)]] = app.outline_color

    def render(self, pose: Pose) -> np.ndarray:
        """One frame, uint8 (size, size, 3) RGB."""
        app = self.appearance
        img = self._background.copy()
        self._draw_body(img, pose)
        self._draw_ears(img, pose)
        face = self._albedo.copy()
        for side in (-1, 1):
            _draw_eye(face, app, pose, side)
            _draw_brow(face, app, pose, side)
        _draw_mouth(face, app, pose)
        self._draw_head(img, face, pose)
        return cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)


def render_frame(params: FaceParams, t: float, size: int) -> np.ndarray:
    """Frame ``t`` of a face video, uint8 (size, size, 3) RGB. For many frames use ``render_video``."""
    return FaceRenderer(params.appearance, size).render(params.motion.pose(t))


def render_video(seed: int, num_frames: int, size: int, clip: int = 0) -> np.ndarray:
    """Clip ``clip`` of identity ``seed``: uint8 (num_frames, size, size, 3) RGB, identical bytes per seed."""
    if num_frames < 1:
        raise SettingsError(f"need at least one frame, got {num_frames}")
    params = FaceParams.from_seed(seed, clip)
    renderer = FaceRenderer(params.appearance, size)
    return np.stack([renderer.render(params.motion.pose(t)) for t in range(num_frames)])


# ------------------------------------------------------------------------------------------------ dataset
@dataclass(frozen=True)
class VideoSpec:
    """One video of a synthetic dataset: ``render_video(identity_seed, frames, size, clip)`` rebuilds it."""

    name: str  # id{identity:04d}#{clip:03d}: the identity is the part before '#'
    split: str  # train | test
    identity_seed: int
    clip: int


def identity_seed(seed: int, split: str, index: int) -> int:
    """Seed of identity ``index`` in ``split`` ("train", "test" or "heldout") of the dataset made from ``seed``.

    The split is stored in the two lowest bits, so train, test and held-out seeds can never coincide, whatever
    the dataset sizes; examples and demos should take "heldout" seeds.
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"unknown split {split!r}")
    if seed < 0 or index < 0:
        raise SettingsError(f"seed and index must be >= 0, got seed={seed} index={index}")
    h = int(np.random.SeedSequence([seed, _SPLIT_CODES[split], index]).generate_state(1)[0]) >> 2
    return (h << 2) | _SPLIT_CODES[split]


def dataset_videos(seed: int, num_videos: int, num_test_videos: int, clips_per_identity: int = 4) -> list[VideoSpec]:
    """The videos ``write_dataset`` makes, train first: ``clips_per_identity`` clips per identity (the last
    identity of a split may have fewer); test identities are numbered after the train ones."""
    if clips_per_identity < 1:
        raise SettingsError(f"clips per identity must be >= 1, got {clips_per_identity}")
    specs: list[VideoSpec] = []
    first = 0
    for split, count in (("train", num_videos), ("test", num_test_videos)):
        for i in range(count):
            index, clip = divmod(i, clips_per_identity)
            specs.append(VideoSpec(f"id{first + index:04d}#{clip:03d}", split, identity_seed(seed, split, index), clip))
        first += -(-count // clips_per_identity)
    return specs


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    from fomm_cli.media.image import write_image

    folder.mkdir()
    for i, frame in enumerate(frames):
        write_image(folder / f"{i:06d}.png", frame)


def write_dataset(root: str | Path, num_videos: int, num_test_videos: int, num_frames: int, size: int, seed: int,
                  fmt: str = "png", clips_per_identity: int = 4, fps: float = 25.0, overwrite: bool = False,
                  quiet: bool = False) -> dict:
    """Render a dataset into ``root/train`` and ``root/test`` (plus ``root/synth.json``, the manifest).

    ``fmt="png"``: each video is a folder of ``000000.png``...; ``fmt="mp4"``: one H.264 file per video.
    The dataset is built in a temporary sibling and renamed into place at the end; a non-empty ``root`` is
    only replaced when ``overwrite``. Returns a JSON-able summary.
    """
    root = Path(root)
    if fmt not in ("png", "mp4"):
        raise SettingsError(f"format must be png or mp4, got {fmt!r}")
    if num_videos < 1 or num_test_videos < 0:
        raise SettingsError(f"need at least 1 train video and 0 or more test videos, got {num_videos} and "
                         f"{num_test_videos}")
    if num_frames < 2:
        raise SettingsError(f"videos need at least 2 frames, got {num_frames}")
    if fmt == "mp4" and size % 2:
        raise SettingsError(f"mp4 (yuv420p) needs an even frame size, got {size}")
    if fps <= 0:
        raise SettingsError(f"fps must be positive, got {fps}")
    if seed < 0:
        raise SettingsError(f"seed must be >= 0, got {seed}")
    if root.exists() and not overwrite and (not root.is_dir() or any(root.iterdir())):
        raise FommError(f"{root} exists and is not an empty folder (pass -y to replace it)")
    specs = dataset_videos(seed, num_videos, num_test_videos, clips_per_identity)
    _check_size(size)

    start = time.perf_counter()
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(root)
    try:
        for split in ("train", "test"):
            (tmp / split).mkdir()
        renderer: FaceRenderer | None = None
        renderer_seed = -1
        for spec in track(specs, "Rendering videos", quiet=quiet):
            params = FaceParams.from_seed(spec.identity_seed, spec.clip)
            if spec.identity_seed != renderer_seed:  # clips of one identity share the static maps
                renderer, renderer_seed = FaceRenderer(params.appearance, size), spec.identity_seed
            assert renderer is not None
            frames = np.stack([renderer.render(params.motion.pose(t)) for t in range(num_frames)])
            if fmt == "png":
                _write_frames(tmp / spec.split / spec.name, frames)
            else:
                from fomm_cli.media.video import write_video

                write_video(tmp / spec.split / f"{spec.name}.mp4", frames, fps)
        manifest = {
            "generator": "fomm_cli.synth",
            "seed": seed, "size": size, "frames": num_frames, "fps": fps, "format": fmt,
            "clips_per_identity": clips_per_identity,
            "videos": [asdict(spec) for spec in specs],
        }
        (tmp / "synth.json").write_text(json.dumps(manifest, indent=1) + "\n")
        replace_path(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    splits = [s.split for s in specs]
    return {
        "root": str(root), "format": fmt, "size": size, "frames": num_frames, "fps": fps, "seed": seed,
        "train_videos": splits.count("train"), "test_videos": splits.count("test"),
        "train_identities": len({s.name.split("#")[0] for s in specs if s.split == "train"}),
        "test_identities": len({s.name.split("#")[0] for s in specs if s.split == "test"}),
        "manifest": str(root / "synth.json"),
        "seconds": round(time.perf_counter() - start, 2),
    }
