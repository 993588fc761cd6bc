"""Random parameters of a synthetic face: how an identity looks (``Appearance``), how it moves
(``Motion``, sampled into a ``Pose`` per frame). Pure functions of integer seeds."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from fomm_cli.errors import InvalidSetting

RGB = tuple[float, float, float]
_BLINK_HORIZON = 1 << 14  # blink events are scripted for this many frames, then repeat


def _color(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return (255.0 * r, 255.0 * g, 255.0 * b)


def scale_color(c: RGB, k: float) -> RGB:
    r, g, b = (float(min(255.0, max(0.0, x * k))) for x in c)
    return (r, g, b)


def _mix(c0: RGB, c1: RGB, t: float) -> RGB:
    r, g, b = (float(a + (b - a) * t) for a, b in zip(c0, c1, strict=True))
    return (r, g, b)


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
        unit = light / np.linalg.norm(light)
        bg_hue = u()
        bg0, bg1, bg2 = (_color(bg_hue + u(-0.12, 0.12), u(0.05, 0.55), u(0.25, 0.95)) for _ in range(3))
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
            outline_color=scale_color(skin, u(0.15, 0.45)),
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
            brow_color=scale_color(hair, 0.8) if u() < 0.7 else scale_color(skin, 0.4),
            nose=str(rng.choice(["none", "dot", "button", "triangle"], p=[0.1, 0.3, 0.3, 0.3])),
            nose_size=u(0.05, 0.1),
            mouth_lat=u(-0.6, -0.42),
            mouth_w=u(0.26, 0.42),
            mouth_smile=u(-0.15, 0.5),
            lip_color=_mix(scale_color(skin, 0.55), (150.0, 30.0, 40.0), u(0.2, 0.8)),
            teeth=bool(u() < 0.6),
            cheeks=bool(u() < 0.4),
            cheek_color=_mix(skin, (240.0, 110.0, 120.0), u(0.25, 0.5)),
            light=(float(unit[0]), float(unit[1]), float(unit[2])),
            ambient=u(0.45, 0.7),
            shirt=_color(u(), u(0.2, 0.8), u(0.2, 0.9)),
            shirt_w=u(0.32, 0.48),
            background=str(rng.choice(["flat", "linear", "radial", "stripes", "checker", "blobs", "shapes"])),
            bg_colors=(bg0, bg1, bg2),
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
            raise InvalidSetting("seed" if seed < 0 else "clip", min(seed, clip), "at least 0")
        return cls(Appearance.sample(np.random.default_rng([seed, 0])),
                   Motion.sample(np.random.default_rng([seed, 1, clip])))
