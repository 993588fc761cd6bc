"""The animation pipeline: encode each source once, push driving frames through in batches, stream out.

Frames in and out are uint8 H x W x 3 RGB numpy arrays at the model's size. The pipeline knows nothing
of a model family: it talks to an ``InferenceEngine`` (built by the model's ``for_inference``), which
detects keypoints, encodes a source once and renders a batch from transferred keypoints. Everything
source-only is computed once; the driving keypoints of a batch are computed once for all sources.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from fomm_cli.controls import check_motion_scale, check_strength
from fomm_cli.devices import PRECISIONS, resolve_device
from fomm_cli.errors import ConflictingSettings, InputError, InvalidSetting, one_of
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.motion import MotionTransfer, transfer_keypoints
from fomm_cli.smoothing import KeypointSmoother

T = TypeVar("T")



class InferenceEngine(Protocol):
    """What the pipeline needs from a model family, on one device and at one precision.

    Images are float32 B x 3 x H x W in [0, 1] on ``device``; keypoints follow ``Keypoints``.
    """

    device: torch.device
    image_size: tuple[int, int]
    has_avd: bool

    def keypoints(self, images: torch.Tensor) -> Keypoints:
        """Keypoints of a batch of images (float32 values, jacobians where the family has them)."""
        ...

    def encode_source(self, image: torch.Tensor) -> Any:
        """Everything the renderer needs from a 1 x 3 x H x W source that does not depend on the driving."""
        ...

    def render(self, source: Any, kp_source: Keypoints, kp_driving: Keypoints) -> torch.Tensor:
        """B x 3 x H x W float32 predictions in [0, 1] for B transferred driving keypoint sets."""
        ...

    def avd(self, kp_source: Keypoints, kp_driving: Keypoints) -> Keypoints:
        """Keypoints from an animation-via-disentanglement network (only when ``has_avd``)."""
        ...


class AnimatableModel(Protocol):
    """A model family's container (``FirstOrderModel``, ...): it builds its own inference engine."""

    def for_inference(self, device: torch.device, *, precision: str = "fp32",
                      channels_last: bool = True) -> InferenceEngine:
        ...


