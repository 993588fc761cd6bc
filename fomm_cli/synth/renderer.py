"""The renderer: a face is an ellipsoid seen by an orthographic camera; each frame maps screen pixels back onto
the rotated ellipsoid to look its surface map up, and draws ears, neck, shoulders and hair behind it."""

from __future__ import annotations

import cv2
import numpy as np

from fomm_cli.errors import InvalidSetting
from fomm_cli.synth.drawing import (
    AA,
    SHIFT,
    background,
    draw_brow,
    draw_eye,
    draw_mouth,
    head_maps,
    pixels_per_radian,
    to_map,
    vertex,
    vertices,
)
from fomm_cli.synth.params import Appearance, FaceParams, Pose, scale_color


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


def check_size(size: int) -> None:
    if not 16 <= size <= 2048:
        raise InvalidSetting("size", size, "between 16 and 2048 pixels")


class FaceRenderer:
    """Renders one appearance at one output size; the background and static maps are built once."""

    def __init__(self, appearance: Appearance, size: int) -> None:
        check_size(size)
        self.appearance = appearance
        self.size = size
        self.res = size * max(2, -(-192 // size))  # supersampled canvas, at least 192 px
        rng = np.random.default_rng(appearance.texture_seed)
        # Map resolution about matches the canvas: ~80 px per radian up to a 256 px canvas.
        self._albedo, self._hair_rgb, self._shell = head_maps(appearance, rng, 512 if self.res <= 256 else 1024)
        self._background = background(appearance, self.res, rng)

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
        cv2.fillPoly(img, [vertices(neck)], scale_color(app.skin, 0.75), AA, SHIFT)
        cv2.ellipse(img, vertex(sx, sy + 0.2 * res), vertex(app.shirt_w * res, 0.35 * res), 0, 0, 360, app.shirt,
                    -1, AA, SHIFT)
        cv2.ellipse(img, vertex(sx, sy - 0.02 * res), vertex(nw * 1.15, 0.05 * res), 0, 0, 180,
                    scale_color(app.skin, 0.75), -1, AA, SHIFT)
        if app.hair_long:
            t = np.linspace(0, np.pi, 24)
            arc = np.stack([1.25 * app.head_w * np.cos(t), -1.05 * app.head_h * np.sin(t)], 1)
            hem = np.stack([-1.3 * app.head_w * np.cos(t), 1.2 + 0.25 * np.sin(t)], 1)
            drape = np.concatenate([arc, hem])
            cv2.fillPoly(img, [vertices(self._local_to_screen(drape, pose))], scale_color(app.hair_color, 0.8), AA,
                         SHIFT)

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
            cv2.fillPoly(img, [vertices(o)], app.skin, AA, SHIFT)
            cv2.fillPoly(img, [vertices(i)], app.ear_inner, AA, SHIFT)
            cv2.polylines(img, [vertices(o)], True, app.outline_color, thick, AA, SHIFT)

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
        ppr = pixels_per_radian(face)
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
            mx, my = to_map(np.arctan2(hx, hz), np.arcsin(np.clip(-hy, -1, 1)), ppr)
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
        rim = np.bitwise_and(cov, 1 - cv2.erode(cov, np.ones((2 * width + 1, 2 * width + 1), np.uint8)))
        flat[gidx[rim.ravel().astype(bool)]] = app.outline_color

    def render(self, pose: Pose) -> np.ndarray:
        """One frame, uint8 (size, size, 3) RGB."""
        app = self.appearance
        img = self._background.copy()
        self._draw_body(img, pose)
        self._draw_ears(img, pose)
        face = self._albedo.copy()
        for side in (-1, 1):
            draw_eye(face, app, pose, side)
            draw_brow(face, app, pose, side)
        draw_mouth(face, app, pose)
        self._draw_head(img, face, pose)
        return cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)


def render_frame(params: FaceParams, t: float, size: int) -> np.ndarray:
    """Frame ``t`` of a face video, uint8 (size, size, 3) RGB. For many frames use ``render_video``."""
    return FaceRenderer(params.appearance, size).render(params.motion.pose(t))


def render_video(seed: int, num_frames: int, size: int, clip: int = 0) -> np.ndarray:
    """Clip ``clip`` of identity ``seed``: uint8 (num_frames, size, size, 3) RGB, identical bytes per seed."""
    if num_frames < 1:
        raise InvalidSetting("frames", num_frames, "at least 1")
    params = FaceParams.from_seed(seed, clip)
    renderer = FaceRenderer(params.appearance, size)
    return np.stack([renderer.render(params.motion.pose(t)) for t in range(num_frames)])
