"""Model settings: dataclasses, the official YAML ``model_params`` layout, and inference from weights.

An official checkpoint carries no config; every architecture choice that changes tensor shapes can be
read back from its state dict (widths, block counts, number of keypoints, jacobian and occlusion heads,
anti-alias scale factors from the Gaussian kernel size). The few settings that leave no trace in the
weights (softmax temperature, keypoint conv padding, image size) take the values every official
config uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fomm_cli.errors import FommError

if TYPE_CHECKING:
    from fomm_cli.models.tpsmm.config import TPSMMConfig


@dataclass
class KeypointDetectorConfig:
    temperature: float = 0.1
    block_expansion: int = 32
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    single_jacobian_map: bool = False
    pad: int = 0


@dataclass
class DenseMotionConfig:
    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01


@dataclass
class GeneratorConfig:
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    num_bottleneck_blocks: int = 6
    estimate_occlusion_map: bool = True
    occlusion_blend: bool = False  # ours (see OcclusionAwareGenerator); no tensor shows it: only config.json does
    dense_motion: DenseMotionConfig | None = field(default_factory=DenseMotionConfig)


@dataclass
class DiscriminatorConfig:
    scales: list[float] = field(default_factory=lambda: [1.0])
    block_expansion: int = 32
    max_features: int = 512
    num_blocks: int = 4
    sn: bool = False
    use_kp: bool = False
    kp_variance: float = 0.01


@dataclass
class ModelConfig:
    """Everything needed to rebuild a FOMM model. ``image_size`` is (height, width) of the model input.

    ``align_corners`` is the ``grid_sample`` setting: False is what the official checkpoints ran with under
    torch >= 1.3 (and what reproduces their published outputs today).
    """

    family: ClassVar[str] = "fomm"

    num_kp: int = 10
    num_channels: int = 3
    estimate_jacobian: bool = True
    kp_detector: KeypointDetectorConfig = field(default_factory=KeypointDetectorConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig | None = None
    image_size: tuple[int, int] = (256, 256)
    align_corners: bool = False

    # -- official layout -------------------------------------------------------------------------

    def to_official(self) -> dict[str, Any]:
        """The ``model_params`` block of an official YAML config."""
        kp = asdict(self.kp_detector)
        if not kp["single_jacobian_map"]:
            del kp["single_jacobian_map"]
        if kp["pad"] == 0:
            del kp["pad"]
        gen = asdict(self.generator)
        if not gen["occlusion_blend"]:
            del gen["occlusion_blend"]
        dense = gen.pop("dense_motion")
        if dense is not None:
            if dense["kp_variance"] == 0.01:
                del dense["kp_variance"]
            gen["dense_motion_params"] = dense
        out: dict[str, Any] = {
            "common_params": {"num_kp": self.num_kp, "num_channels": self.num_channels,
                              "estimate_jacobian": self.estimate_jacobian},
            "kp_detector_params": kp,
            "generator_params": gen,
        }
        if self.discriminator is not None:
            disc = asdict(self.discriminator)
            disc["scales"] = [_plain_number(s) for s in disc["scales"]]
            if disc["kp_variance"] == 0.01:
                del disc["kp_variance"]
            if not disc["use_kp"]:
                del disc["use_kp"]
            out["discriminator_params"] = disc
        return out

    @classmethod
    def from_official(cls, model_params: Mapping[str, Any], frame_shape: list[int] | None = None,
                      align_corners: bool = False) -> ModelConfig:
        """Build from an official ``model_params`` mapping (and ``dataset_params.frame_shape``)."""
        try:
            common = dict(model_params.get("common_params", {}))
            kp = dataclass_from_mapping(KeypointDetectorConfig, model_params["kp_detector_params"])
            gen_params = dict(model_params["generator_params"])
            dense_params = gen_params.pop("dense_motion_params", None)
            gen = dataclass_from_mapping(GeneratorConfig, gen_params)
            if dense_params is not None:
                gen.dense_motion = dataclass_from_mapping(DenseMotionConfig, dense_params)
            else:
                gen.dense_motion = None
            disc_params = model_params.get("discriminator_params")
            disc = dataclass_from_mapping(DiscriminatorConfig, disc_params) if disc_params is not None else None
            if disc is not None:
                disc.scales = [float(s) for s in disc.scales]
        except (KeyError, TypeError, ValueError) as err:
            raise FommError(f"not an official FOMM model_params block: {err}") from None
        size = (256, 256) if frame_shape is None else (int(frame_shape[0]), int(frame_shape[1]))
        return cls(
            num_kp=int(common.get("num_kp", 10)),
            num_channels=int(common.get("num_channels", 3)),
            estimate_jacobian=bool(common.get("estimate_jacobian", False)),
            kp_detector=kp, generator=gen, discriminator=disc, image_size=size, align_corners=align_corners,
        )

    # -- our config.json ---------------------------------------------------------------------------

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "model_type": "first-order-motion-model",
            "model_params": self.to_official(),
            "image_size": list(self.image_size),
            "align_corners": self.align_corners,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        if "model_params" not in data:
            raise FommError("config has no 'model_params' block")
        return cls.from_official(data["model_params"], data.get("image_size"), bool(data.get("align_corners", False)))

    @classmethod
    def from_yaml(cls, path: str | Path) -> ModelConfig:
        """Read an official YAML config (``model_params``, ``dataset_params.frame_shape``)."""
        data = load_yaml(path)
        if "model_params" not in data:
            raise FommError(f"{path}: no 'model_params' block (is this an official FOMM config?)")
        frame_shape = (data.get("dataset_params") or {}).get("frame_shape")
        return cls.from_official(data["model_params"], frame_shape, bool(data.get("align_corners", False)))

    def problem(self) -> tuple[str, str] | None:
        """(key, what is wrong) for the first value no model can be built with, or None."""
        size = list(self.image_size)
        checks = [
            ("image_size", len(size) == 2 and all(int(v) >= 8 for v in size), f"image_size {size}"),
            ("num_kp", self.num_kp >= 1, f"num_kp {self.num_kp}"),
            ("num_channels", self.num_channels >= 1, f"num_channels {self.num_channels}"),
            ("kp_detector_params.temperature", self.kp_detector.temperature > 0,
             f"temperature {self.kp_detector.temperature}"),
            ("kp_detector_params.scale_factor", 0 < self.kp_detector.scale_factor <= 1,
             f"scale_factor {self.kp_detector.scale_factor}"),
        ]
        dense = self.generator.dense_motion
        if dense is not None:
            checks += [
                ("dense_motion_params.scale_factor", 0 < dense.scale_factor <= 1, f"scale_factor {dense.scale_factor}"),
                ("dense_motion_params.kp_variance", dense.kp_variance > 0, f"kp_variance {dense.kp_variance}"),
            ]
        for key, ok, shown in checks:
            if not ok:
                return key, shown
        return None

    # -- sub-module constructor arguments ------------------------------------------------------------

    def kp_detector_kwargs(self) -> dict[str, Any]:
        return {**asdict(self.kp_detector), **self._common()}

    def generator_kwargs(self) -> dict[str, Any]:
        gen = asdict(self.generator)
        dense = gen.pop("dense_motion")
        return {**gen, "dense_motion_params": dense, "align_corners": self.align_corners, **self._common()}

    def discriminator_kwargs(self) -> dict[str, Any]:
        if self.discriminator is None:
            raise FommError("this model config has no discriminator")
        return {**asdict(self.discriminator), "num_kp": self.num_kp, "num_channels": self.num_channels}

    def _common(self) -> dict[str, Any]:
        return {"num_kp": self.num_kp, "num_channels": self.num_channels,
                "estimate_jacobian": self.estimate_jacobian}


# -- model families -------------------------------------------------------------------------------------
# A config.json names its family ("fomm" when absent: files written before there were two); an official
# YAML shows it in its model_params (TPSMM counts splines, num_tps, where FOMM counts keypoints).


def config_from_json_dict(data: Mapping[str, Any]) -> ModelConfig | TPSMMConfig:
    """The config of our format's ``config.json``, for its family."""
    family = data.get("family", "fomm")
    if family == "tpsmm":
        from fomm_cli.models.tpsmm.config import TPSMMConfig

        return TPSMMConfig.from_json_dict(data)
    if family != "fomm":
        raise FommError(f"unknown model family {family!r} in config (fomm or tpsmm)")
    return ModelConfig.from_json_dict(data)


