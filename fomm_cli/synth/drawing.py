"""Drawing the parts of a face into its longitude/latitude surface map and the scene: background, skin and
hair maps, nose, eyes, brows, mouth (cv2 on float or uint8 images, sub-pixel polygon vertices)."""

from __future__ import annotations

import cv2
import numpy as np

from fomm_cli.synth.params import RGB, Appearance, Pose, scale_color

SHIFT = 4  # cv2 sub-pixel bits for polygon vertices
_ONE = 1 << SHIFT
AA = cv2.LINE_AA


def vertices(xy: np.ndarray) -> np.ndarray:
    """Float pixel coordinates (N, 2) -> cv2 fixed-point vertices (shift = SHIFT)."""
    return np.round(np.asarray(xy) * _ONE).astype(np.int32).reshape(-1, 1, 2)


def vertex(x: float, y: float) -> tuple[int, int]:
    return (round(x * _ONE), round(y * _ONE))


def pixels_per_radian(surface_map: np.ndarray) -> float:
    """Pixels per radian of a longitude/latitude map: longitude [-pi, pi) left to right, latitude pi/2 (top)
    to -pi/2 (bottom), twice as wide as high."""
    return surface_map.shape[1] / (2 * np.pi)


def to_map(lon: float | np.ndarray, lat: float | np.ndarray, ppr: float) -> tuple:
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


def background(app: Appearance, res: int, rng: np.random.Generator) -> np.ndarray:
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
            x, y = (float(v) for v in rng.uniform(0, res, 2))
            r = rng.uniform(0.04, 0.16) * res
            if rng.random() < 0.5:
                cv2.circle(img, vertex(x, y), round(r * _ONE), col, -1, AA, SHIFT)
            else:
                rect = cv2.boxPoints(((x, y), (2 * r, rng.uniform(0.5, 2) * r), rng.uniform(0, 90)))
                cv2.fillPoly(img, [vertices(rect)], col, AA, SHIFT)
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


