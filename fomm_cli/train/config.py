"""Training settings: the official YAML layout (``dataset_params``, ``model_params``, ``train_params``,
``visualizer_params``) as dataclasses, plus a few keys of ours in ``train_params`` (step-based
checkpointing and logging, the perceptual loss kind, the seed). Unknown keys are errors (likely typos);
other top-level blocks (``reconstruction_params``, ``animate_params``) are kept verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fomm_cli.config import ModelConfig, dataclass_from_mapping, load_yaml
from fomm_cli.errors import FommError

if TYPE_CHECKING:
    from fomm_cli.train.tpsmm_config import TPSMMTrainConfig

PERCEPTUAL_KINDS = ("vgg19", "l1")
TPS_FORMS = ("reference", "euclidean", "tpsmm")  # see fomm_cli.train.transforms
PRECISIONS = ("fp32", "bf16", "fp16")  # fp16: CUDA only


@dataclass
class FlipParams:
    horizontal_flip: bool = False
    time_flip: bool = False


@dataclass
class RotationParams:
    """Rotate both frames by one angle from [-degrees, degrees] (or [min, max])."""

    degrees: float | list[float] = 0.0


@dataclass
class ResizeParams:
    """Rescale both frames by one factor from ``ratio`` = [min, max]."""

    ratio: list[float] = field(default_factory=lambda: [0.9, 1.1])


@dataclass
class CropParams:
    """Random crop (edge-padded when smaller) to ``size`` = [height, width]."""

    size: list[int] = field(default_factory=lambda: [256, 256])


@dataclass
class JitterParams:
    """Colour jitter factors as in torchvision: brightness/contrast/saturation in [1 - x, 1 + x], hue in [-x, x]."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0


@dataclass
class AugmentationConfig:
    """Applied in this order, with the same random parameters for both frames of a sample."""

    flip_param: FlipParams | None = None
    rotation_param: RotationParams | None = None
    resize_param: ResizeParams | None = None
    crop_param: CropParams | None = None
    jitter_param: JitterParams | None = None


@dataclass
class DatasetConfig:
    root_dir: str | None = None
    frame_shape: list[int] = field(default_factory=lambda: [256, 256, 3])
    id_sampling: bool = False
    pairs_list: str | None = None  # used by evaluation only; kept so the config round-trips
    augmentation_params: AugmentationConfig = field(default_factory=AugmentationConfig)


@dataclass
class TransformParams:
    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5


@dataclass
class LossWeights:
    generator_gan: float = 0.0
    discriminator_gan: float = 1.0
    feature_matching: list[float] = field(default_factory=lambda: [10.0, 10.0, 10.0, 10.0])
    perceptual: list[float] = field(default_factory=lambda: [10.0, 10.0, 10.0, 10.0, 10.0])
    equivariance_value: float = 10.0
    equivariance_jacobian: float = 10.0


@dataclass
class TrainParams:
    num_epochs: int = 100
    num_repeats: int = 1
    epoch_milestones: list[int] = field(default_factory=list)
    lr_generator: float = 2.0e-4
    lr_discriminator: float = 2.0e-4
    lr_kp_detector: float = 2.0e-4
    batch_size: int = 8
    scales: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.125])
    checkpoint_freq: int = 50  # epochs: such checkpoints are kept for good (never pruned)
    transform_params: TransformParams = field(default_factory=TransformParams)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    # Ours (the official trainer ignores them):
    max_steps: int | None = None  # stop at this global step even if epochs remain
    checkpoint_every: int = 1000  # steps between resumable checkpoints
    keep_checkpoints: int = 3  # rolling checkpoints kept (the newest)
    log_every: int = 10  # steps between log.jsonl lines
    visualize_every: int = 500  # steps between visuals/step-*.png
    perceptual_loss: str = "vgg19"  # vgg19 | l1 (pixel pyramid, weight = sum of the perceptual weights)
    seed: int = 0
    # fomm's variants of the reference trainer, off in the official presets (tuned for the reference);
    # see checkpoints/demo/TRAINING.md for what each one measurably does:
    warp_tps: str = "reference"  # the equivariance warp's thin-plate spline: reference | euclidean | tpsmm
    warp_align_corners: bool = False  # True: the zero equivariance warp is exactly the identity
    keypoints_one_pass: bool = False  # True: one detector call on source, driving and warped frames together


