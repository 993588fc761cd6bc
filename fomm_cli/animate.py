"""The animation pipeline: encode the source once, push driving frames through in batches, stream out.

Frames in and out are uint8 H x W x 3 RGB numpy arrays at the model's size; everything source-only
(keypoints, encoder features, the dense-motion network's downscaled source) is computed once.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from fomm_cli.errors import FommError
from fomm_cli.models.inference import prepare_for_inference
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.motion import MotionTransfer, check_motion_scale, transfer_keypoints
from fomm_cli.smoothing import KeypointSmoother, check_strength

T = TypeVar("T")

PRECISIONS = ("fp32", "bf16", "fp16")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; an unavailable device is a user error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FommError("--device cuda requested but CUDA is not available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise FommError("--device mps requested but MPS is not available")
    try:
        return torch.device(name)
    except RuntimeError:
        raise FommError(f"unknown device {name!r} (auto, cpu, cuda, cuda:N or mps)") from None


def to_tensor(frames: np.ndarray | list[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 (B x) H x W x 3 -> float32 B x 3 x H x W in [0, 1] on ``device``."""
    array = np.stack(frames) if isinstance(frames, list) else frames
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
    """Everything that depends on the source image alone."""

    image: torch.Tensor
    keypoints: Keypoints
    features: torch.Tensor
    small: torch.Tensor


class Animator:
    """Animate a source image with driving frames.

    relative: move the source keypoints by the driving motion since the reference frame (default) instead
    of copying the driving keypoints (absolute). adapt_scale: scale that motion by the ratio of keypoint hull
    sizes. precision: fp32 (exact), bf16 (CPU or CUDA) or fp16 (CUDA) for the convolutions; keypoint
    means, motion math and sampling stay in float32. smoothing: filter the driving keypoints in time with this
    strength (frames, see ``fomm_cli.smoothing.KeypointSmoother``); None (default) leaves them as detected.
    motion_scale: multiply the transferred motion (``fomm_cli.motion``): 1 (default) as is, 0 none, > 1 more.

    The animator works on its own copy of the model, with BatchNorm folded into the convolutions and, unless
    ``channels_last`` is False, channels-last weights (faster convolutions on CPU and on CUDA tensor cores).
    """

    def __init__(self, model: FirstOrderModel, device: str | torch.device = "cpu", *, relative: bool = True,
                 adapt_scale: bool = True, batch_size: int = 8, precision: str = "fp32",
                 channels_last: bool = True, smoothing: float | None = None, motion_scale: float = 1.0) -> None:
        if precision not in PRECISIONS:
            raise FommError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
        self.device = resolve_device(device) if isinstance(device, str) else device
        if precision == "fp16" and self.device.type != "cuda":
            raise FommError("--precision fp16 needs a CUDA device; use bf16 on CPU")
        if batch_size < 1:
            raise FommError("batch size must be at least 1")
        self.model = prepare_for_inference(model, self.device, channels_last)
        if precision != "fp32":  # convolutions in half precision; keypoint means and motion math in float32
            self.model.to(torch.bfloat16 if precision == "bf16" else torch.float16)
        self.relative = relative
        self.adapt_scale = adapt_scale
        self.smoothing = None if smoothing is None else check_strength(smoothing)
        self.motion_scale = check_motion_scale(motion_scale)
        self.batch_size = batch_size
        self.precision = precision
        self.image_size = model.config.image_size

    def _check_size(self, frame: np.ndarray, what: str) -> None:
        if frame.shape[:2] != tuple(self.image_size) or frame.ndim != 3 or frame.shape[2] != 3:
            h, w = self.image_size
            raise FommError(f"{what} must be {h}x{w}x3 uint8, got {'x'.join(map(str, frame.shape))}")

    @torch.inference_mode()
    def keypoints(self, frames: np.ndarray | list[np.ndarray]) -> Keypoints:
        """Keypoints of uint8 frames (float32 values and jacobians)."""
        return self.model.kp_detector(to_tensor(frames, self.device))

    @torch.inference_mode()
    def encode_source(self, source: np.ndarray) -> EncodedSource:
        self._check_size(source, "source image")
        image = to_tensor(source, self.device)
        generator = self.model.generator
        features = generator.encode(image)
        small = generator.dense_motion_network.downscale(image) if generator.dense_motion_network else image
        return EncodedSource(image, self.model.kp_detector(image), features, small)

    @torch.inference_mode()
    def render(self, source: EncodedSource, kp_driving: Keypoints, kp_reference: Keypoints,
               scale: float) -> torch.Tensor:
        """Predictions (B x 3 x H x W in [0, 1], float32) for a batch of driving keypoints."""
        kp = transfer_keypoints(source.keypoints, kp_driving, kp_reference, relative=self.relative,
                                relative_jacobian=self.relative, scale=scale, motion_scale=self.motion_scale)
        return self.generate(source, kp)

    @torch.inference_mode()
    def generate(self, source: EncodedSource, kp: Keypoints) -> torch.Tensor:
        """Predictions (B x 3 x H x W in [0, 1], float32) for B sets of keypoints that drive the source."""
        kp_source = source.keypoints.expand(kp.value.shape[0])
        return self.model.generator.animate(source.features, source.small, kp, kp_source, source.image)

    def animate(self, source: np.ndarray, driving: Iterable[np.ndarray],
                reference: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Yield one uint8 frame per driving frame.

        reference: the driving frame whose pose corresponds to the source (relative mode); default the first
        driving frame. Animating "forward and backward from frame N" is this with reference = frame N.
        """
        frames = iter(driving)
        first = next(frames, None)
        if first is None:
            raise FommError("the driving video has no frames")
        frames = itertools.chain([first], frames)
        encoded = self.encode_source(source)
        reference_frame = first if reference is None else reference
        self._check_size(reference_frame, "driving frames")
        smoother = None if self.smoothing is None else KeypointSmoother(self.smoothing)
        transfer = MotionTransfer(encoded.keypoints, self.keypoints(reference_frame), relative=self.relative,
                                  adapt_scale=self.adapt_scale, motion_scale=self.motion_scale, smoother=smoother)
        self.last_movement_scale = transfer.scale
        for batch in batched(frames, self.batch_size, ramp=True):
            for frame in batch:
                self._check_size(frame, "driving frames")
            yield from to_uint8(self.generate(encoded, transfer(self.keypoints(batch))))


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