def head_maps(app: Appearance, rng: np.random.Generator, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
            x, y = to_map(rng.uniform(-np.pi, np.pi), rng.uniform(-1.1, 1.3), ppr)
            r = rng.uniform(0.05, 0.14) * k * ppr
            cv2.ellipse(albedo, vertex(x, y), vertex(r, r * rng.uniform(0.6, 1)), rng.uniform(0, 180), 0, 360, pc,
                        -1, AA, SHIFT)
    elif app.skin_pattern == "freckles":
        for _ in range(int(rng.integers(14, 30))):
            side = rng.choice([-1, 1])
            x, y = to_map(side * rng.uniform(0.15, 0.65), app.eye_lat - app.eye_h - rng.uniform(0.05, 0.3),
                           ppr)
            cv2.circle(albedo, vertex(x, y), round(rng.uniform(0.012, 0.025) * ppr * _ONE), pc, -1,
                       AA, SHIFT)
    if app.cheeks:
        for side in (-1, 1):
            x, y = to_map(side * (app.eye_lon + 0.08), app.eye_lat - app.eye_h - 0.2, ppr)
            r = 0.11 * ppr
            cv2.ellipse(albedo, vertex(x, y), vertex(r, 0.7 * r), 0, 0, 360, app.cheek_color, -1, AA, SHIFT)
    _draw_nose(albedo, app)

    # Hair: a streaky texture, pasted where latitude is above the hairline.
    streaks = _smooth_noise(rng, h // 4, w // 4, (3, 96))  # smooth, so a quarter-size texture is upscaled
    hair_rgb = _paint(scale_color(app.hair_color, 0.75), [(scale_color(app.hair_color, 1.15), streaks)],
                      (h // 4, w // 4))
    hair_rgb = cv2.resize(hair_rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    shell = np.zeros((h, w), np.float32)
    if app.hair != "none":
        line = _hairline(app, lon)
        on_head = lat[:, None] > line[None, :]
        cv2.copyTo(hair_rgb, on_head.astype(np.uint8), albedo)
        x, y = to_map(lon, line, ppr)
        cv2.polylines(albedo, [vertices(np.stack([x, y], 1))], False, scale_color(app.hair_color, 0.55),
                      round(0.02 * ppr), AA, SHIFT)
        shell_line = line + 0.04
        if app.hair_long:  # hair falls down the sides of the head
            shell_line = np.where(np.abs(lon) > 1.15, np.minimum(shell_line, -0.9), shell_line)
        shell = (lat[:, None] > shell_line[None, :]).astype(np.float32)
    return albedo, hair_rgb, shell


def _draw_nose(img: np.ndarray, app: Appearance) -> None:
    ppr = pixels_per_radian(img)
    x, y = to_map(0.0, (app.eye_lat + app.mouth_lat) / 2 - 0.02, ppr)
    r = app.nose_size * ppr
    dark = scale_color(app.skin, 0.62)
    t = max(2, round(0.25 * r))
    if app.nose == "dot":
        cv2.ellipse(img, vertex(x, y), vertex(0.7 * r, 0.5 * r), 0, 0, 360, dark, -1, AA, SHIFT)
    elif app.nose == "button":
        cv2.ellipse(img, vertex(x, y), vertex(r, 0.8 * r), 0, 0, 360, scale_color(app.skin, 1.12), -1, AA, SHIFT)
        cv2.ellipse(img, vertex(x, y), vertex(r, 0.8 * r), 0, 0, 360, dark, t, AA, SHIFT)
        cv2.circle(img, vertex(x - 0.3 * r, y - 0.3 * r), round(0.22 * r * _ONE), (255, 255, 255), -1, AA, SHIFT)
    elif app.nose == "triangle":
        tri = np.array([[x, y - 1.4 * r], [x - 0.8 * r, y + 0.6 * r], [x + 0.8 * r, y + 0.6 * r]])
        cv2.polylines(img, [vertices(tri)], False, dark, t, AA, SHIFT)


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


def draw_eye(img: np.ndarray, app: Appearance, pose: Pose, side: int) -> None:
    """One eye in the albedo map: sclera (or a dark dot), iris and pupil following the gaze, and eyelids
    closing with ``pose.blink``; everything clipped to the eye outline."""
    ppr = pixels_per_radian(img)
    cx, cy = to_map(side * app.eye_lon, app.eye_lat, ppr)
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
        cv2.circle(patch, vertex(ix, iy), round(r * _ONE), app.iris_color, -1, AA, SHIFT)
        cv2.circle(patch, vertex(ix, iy), round(0.5 * r * _ONE), (15, 15, 20), -1, AA, SHIFT)
    hl = 0.28 * r if not dot else 0.22 * min(ew, eh)
    hx, hy = (ix - 0.35 * r, iy - 0.35 * r) if not dot else (lx - 0.3 * ew, ly - 0.35 * eh)
    cv2.circle(patch, vertex(hx, hy), round(hl * _ONE), (255, 255, 255), -1, AA, SHIFT)
    # Eyelids: the upper one covers 60 % of the height when closed, the lower one the rest.
    top, bottom = ly - eh, ly + eh
    upper = top + pose.blink * 1.2 * eh
    lower = bottom - pose.blink * 0.8 * eh
    lid = scale_color(app.skin, 0.85)
    rows = np.arange(ph, dtype=np.float32)[:, None, None] + 0.5
    cover = np.clip(upper - rows + 0.5, 0, 1) + np.clip(rows - lower + 0.5, 0, 1)
    patch = (patch * (1 - np.minimum(cover, 1)) + np.array(lid, np.float32) * np.minimum(cover, 1)).astype(np.uint8)
    mask = np.zeros((ph, pw), np.uint8)
    cv2.ellipse(mask, vertex(lx, ly), vertex(ew, eh), 0, 0, 360, 255, -1, AA, SHIFT)
    _paste(img, x0, y0, patch, mask)
    line = scale_color(app.outline_color, 0.8)
    thick = max(2, round(0.03 * ppr))
    cv2.ellipse(img, vertex(cx, cy), vertex(ew, eh), 0, 0, 360, line, thick, AA, SHIFT)
    if pose.blink > 0.05:  # lash line along the edge of the upper lid
        ly_img = cy - eh + pose.blink * 1.2 * eh
        half = ew * np.sqrt(max(0.0, 1 - ((ly_img - cy) / eh) ** 2))
        cv2.line(img, vertex(cx - half, ly_img), vertex(cx + half, ly_img), line, thick + 1, AA, SHIFT)


def draw_brow(img: np.ndarray, app: Appearance, pose: Pose, side: int) -> None:
    ppr = pixels_per_radian(img)
    cx, _ = to_map(side * app.eye_lon, 0.0, ppr)
    lat = app.eye_lat + app.eye_h + 0.08 + 0.1 * pose.brow
    _, cy = to_map(0.0, lat, ppr)
    s = np.linspace(-1, 1, 9)
    half = 1.2 * app.eye_w * ppr
    x = cx + s * half
    # inner end (towards the nose) tilted by brow_tilt, a gentle arch on top
    y = cy - (1 - s**2) * 0.06 * ppr - (-side * s) * app.brow_tilt * ppr
    cv2.polylines(img, [vertices(np.stack([x, y], 1))], False, app.brow_color,
                  max(2, round(app.brow_thickness * ppr)), AA, SHIFT)


def draw_mouth(img: np.ndarray, app: Appearance, pose: Pose) -> None:
    """Lips as two curves; the opening between them (dark, with teeth and tongue) grows with pose.mouth."""
    ppr = pixels_per_radian(img)
    cx, cy = to_map(0.0, app.mouth_lat, ppr)
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
        cv2.ellipse(patch, vertex(cx - x0, lower.max() - y0), vertex(0.55 * mw, 0.35 * mw), 0, 0, 360,
                    (215, 90, 100), -1, AA, SHIFT)
        mask = np.zeros((ph, pw), np.uint8)
        poly = np.concatenate([np.stack([x, upper], 1), np.stack([x, lower], 1)[::-1]]) - (x0, y0)
        cv2.fillPoly(mask, [vertices(poly)], 255, AA, SHIFT)
        _paste(img, x0, y0, patch, mask)
    for curve in (upper, lower):
        cv2.polylines(img, [vertices(np.stack([x, curve], 1))], False, app.lip_color, lip_t, AA, SHIFT)