def config_from_yaml(path: str | Path) -> ModelConfig | TPSMMConfig:
    """An official FOMM or TPSMM YAML config (``model_params``, ``dataset_params.frame_shape``)."""
    from fomm_cli.models.tpsmm.config import TPSMMConfig, is_tpsmm_params

    data = load_yaml(path)
    if is_tpsmm_params(data.get("model_params")):
        return TPSMMConfig.from_official(data["model_params"], (data.get("dataset_params") or {}).get("frame_shape"))
    return ModelConfig.from_yaml(path)


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh)
    except OSError as err:
        raise FommError(f"cannot read config {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise FommError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise FommError(f"{path} is not a YAML mapping")
    return data


def dataclass_from_mapping(cls: type, params: Mapping[str, Any], where: str | None = None) -> Any:
    """Instantiate a dataclass from a config mapping; unknown keys are an error (likely a typo).

    ``where`` names the block in messages (default: the dataclass name). Raises ValueError.
    """
    where = where or cls.__name__
    if not isinstance(params, Mapping):
        raise ValueError(f"{where} must be a mapping")
    known = {f.name for f in fields(cls)}
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"unknown {where} keys {sorted(unknown)}")
    return cls(**params)


def _plain_number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


# -- inference from a state dict ---------------------------------------------------------------------