@dataclass
class VisualizerParams:
    """``colormap`` is kept for compatibility; keypoints are always drawn around the hue wheel."""

    kp_size: int = 5
    draw_border: bool = True
    colormap: str = "gist_rainbow"


@dataclass
class TrainConfig:
    model: ModelConfig
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainParams = field(default_factory=TrainParams)
    visualizer: VisualizerParams = field(default_factory=VisualizerParams)
    extra: dict[str, Any] = field(default_factory=dict)

    # -- reading ---------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> TrainConfig:
        """Parse (keys and types); cross-field checks wait for ``validate``, after command-line overrides."""
        if "model_params" not in data:
            raise FommError(f"{source}: no 'model_params' block (is this an official FOMM config?)")
        try:
            dataset = _dataset(data.get("dataset_params") or {})
            train = _train(data.get("train_params") or {})
            visualizer = dataclass_from_mapping(VisualizerParams, data.get("visualizer_params") or {},
                                                "visualizer_params")
        except (TypeError, ValueError) as err:
            raise FommError(f"{source}: {err}") from None
        # A top-level ``align_corners`` (ours; official configs have none) stays in ``extra``, so it round-trips.
        model = ModelConfig.from_official(data["model_params"], dataset.frame_shape,
                                          bool(data.get("align_corners", False)))
        extra = {k: v for k, v in data.items()
                 if k not in ("dataset_params", "model_params", "train_params", "visualizer_params")}
        return cls(model=model, dataset=dataset, train=train, visualizer=visualizer, extra=extra)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(load_yaml(path), str(path))

    # -- writing ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The official layout (our extra ``train_params`` keys included)."""
        return {
            "dataset_params": _drop_none(asdict(self.dataset)),
            "model_params": self.model.to_official(),
            "train_params": _drop_none(asdict(self.train)),
            "visualizer_params": asdict(self.visualizer),
            **self.extra,
        }

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """Replace ``train_params`` fields (None values are ignored) and re-validate."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(changes) - {f.name for f in fields(TrainParams)}
        if unknown:
            raise ValueError(f"unknown train_params fields {sorted(unknown)}")
        config = replace(self, train=replace(self.train, **changes))
        config.validate("overrides")
        return config

    # -- checks ----------------------------------------------------------------------------------

    @property
    def perceptual_vgg19(self) -> bool:
        """Whether training needs ImageNet VGG-19 weights."""
        return self.train.perceptual_loss == "vgg19" and sum(self.train.loss_weights.perceptual) != 0

    @property
    def gan(self) -> bool:
        """Adversarial training is on when the generator's GAN weight is non-zero (as in the reference)."""
        return self.train.loss_weights.generator_gan != 0

    def validate(self, source: str) -> None:
        t, w = self.train, self.train.loss_weights
        problems = loop_problems("train_params", t)
        problems += pyramid_problems(t.scales, t.perceptual_loss, w.perceptual, self.dataset.frame_shape,
                                     self.perceptual_vgg19)
        if not (any(w.perceptual) or self.gan or w.equivariance_value or w.equivariance_jacobian):
            problems.append("every generator loss weight is zero: nothing to train")
        if t.warp_tps not in TPS_FORMS:
            problems.append(f"train_params.warp_tps must be one of {', '.join(TPS_FORMS)}")
        if w.equivariance_jacobian != 0 and not self.model.estimate_jacobian:
            problems.append("loss_weights.equivariance_jacobian needs common_params.estimate_jacobian: True")
        gen = self.model.generator
        if gen.occlusion_blend and not (gen.estimate_occlusion_map and gen.dense_motion is not None):
            problems.append("generator_params.occlusion_blend needs estimate_occlusion_map and dense_motion_params")
        if self.gan and self.model.discriminator is None:
            problems.append("loss_weights.generator_gan is non-zero but there are no discriminator_params")
        if len(self.dataset.frame_shape) != 3 or self.dataset.frame_shape[2] != self.model.num_channels:
            problems.append(f"dataset_params.frame_shape must be [height, width, {self.model.num_channels}]")
        if problems:
            raise FommError(f"{source}: " + "; ".join(problems))