def to_tensor(frames: np.ndarray | Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 (B x) H x W x 3 -> float32 B x 3 x H x W in [0, 1] on ``device``."""
    array = frames if isinstance(frames, np.ndarray) else np.stack(frames)
    if array.ndim == 3:
        array = array[None]
    if not array.flags.writeable:  # frames decoded straight from an ffmpeg buffer
        array = array.copy()
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device, non_blocking=True)
    return tensor.permute(0, 3, 1, 2).float().div_(255.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """B x 3 x H x W in [0, 1] -> uint8 B x H x W x 3 (round half to even, like skimage's img_as_ubyte)."""
    out = images.float().mul(255.0).round_().clamp_(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1).cpu().numpy()


@dataclass
class EncodedSource:
    """A source image, its keypoints, and the engine's source-only state."""

    image: torch.Tensor
    keypoints: Keypoints
    state: Any


class Animator:
    """Animate source images with driving frames.

    relative: move the source keypoints by the driving motion since the reference frame (default) instead
    of copying the driving keypoints (absolute). adapt_scale: scale that motion by the ratio of keypoint hull
    sizes. avd: let the model's animation-via-disentanglement network map the keypoints instead (models
    that have one). precision: fp32 (exact), bf16 (CPU or CUDA) or fp16 (CUDA) for the convolutions;
    keypoint means, motion math and sampling stay in float32. The engine works on its own copy of the model.
    smoothing: filter the driving keypoints in time with this strength (frames, see
    ``fomm_cli.smoothing.KeypointSmoother``); None (default) leaves them as detected. motion_scale: multiply
    the transferred motion (``fomm_cli.motion``): 1 (default) as is, 0 none, above 1 more.
    """

    def __init__(self, model: AnimatableModel, device: str | torch.device = "cpu", *, relative: bool = True,
                 adapt_scale: bool = True, avd: bool = False, batch_size: int = 8, precision: str = "fp32",
                 channels_last: bool = True, smoothing: float | None = None, motion_scale: float = 1.0) -> None:
        if precision not in PRECISIONS:
            raise InvalidSetting("precision", precision, one_of(PRECISIONS))
        if batch_size < 1:
            raise InvalidSetting("batch_size", batch_size, "at least 1")
        self.device = resolve_device(device) if isinstance(device, str) else device
        if precision == "fp16" and self.device.type != "cuda":
            raise ConflictingSettings(("precision", "device"), "fp16 needs a CUDA device; use bf16 on the CPU")
        self.engine = model.for_inference(self.device, precision=precision, channels_last=channels_last)
        if avd and not self.engine.has_avd:
            # Named by the flag alone: the model may come from --model or --checkpoint.
            raise ConflictingSettings(("avd",), "this model has no animation-via-disentanglement network "
                                      "(`fomm train --avd` trains one for a TPSMM)")
        if avd and not relative:
            raise ConflictingSettings(("avd", "relative"), "AVD replaces relative and absolute transfer")
        self.smoothing = None if smoothing is None else check_strength(smoothing)
        self.motion_scale = check_motion_scale(motion_scale)
        if avd and self.motion_scale != 1:
            raise ConflictingSettings(("avd", "motion_scale"), "AVD makes its own keypoints; motion_scale scales "
                                      "relative or absolute transfer")
        self.relative = relative
        self.adapt_scale = adapt_scale
        self.avd = avd
        self.batch_size = batch_size
        self.precision = precision
        self.image_size = self.engine.image_size

    def _check_size(self, frame: np.ndarray, what: str) -> None:
        if frame.ndim != 3 or frame.shape[:2] != tuple(self.image_size) or frame.shape[2] != 3:
            h, w = self.image_size
            shape = "x".join(map(str, frame.shape))
            raise InputError(what, f"must be {h}x{w}x3 uint8 at the model's size, got {shape}")

    @torch.inference_mode()
    def keypoints(self, frames: np.ndarray | Sequence[np.ndarray]) -> Keypoints:
        """Keypoints of uint8 frames (float32 values and jacobians)."""
        return self.engine.keypoints(to_tensor(frames, self.device))

    @torch.inference_mode()
    def encode_source(self, source: np.ndarray) -> EncodedSource:
        self._check_size(source, "source image")
        image = to_tensor(source, self.device)
        return EncodedSource(image, self.engine.keypoints(image), self.engine.encode_source(image))

    @torch.inference_mode()
    def render(self, source: EncodedSource, kp_driving: Keypoints, kp_reference: Keypoints,
               scale: float) -> torch.Tensor:
        """Predictions (B x 3 x H x W in [0, 1], float32) for one batch of driving keypoints, without
        smoothing (``start`` gives the stateful, smoothed stream)."""
        if self.avd:
            kp = self.engine.avd(source.keypoints.expand(len(kp_driving)), kp_driving)
        else:
            kp = transfer_keypoints(source.keypoints, kp_driving, kp_reference, relative=self.relative,
                                    relative_jacobian=self.relative, scale=scale, motion_scale=self.motion_scale)
        return self.engine.render(source.state, source.keypoints.expand(len(kp)), kp)

    def start(self, sources: Sequence[np.ndarray], reference: np.ndarray) -> Animation:
        """An animation of each source in ``sources`` with one driving video whose pose at ``reference``
        corresponds to the sources' (relative mode)."""
        self._check_size(reference, "reference frame")
        encoded = [self.encode_source(source) for source in sources]
        kp_reference = self.keypoints(reference)
        transfers = [MotionTransfer(e.keypoints, kp_reference, relative=self.relative,
                                    adapt_scale=self.adapt_scale and not self.avd, motion_scale=self.motion_scale,
                                    smoother=None if self.smoothing is None else KeypointSmoother(self.smoothing))
                     for e in encoded]
        return Animation(self, encoded, transfers)

    def animate(self, source: np.ndarray, driving: Iterable[np.ndarray],
                reference: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Yield one uint8 frame per driving frame.

        reference: the driving frame whose pose corresponds to the source (relative mode); default the first
        driving frame. Animating "forward and backward from frame N" is this with reference = frame N.
        """
        frames = iter(driving)
        first = next(frames, None)
        if first is None:
            raise InputError("driving video", "has no frames")
        animation = self.start([source], first if reference is None else reference)
        for results in animation.frames(itertools.chain([first], frames)):
            yield results[0]


class Animation:
    """One driving video applied to one or more encoded sources (``Animator.start``): each source has its
    own motion state (``MotionTransfer``: adapted movement scale, smoothing filter); the driving keypoints of
    a batch are detected once for all of them. Batches must arrive in frame order."""

    def __init__(self, animator: Animator, sources: list[EncodedSource], transfers: list[MotionTransfer]) -> None:
        self.animator = animator
        self.sources = sources
        self.transfers = transfers

    @property
    def movement_scales(self) -> list[float]:
        """The adapted movement scale of each source (1 when not adapting)."""
        return [transfer.scale for transfer in self.transfers]

    @torch.inference_mode()
    def _render(self, source: EncodedSource, transfer: MotionTransfer, kp_driving: Keypoints) -> np.ndarray:
        engine = self.animator.engine
        kp_source = source.keypoints.expand(len(kp_driving))
        if self.animator.avd:  # the AVD network maps (smoothed) driving keypoints itself
            kp = engine.avd(kp_source, transfer.smoother(kp_driving) if transfer.smoother else kp_driving)
        else:
            kp = transfer(kp_driving)
        return to_uint8(engine.render(source.state, kp_source, kp))

    def frames(self, driving: Iterable[np.ndarray]) -> Iterator[list[np.ndarray]]:
        """For each driving frame, the list of uint8 results, one per source. The first batches ramp up
        (1, 2, 4, ...) so the first frame comes out after one frame's work."""
        animator = self.animator
        for batch in batched(driving, animator.batch_size, ramp=True):
            for frame in batch:
                animator._check_size(frame, "driving frames")
            kp_driving = animator.keypoints(batch)
            per_source = [self._render(source, transfer, kp_driving)
                          for source, transfer in zip(self.sources, self.transfers, strict=True)]
            for index in range(len(batch)):
                yield [results[index] for results in per_source]


def batched(items: Iterable[T], size: int, ramp: bool = False) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last may be shorter). With ``ramp`` the first batches have 1, 2, 4 ...
    items, so the first result comes out after one frame's work rather than a full batch's."""
    iterator = iter(items)
    current = 1 if ramp else size
    while batch := list(itertools.islice(iterator, current)):
        yield batch
        current = min(size, current * 2)


def prefetch(items: Iterable[T], depth: int = 16) -> Iterator[T]:
    """Iterate ``items`` on a background thread, ``depth`` ahead: decoding overlaps with compute
    (ffmpeg pipes and torch kernels release the GIL). Exceptions are re-raised in the caller."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def worker() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
            buffer.put(done)
        except BaseException as err:  # handed to the consumer
            buffer.put(err)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                buffer.get_nowait()