def anti_alias_kernel_size(scale: float) -> int:
    """Side of the Gaussian kernel that ``AntiAliasDownsample`` uses for ``scale`` (sigma = (1 / scale - 1) / 2,
    k = 2 round(4 sigma) + 1); config inference reads the scale back from this size."""
    return 2 * round((1 / scale - 1) / 2 * 4) + 1


_SCALES_BY_KERNEL = {anti_alias_kernel_size(1 / n): 1 / n for n in range(2, 17)}


def _count(state: Mapping[str, Any], prefix: str) -> int:
    """How many consecutive indexed children ``prefix.0``, ``prefix.1`` ... exist."""
    n = 0
    while any(k.startswith(f"{prefix}.{n}.") for k in state):
        n += 1
    return n


def _count_bottleneck(state: Mapping[str, Any]) -> int:
    return sum(1 for k in state if k.startswith("bottleneck.") and k.endswith(".conv1.weight"))


def _max_features(widths: list[int], block_expansion: int, num_blocks: int, preferred: int) -> int:
    """The cap on hourglass widths: read off when it bites, otherwise the official default if consistent."""
    uncapped = block_expansion * 2**num_blocks
    top = max(widths)
    if top < uncapped:
        return top
    return preferred if preferred >= uncapped else uncapped


def _scale_from(state: Mapping[str, Any], key: str) -> float:
    if key not in state:
        return 1
    size = int(state[key].shape[-1])
    if size not in _SCALES_BY_KERNEL:
        raise FommError(f"cannot infer a scale factor from an anti-alias kernel of size {size} ({key})")
    return _SCALES_BY_KERNEL[size]


