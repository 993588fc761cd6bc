"""Temporal smoothing of driving keypoints: a One Euro filter per keypoint, streaming, batch-size independent.

Detector jitter (keypoints shaking by a fraction of a pixel from frame to frame) becomes a trembling face;
real motion must not be smeared. The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) does both: an
exponential moving average whose time constant shrinks as the signal moves, so it smooths hard while a
keypoint is still and follows fast motion closely. It is causal (frame t depends on frames <= t only) and
keeps O(K) state, so it runs on a stream of any length.

Each keypoint is one vector, filtered as a whole: its position (x, y) in [-1, 1] units and, when the model has
jacobians, the jacobian's log-polar coordinates (rotation angle, log scale, log stretch; see
``fomm_cli.motion.jacobian_to_log_polar``) times ``JACOBIAN_RADIUS``. Averaging in those coordinates keeps
every filtered jacobian an invertible matrix with the determinant sign of its frame's input and a condition
number no larger than the largest among the inputs it averages (cond = exp(2 |stretch|), and a convex
combination of stretch vectors is no longer than the longest of them).

Per frame, for each keypoint vector x (time unit: one frame):

    d  <- d + (x - y - d) / (1 + DERIVATIVE_TIME_CONSTANT)      # smoothed speed vector
    tau = strength / (1 + |d| / SPEED_SCALE)                     # time constant, frames
    y  <- y + (x - y) / (1 + tau)

which is the One Euro filter with minimum cutoff 1 / (2 pi strength) cycles per frame and
beta = 1 / (2 pi strength SPEED_SCALE). Each output is a convex combination of the previous output and the
current input, so the filter never overshoots. The first frame passes unchanged.
"""

from __future__ import annotations

import math

import torch

from fomm_cli.errors import InvalidSetting
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import jacobian_to_log_polar, log_polar_to_jacobian

DEFAULT_STRENGTH = 2.0
"""Frames. Halves the frame-to-frame jitter of still and slowly moving keypoints, and follows a step of
5 % of the image width to 90 % within 1 frame (benchmarks/motion_smoothing.py)."""

SPEED_SCALE = 0.005
"""[-1, 1] units per frame (0.25 % of the image width, 0.6 px at 256 px) at which the time constant halves:
the border between jitter (slower, smoothed) and motion (faster, followed)."""

JACOBIAN_RADIUS = 0.1
"""A change of the jacobian's log-polar coordinates by delta moves a point at this distance from the keypoint
(the width of a keypoint's region in the dense-motion network) by about radius * delta, so speeds of
positions and jacobians are compared in the same units."""

DERIVATIVE_TIME_CONSTANT = 1.0
"""Frames: the speed estimate averages over about two frames, so single-frame jitter does not open the filter
as much as sustained motion does."""


def check_strength(strength: float) -> float:
    """``strength`` as a float if it is a finite number >= 0, else InvalidSetting."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidSetting("smoothing", strength, "a number of frames >= 0")
    return value


class KeypointSmoother:
    """Streaming One Euro filter over driving keypoints (see the module docstring).

    strength: the filter's time constant while the keypoints are still, in frames (>= 0; 0 passes keypoints
    through unchanged; ``DEFAULT_STRENGTH`` is 2). Larger values smooth more and lag more; the time constant
    shrinks as strength / (1 + speed / SPEED_SCALE) when keypoints move.

    Call it with the frames of one video in order, in batches of any size (Keypoints with value B x K x 2 and
    jacobian B x K x 2 x 2 or None); the state carries across calls and each frame is computed on its own,
    so the result does not depend on how the frames are batched (bit for bit). One smoother per video.
    """

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        self.strength = check_strength(strength)
        self._output: torch.Tensor | None = None  # K x D: filtered vector of each keypoint
        self._speed: torch.Tensor | None = None  # K x D: smoothed speed vector
        self._flip: torch.Tensor | None = None  # K: reflection flag of the last frame's jacobians

    def __call__(self, keypoints: Keypoints) -> Keypoints:
        """Filtered keypoints of the next B frames (same shapes, dtype and device)."""
        if self.strength == 0:
            return keypoints
        values, jacobians = [], []
        for index in range(len(keypoints)):
            value = keypoints.value[index].contiguous()
            jacobian = None if keypoints.jacobian is None else keypoints.jacobian[index].contiguous()
            value, jacobian = self._step(value, jacobian)
            values.append(value)
            jacobians.append(jacobian)
        return Keypoints(torch.stack(values), None if keypoints.jacobian is None else torch.stack(jacobians))

    def _step(self, value: torch.Tensor, jacobian: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One frame: value K x 2, jacobian K x 2 x 2 or None."""
        flip = None
        vector = value
        if jacobian is not None:
            params, flip = jacobian_to_log_polar(jacobian)
            vector = torch.cat([value, params * JACOBIAN_RADIUS], dim=-1)
        if self._output is None:
            self._output, self._speed, self._flip = vector, torch.zeros_like(vector), flip
            return value, jacobian
        assert self._speed is not None
        previous, speed = self._output, self._speed
        if flip is not None:
            assert self._flip is not None
            # The angle is taken the short way round from the filtered one.
            angle = previous[:, 2] + _wrap(vector[:, 2] - previous[:, 2], math.pi * JACOBIAN_RADIUS)
            vector = torch.cat([vector[:, :2], angle[:, None], vector[:, 3:]], dim=-1)
            # A jacobian whose determinant changed sign went through a singular matrix: restart its filter.
            restart = (flip != self._flip)[:, None] & (torch.arange(vector.shape[1], device=vector.device) >= 2)
            previous = torch.where(restart, vector, previous)
            speed = torch.where(restart, torch.zeros_like(speed), speed)
        speed = speed + (vector - previous - speed) / (1 + DERIVATIVE_TIME_CONSTANT)
        magnitude = torch.linalg.vector_norm(speed, dim=-1, keepdim=True)
        tau = self.strength / (1 + magnitude / SPEED_SCALE)
        output = previous + (vector - previous) / (1 + tau)
        self._output, self._speed, self._flip = output, speed, flip
        if jacobian is None:
            return output, None
        assert flip is not None
        return output[:, :2], log_polar_to_jacobian(output[:, 2:] / JACOBIAN_RADIUS, flip)


def _wrap(angle: torch.Tensor, half_period: float) -> torch.Tensor:
    """``angle`` moved by whole periods into [-half_period, half_period]."""
    period = 2 * half_period
    return angle - period * torch.round(angle / period)
