"""Temporal smoothing of driving keypoints: a One Euro filter per keypoint, streaming, batch-size independent.

Detector jitter (keypoints shaking by a fraction of a pixel from frame to frame) becomes a trembling face;
real motion must not be smeared. The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) does both: an
exponential moving average whose time constant shrinks as the signal moves, so it smooths hard while a
keypoint is still and follows fast motion closely. Here the speed that counts as "moving" is each keypoint's
own measured jitter, so the filter works the same on slightly and on badly jittering videos and hardly
touches a keypoint that does not jitter. It is causal (frame t depends on frames <= t only) and keeps a
bounded state (``JITTER_WINDOW`` frames per keypoint), so it runs on a stream of any length.

Each keypoint is one vector, filtered as a whole: its position (x, y) in [-1, 1] units and, when the model has
jacobians, the jacobian's log-polar coordinates (rotation angle, log scale, log stretch; see
``fomm_cli.motion.jacobian_to_log_polar``) times ``JACOBIAN_RADIUS``. Averaging in those coordinates keeps
every filtered jacobian an invertible matrix with the determinant sign of its frame's input and a condition
number no larger than the largest among the inputs it averages (cond = exp(2 |stretch|), and a convex
combination of stretch vectors is no longer than the longest of them).

Per frame, for each keypoint vector x (time unit: one frame):

    n   = median of |x_t - 2 x_t-1 + x_t-2| over the last JITTER_WINDOW frames / 3   # jitter, per frame
    d  <- d + (x - y - d) / (1 + DERIVATIVE_TIME_CONSTANT)                            # smoothed velocity
    tau = strength / (1 + |d| / n)                                                    # time constant, frames
    y  <- y + (x - y) / (1 + tau)

the One Euro filter with minimum cutoff 1 / (2 pi strength) cycles per frame and beta = 1 / (2 pi strength n).
For white noise of standard deviation s per coordinate, n is about s (the second difference has 6 s^2 per
coordinate; a smooth motion adds little to it). Each output is a convex combination of the previous output
and the current input, so the filter never overshoots. The first frame passes unchanged.
"""

from __future__ import annotations

import math

import torch

from fomm_cli.controls import DEFAULT_STRENGTH, check_strength
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import jacobian_to_log_polar, log_polar_to_jacobian

JITTER_WINDOW = 25
"""Frames over which a keypoint's jitter is estimated (a second at 25 fps): long enough for a median that
a step or a short burst of fast motion does not move, short enough to follow a change of lighting."""

MIN_JITTER = 1e-4
"""[-1, 1] units per frame (0.01 px at 256 px): the jitter estimate's floor, so a keypoint that does not
jitter at all (or the first two frames, before there is an estimate) is followed without smoothing."""

JACOBIAN_RADIUS = 0.1
"""A change of the jacobian's log-polar coordinates by delta moves a point at this distance from the keypoint
(the width of a keypoint's region in the dense-motion network) by about radius * delta, so positions and
jacobians are measured in the same units."""

DERIVATIVE_TIME_CONSTANT = 1.0
"""Frames: the velocity estimate averages over about two frames, so jitter, which changes direction from
frame to frame, opens the filter less than motion does."""