def infer_config(kp_state: Mapping[str, Any], gen_state: Mapping[str, Any],
                 disc_state: Mapping[str, Any] | None = None) -> ModelConfig:
    """Reconstruct the architecture of an official checkpoint from its tensors' names and shapes.

    A tensor the architecture needs but the state lacks raises ``KeyError`` with its name.
    """
    num_kp = int(kp_state["kp.weight"].shape[0])
    num_channels = int(kp_state["predictor.encoder.down_blocks.0.conv.weight"].shape[1])
    kp_blocks = _count(kp_state, "predictor.encoder.down_blocks")
    kp_widths = [int(kp_state[f"predictor.encoder.down_blocks.{i}.conv.weight"].shape[0])
                 for i in range(kp_blocks)]
    kp_be = int(kp_state["kp.weight"].shape[1]) - num_channels
    estimate_jacobian = "jacobian.weight" in kp_state
    single_map = estimate_jacobian and int(kp_state["jacobian.weight"].shape[0]) == 4 and num_kp != 1
    kp = KeypointDetectorConfig(
        block_expansion=kp_be, num_blocks=kp_blocks,
        max_features=_max_features(kp_widths, kp_be, kp_blocks, 1024),
        scale_factor=_scale_from(kp_state, "down.weight"), single_jacobian_map=single_map,
    )

    gen_be = int(gen_state["first.conv.weight"].shape[0])
    num_down = _count(gen_state, "down_blocks")
    gen_widths = [gen_be] + [int(gen_state[f"down_blocks.{i}.conv.weight"].shape[0]) for i in range(num_down)]
    dense = None
    if "dense_motion_network.mask.weight" in gen_state:
        prefix = "dense_motion_network.hourglass.encoder.down_blocks"
        dm_blocks = _count(gen_state, prefix)
        dm_widths = [int(gen_state[f"{prefix}.{i}.conv.weight"].shape[0]) for i in range(dm_blocks)]
        dm_in = (num_kp + 1) * (num_channels + 1)
        dm_be = int(gen_state["dense_motion_network.mask.weight"].shape[1]) - dm_in
        dense = DenseMotionConfig(
            block_expansion=dm_be, num_blocks=dm_blocks,
            max_features=_max_features(dm_widths, dm_be, dm_blocks, 1024),
            scale_factor=_scale_from(gen_state, "dense_motion_network.down.weight"),
        )
    gen = GeneratorConfig(
        block_expansion=gen_be, num_down_blocks=num_down,
        max_features=_max_features(gen_widths, gen_be, num_down, 512),
        num_bottleneck_blocks=_count_bottleneck(gen_state),
        estimate_occlusion_map="dense_motion_network.occlusion.weight" in gen_state,
        dense_motion=dense,
    )

    disc = None
    if disc_state:
        disc = _infer_discriminator(disc_state, num_kp, num_channels)
    return ModelConfig(num_kp=num_kp, num_channels=num_channels, estimate_jacobian=estimate_jacobian,
                       kp_detector=kp, generator=gen, discriminator=disc)


def _infer_discriminator(state: Mapping[str, Any], num_kp: int, num_channels: int) -> DiscriminatorConfig:
    keys = sorted({k.split(".")[1] for k in state if k.startswith("discs.")})
    scales = sorted((float(k.replace("-", ".")) for k in keys), reverse=True)
    first = keys[0]
    sn = f"discs.{first}.conv.weight_orig" in state
    suffix = "weight_orig" if sn else "weight"
    prefix = f"discs.{first}.down_blocks"
    num_blocks = _count(state, prefix)
    widths = [int(state[f"{prefix}.{i}.conv.{suffix}"].shape[0]) for i in range(num_blocks)]
    be = widths[0] // 2
    in_ch = int(state[f"{prefix}.0.conv.{suffix}"].shape[1])
    return DiscriminatorConfig(
        scales=scales, block_expansion=be, num_blocks=num_blocks,
        max_features=_max_features(widths, be, num_blocks, 512), sn=sn, use_kp=in_ch == num_channels + num_kp,
    )