# -- checks both families' training configs make --------------------------------------------------------------

LOOP_COUNTS = ("num_epochs", "num_repeats", "batch_size", "checkpoint_freq", "checkpoint_every", "keep_checkpoints",
               "log_every", "visualize_every")


def loop_problems(where: str, block: Any) -> list[str]:
    """What is wrong with the loop settings (``LOOP_COUNTS``, ``max_steps``) of the training block ``where``."""
    problems = [f"{where}.{name} must be >= 1" for name in LOOP_COUNTS if int(getattr(block, name)) < 1]
    if block.max_steps is not None and block.max_steps < 1:
        problems.append(f"{where}.max_steps must be >= 1")
    return problems


def pyramid_problems(scales: list[float], perceptual_loss: str, weights: list[float], frame_shape: list[int],
                     needs_vgg: bool) -> list[str]:
    """What is wrong with ``train_params``' image pyramid (``scales``) and its perceptual loss; ``needs_vgg``:
    the run computes VGG-19 features of every level."""
    problems = [f"train_params.scales: {scale} is not 1/n" for scale in scales
                if not (0 < scale <= 1 and abs(1 / scale - round(1 / scale)) <= 1e-6)]
    if perceptual_loss not in PERCEPTUAL_KINDS:
        problems.append(f"train_params.perceptual_loss must be one of {', '.join(PERCEPTUAL_KINDS)}")
    if len(weights) > 5:
        problems.append("loss_weights.perceptual has at most 5 entries (VGG-19 relu1_1 ... relu5_1)")
    smallest = min(frame_shape[:2]) * min(scales, default=1)
    if needs_vgg and smallest < 16:
        problems.append(f"the VGG-19 perceptual loss needs pyramid levels of at least 16 px, but "
                        f"{min(frame_shape[:2])} px x scale {min(scales)} = {smallest:g} px: "
                        "drop the small train_params.scales or set perceptual_loss to l1")
    return problems


def read_config(path: str | Path) -> TrainConfig | TPSMMTrainConfig:
    """A training config of either family from a YAML file (a TPSMM's ``model_params`` count splines)."""
    from fomm_cli.models.tpsmm.config import is_tpsmm_params

    data = load_yaml(path)
    if is_tpsmm_params(data.get("model_params")):
        from fomm_cli.train.tpsmm_config import TPSMMTrainConfig

        return TPSMMTrainConfig.from_dict(data, str(path))
    return TrainConfig.from_dict(data, str(path))


# -- parsing helpers -------------------------------------------------------------------------------


def _dataset(params: Mapping[str, Any]) -> DatasetConfig:
    params = dict(params)
    aug_params = dict(params.pop("augmentation_params", None) or {})
    nested = {"flip_param": FlipParams, "rotation_param": RotationParams, "resize_param": ResizeParams,
              "crop_param": CropParams, "jitter_param": JitterParams}
    aug_values = {}
    for key, value in aug_params.items():
        if key not in nested:
            raise ValueError(f"unknown augmentation_params key {key!r} (known: {', '.join(nested)})")
        aug_values[key] = dataclass_from_mapping(nested[key], value or {}, f"augmentation_params.{key}")
    dataset = dataclass_from_mapping(DatasetConfig, params, "dataset_params")
    dataset.augmentation_params = AugmentationConfig(**aug_values)
    dataset.frame_shape = [int(x) for x in dataset.frame_shape]
    return dataset


def _train(params: Mapping[str, Any]) -> TrainParams:
    params = dict(params)
    transform = dataclass_from_mapping(TransformParams, params.pop("transform_params", None) or {}, "transform_params")
    weights = dataclass_from_mapping(LossWeights, params.pop("loss_weights", None) or {}, "loss_weights")
    train = dataclass_from_mapping(TrainParams, params, "train_params")
    train.transform_params = transform
    train.loss_weights = weights
    train.scales = [float(s) for s in train.scales]
    train.epoch_milestones = [int(m) for m in train.epoch_milestones]
    train.loss_weights.perceptual = [float(x) for x in weights.perceptual]
    train.loss_weights.feature_matching = [float(x) for x in weights.feature_matching]
    return train


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out unset optional keys (as the official configs do)."""
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}
