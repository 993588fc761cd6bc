"""TPSMM model settings: dataclasses, the reference YAML ``model_params`` layout, and inference from weights.

A reference checkpoint carries no config, but every setting that changes tensor shapes can be read back
from its state dicts: the number of splines (the keypoint head), widths and block counts, the occlusion
variant (one mask or four), the dense motion network's scale factor (its anti-alias kernel), whether there is
a background predictor and an AVD network (and its bottleneck sizes). Only the image size leaves no trace
(the ResNet pools globally): 256 unless a config says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

# The reference ``dense_motion_params`` have FOMM's fields (``kp_variance`` is never set in TPSMM's configs).
from fomm_cli.config import DenseMotionConfig, anti_alias_kernel_size, dataclass_from_mapping
from fomm_cli.errors import FommError

FAMILY = "tpsmm"
MODEL_TYPE = "thin-plate-spline-motion-model"

# Sub-modules in the order, and under the names, the reference checkpoints store them.
PARTS = ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor", "avd_network")
REQUIRED_PARTS = PARTS[:3]


@dataclass
class InpaintingConfig:
    """The reference ``generator_params``."""

    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 3


@dataclass
class AVDConfig:
    """The reference ``avd_network_params``."""

    id_bottle_size: int = 64
    pose_bottle_size: int = 64


@dataclass
class TPSMMConfig:
    """Everything needed to rebuild a Thin-Plate Spline Motion Model. ``image_size`` is (height, width).

    ``bg``: the model has a background motion predictor; ``avd``: it has an AVD network (None: it has none).
    Every reference config lists ``avd_network_params``; a model built from one has an AVD network only if
    its weights do (see ``fomm_cli.checkpoints``). Sampling uses ``align_corners=True`` throughout, as the
    reference does: it is fixed for the family, not a setting.
    """

    family: ClassVar[str] = FAMILY
    align_corners: ClassVar[bool] = True

    num_tps: int = 10
    num_channels: int = 3
    bg: bool = True
    multi_mask: bool = True
    generator: InpaintingConfig = field(default_factory=InpaintingConfig)
    dense_motion: DenseMotionConfig = field(default_factory=DenseMotionConfig)
    avd: AVDConfig | None = field(default_factory=AVDConfig)
    image_size: tuple[int, int] = (256, 256)

    def __post_init__(self) -> None:
        self.image_size = (int(self.image_size[0]), int(self.image_size[1]))

    def size_multiple(self) -> int:
        """Image sides must be multiples of this (every pooling level of both networks halves exactly)."""
        dense = round(1 / self.dense_motion.scale_factor) * 2**self.dense_motion.num_blocks
        return math.lcm(dense, 2**self.generator.num_down_blocks)

    def problem(self) -> tuple[str, str] | None:
        """(key, what is wrong) for the first value no model can be built with, or None."""
        scale = self.dense_motion.scale_factor
        inverse = 1 / scale if 0 < scale <= 1 else 0.0
        ups = math.log2(inverse) if inverse >= 1 else -1.0
        checks = [
            ("num_tps", self.num_tps >= 1, f"num_tps {self.num_tps}"),
            # The keypoint detector is a ResNet-18 on RGB (the reference ignores num_channels there).
            ("num_channels", self.num_channels == 3, f"num_channels {self.num_channels} (the ResNet reads RGB)"),
            ("dense_motion_params.scale_factor", inverse >= 1 and inverse == round(inverse), f"scale_factor {scale}"),
            ("dense_motion_params.kp_variance", self.dense_motion.kp_variance > 0,
             f"kp_variance {self.dense_motion.kp_variance}"),
            ("generator_params.num_down_blocks", not self.multi_mask or self.generator.num_down_blocks == 3,
             f"num_down_blocks {self.generator.num_down_blocks} with multi_mask (one mask per level: 3 down blocks)"),
            ("dense_motion_params.scale_factor", not self.multi_mask or (ups == round(ups) and ups <= 4),
             f"scale_factor {scale} with multi_mask (1, 1/2, 1/4, 1/8 or 1/16)"),
        ]
        for key, ok, shown in checks:
            if not ok:
                return key, shown
        multiple = self.size_multiple()
        if any(side < 8 or side % multiple for side in self.image_size):
            return "image_size", f"image_size {list(self.image_size)} (sides must be multiples of {multiple})"
        return None

    # -- reference layout ------------------------------------------------------------------------

    def to_official(self) -> dict[str, Any]:
        """The ``model_params`` block of a reference YAML config."""
        dense = asdict(self.dense_motion)
        if dense["kp_variance"] == 0.01:
            del dense["kp_variance"]
        out: dict[str, Any] = {
            "common_params": {"num_tps": self.num_tps, "num_channels": self.num_channels, "bg": self.bg,
                              "multi_mask": self.multi_mask},
            "generator_params": asdict(self.generator),
            "dense_motion_params": dense,
        }
        if self.avd is not None:
            out["avd_network_params"] = asdict(self.avd)
        return out

    @classmethod
    def from_official(cls, model_params: Mapping[str, Any], frame_shape: Any = None) -> TPSMMConfig:
        """Build from a reference ``model_params`` mapping and ``dataset_params.frame_shape`` (a list, a
        "768,768,3" string as in the 768 px fine-tune config, or None for 256 x 256)."""
        try:
            common = dict(model_params["common_params"])
            num_tps = int(common.pop("num_tps"))
            num_channels = int(common.pop("num_channels", 3))
            bg = bool(common.pop("bg", False))
            multi_mask = bool(common.pop("multi_mask", True))
            if common:
                raise ValueError(f"unknown common_params keys {sorted(common)}")
            generator = dataclass_from_mapping(InpaintingConfig, model_params["generator_params"], "generator_params")
            dense = dataclass_from_mapping(DenseMotionConfig, model_params["dense_motion_params"],
                                           "dense_motion_params")
            avd_params = model_params.get("avd_network_params")
            avd = dataclass_from_mapping(AVDConfig, avd_params, "avd_network_params") if avd_params else None
            return cls(num_tps=num_tps, num_channels=num_channels, bg=bg, multi_mask=multi_mask,
                       generator=generator, dense_motion=dense, avd=avd, image_size=_frame_size(frame_shape))
        except (KeyError, TypeError, ValueError) as err:
            raise FommError(f"not a TPSMM model_params block: {err}") from None

    # -- our config.json -------------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        return {"family": FAMILY, "model_type": MODEL_TYPE, "model_params": self.to_official(),
                "image_size": list(self.image_size)}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> TPSMMConfig:
        if "model_params" not in data:
            raise FommError("config has no 'model_params' block")
        return cls.from_official(data["model_params"], data.get("image_size"))


def is_tpsmm_params(model_params: object) -> bool:
    """Whether an official ``model_params`` block describes a TPSMM (it counts splines, not keypoints)."""
    common = model_params.get("common_params") if isinstance(model_params, Mapping) else None
    return isinstance(common, Mapping) and "num_tps" in common


def _frame_size(frame_shape: Any) -> tuple[int, int]:
    if frame_shape is None:
        return (256, 256)
    if isinstance(frame_shape, str):
        frame_shape = [part for part in frame_shape.replace(" ", "").split(",") if part]
    return (int(frame_shape[0]), int(frame_shape[1]))


# -- inference from state dicts ------------------------------------------------------------------------


def _count(state: Mapping[str, Any], prefix: str) -> int:
    """How many consecutive indexed children ``prefix.0``, ``prefix.1`` ... exist."""
    n = 0
    while any(k.startswith(f"{prefix}.{n}.") for k in state):
        n += 1
    return n


def _max_features(widths: list[int], block_expansion: int, num_blocks: int, preferred: int) -> int:
    """The cap on widths: read off when it bites, otherwise the reference default if consistent."""
    uncapped = block_expansion * 2**num_blocks
    top = max(widths)
    if top < uncapped:
        return top
    return preferred if preferred >= uncapped else uncapped


_SCALES_BY_KERNEL = {anti_alias_kernel_size(1 / n): 1 / n for n in range(2, 17)}


def infer_tpsmm_config(states: Mapping[str, Mapping[str, Any]]) -> TPSMMConfig:
    """Reconstruct the architecture of a reference checkpoint from its parts' tensor names and shapes.

    A tensor the architecture needs but the states lack raises ``KeyError`` with its name; an anti-alias
    kernel of no known scale raises ``ValueError``.
    """
    kp, dense, inpainting = (states[part] for part in REQUIRED_PARTS)
    num_tps = int(kp["fg_encoder.fc.weight"].shape[0]) // 10
    num_channels = int(inpainting["first.conv.weight"].shape[1])

    num_down = _count(inpainting, "down_blocks")
    gen_be = int(inpainting["first.conv.weight"].shape[0])
    gen_widths = [gen_be] + [int(inpainting[f"down_blocks.{i}.conv.weight"].shape[0]) for i in range(num_down)]
    generator = InpaintingConfig(block_expansion=gen_be, num_down_blocks=num_down,
                                 max_features=_max_features(gen_widths, gen_be, num_down, 512))

    prefix = "hourglass.encoder.down_blocks"
    num_blocks = _count(dense, prefix)
    widths = [int(dense[f"{prefix}.{i}.conv.weight"].shape[0]) for i in range(num_blocks)]
    in_features = num_channels * (num_tps + 1) + num_tps * 5 + 1
    dm_be = int(dense["maps.weight"].shape[1]) - in_features
    scale = 1.0
    if "down.weight" in dense:
        size = int(dense["down.weight"].shape[-1])
        if size not in _SCALES_BY_KERNEL:
            raise ValueError(f"no scale factor has an anti-alias kernel of size {size}")
        scale = _SCALES_BY_KERNEL[size]
    dense_config = DenseMotionConfig(block_expansion=dm_be, num_blocks=num_blocks, scale_factor=scale,
                                     max_features=_max_features(widths, dm_be, num_blocks, 1024))

    avd = None
    if states.get("avd_network"):
        avd_state = states["avd_network"]
        avd = AVDConfig(id_bottle_size=int(avd_state["id_encoder.9.weight"].shape[0]),
                        pose_bottle_size=int(avd_state["pose_encoder.9.weight"].shape[0]))
    return TPSMMConfig(num_tps=num_tps, num_channels=num_channels, bg=bool(states.get("bg_predictor")),
                       multi_mask=_count(dense, "occlusion") > 1, generator=generator,
                       dense_motion=dense_config, avd=avd)