class KeypointSmoother:
    """Streaming One Euro filter over driving keypoints (see the module docstring).

    strength: the filter's time constant, in frames, while the keypoints move no more than their jitter
    (>= 0; 0 passes keypoints through unchanged; ``DEFAULT_STRENGTH`` is 3). Larger values smooth more and
    lag more. The time constant shrinks as strength / (1 + speed / jitter) when keypoints move.

    Call it with the frames of one video in order, in batches of any size (Keypoints with value B x K x 2 and
    jacobian B x K x 2 x 2 or None); the state carries across calls and each frame is computed on its own,
    so the result does not depend on how the frames are batched (bit for bit). One smoother per video.
    """

    def __init__(self, strength: float = DEFAULT_STRENGTH) -> None:
        self.strength = check_strength(strength)
        self._raw: list[torch.Tensor] = []  # the last three inputs (K x D, angles unwrapped)
        self._curvature: torch.Tensor | None = None  # K x W: |second difference| of the last W frames
        self._output: torch.Tensor | None = None  # K x D: filtered vector of each keypoint
        self._velocity: torch.Tensor | None = None  # K x D
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
            if jacobian is not None:
                jacobians.append(jacobian)
        return Keypoints(torch.stack(values), torch.stack(jacobians) if jacobians else None)

    def _step(self, value: torch.Tensor, jacobian: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One frame: value K x 2, jacobian K x 2 x 2 or None."""
        flip = None
        vector = value
        if jacobian is not None:
            params, flip = jacobian_to_log_polar(jacobian)
            vector = torch.cat([value, params * JACOBIAN_RADIUS], dim=-1)
            if self._raw:  # the angle, the short way round from the last one
                last = self._raw[-1][:, 2]
                angle = last + _wrap(vector[:, 2] - last, math.pi * JACOBIAN_RADIUS)
                vector = torch.cat([vector[:, :2], angle[:, None], vector[:, 3:]], dim=-1)
        self._raw = [*self._raw[-2:], vector]
        if self._output is None:
            self._output, self._velocity, self._flip = vector, torch.zeros_like(vector), flip
            return value, jacobian
        assert self._velocity is not None
        previous, velocity = self._output, self._velocity
        if len(self._raw) == 3:
            older, last, _ = self._raw
            curvature = torch.linalg.vector_norm(vector - 2 * last + older, dim=-1, keepdim=True)
            window = curvature if self._curvature is None else torch.cat([self._curvature, curvature], dim=-1)
            self._curvature = window[:, -JITTER_WINDOW:]
        if self._curvature is None:
            jitter = torch.full_like(vector[:, :1], MIN_JITTER)
        else:
            jitter = (self._curvature.median(dim=-1, keepdim=True).values / 3).clamp_min(MIN_JITTER)
        if flip is not None:
            assert self._flip is not None
            # A jacobian whose determinant changed sign went through a singular matrix: restart its filter.
            restart = (flip != self._flip)[:, None] & (torch.arange(vector.shape[1], device=vector.device) >= 2)
            previous = torch.where(restart, vector, previous)
            velocity = torch.where(restart, torch.zeros_like(velocity), velocity)
        velocity = velocity + (vector - previous - velocity) / (1 + DERIVATIVE_TIME_CONSTANT)
        speed = torch.linalg.vector_norm(velocity, dim=-1, keepdim=True)
        tau = self.strength / (1 + speed / jitter)
        output = previous + (vector - previous) / (1 + tau)
        self._output, self._velocity, self._flip = output, velocity, flip
        if jacobian is None:
            return output, None
        assert flip is not None
        return output[:, :2], log_polar_to_jacobian(output[:, 2:] / JACOBIAN_RADIUS, flip)


def _wrap(angle: torch.Tensor, half_period: float) -> torch.Tensor:
    """``angle`` moved by whole periods into [-half_period, half_period]."""
    period = 2 * half_period
    return angle - period * torch.round(angle / period)


# ------------------------------------------------------------------------------------------- measures


def frame_jitter(result: torch.Tensor, truth: torch.Tensor, point_dims: int = 1) -> float:
    """Frame-to-frame jitter of ``result`` (T x ...) around ``truth`` (same shape): the RMS over frames and
    points of how much the error result - truth changes from one frame to the next, Euclidean over the last
    ``point_dims`` dimensions (1 for positions, 2 for jacobians: Frobenius). A constant error counts 0;
    independent noise of standard deviation sigma on each of two coordinates counts 2 sigma."""
    change = torch.diff((result - truth).double(), dim=0).flatten(start_dim=result.dim() - point_dims)
    return float(change.square().sum(-1).mean().sqrt())


def step_lag(result: torch.Tensor, start: torch.Tensor, end: torch.Tensor, step_frame: int,
             fraction: float = 0.9, point_dims: int = 1) -> torch.Tensor:
    """Frames after ``step_frame`` until each point of ``result`` (T x N x ...) is ``fraction`` of the way from
    ``start`` to ``end`` (N x ...; progress = 1 - |result - end| / |start - end|, Euclidean over the last
    ``point_dims`` dimensions): 0 when it gets there on the step's own frame; T - step_frame if never."""
    after = (result[step_frame:] - end).double().flatten(start_dim=result.dim() - point_dims)
    size = (start - end).double().flatten(start_dim=start.dim() - point_dims).norm(dim=-1)
    reached = (1 - after.norm(dim=-1) / size >= fraction).int()
    first = reached.argmax(dim=0)  # the first of the maxima
    return torch.where(reached.any(dim=0), first, torch.full_like(first, len(after)))
