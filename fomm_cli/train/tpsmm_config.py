"""TPSMM training settings in the reference YAML layout (``yoyo-nb/Thin-Plate-Spline-Motion-Model``
``config/*.yaml``): ``dataset_params`` (as FOMM's), ``model_params`` (``TPSMMConfig``), ``train_params``
(``train.py``), ``train_avd_params`` (``train_avd.py``) and ``visualizer_params``, plus the loop keys of ours
that FOMM configs have too (``max_steps``, ``checkpoint_every``, ..., ``seed``) in both training blocks.

A config trains in one of the reference's two modes (``run.py --mode``): ``train`` (the keypoint detector,
dense motion, inpainting and background networks) or ``train_avd`` (the AVD network of a trained model). Its
``train`` property is the active block, which is all the loop reads. The mode is written as a top-level
``mode: train_avd`` (ours) so a resumed run keeps it. Unknown keys are errors; other top-level blocks are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar

from fomm_cli.config import dataclass_from_mapping, load_yaml
from fomm_cli.errors import FommError
from fomm_cli.models.tpsmm.config import TPSMMConfig
from fomm_cli.train.config import (
    DatasetConfig,
    TransformParams,
    VisualizerParams,
    _dataset,
    _drop_none,
    loop_problems,
    pyramid_problems,
)

MODES = ("train", "train_avd")
OPTIMIZERS = ("adam", "adamw")
_BLOCKS = ("dataset_params", "model_params", "train_params", "train_avd_params", "visualizer_params", "mode")


@dataclass
class LoopParams:
    """The loop's settings of ours (the reference trainers ignore them), in both training blocks."""

    max_steps: int | None = None  # stop at this global step even if epochs remain
    checkpoint_every: int = 1000  # steps between resumable checkpoints
    keep_checkpoints: int = 3  # rolling checkpoints kept (the newest)
    log_every: int = 10  # steps between log.jsonl lines
    visualize_every: int = 500  # steps between visuals/step-*.png
    seed: int = 0


@dataclass
class TPSMMLossWeights:
    perceptual: list[float] = field(default_factory=lambda: [10.0, 10.0, 10.0, 10.0, 10.0])
    equivariance_value: float = 10.0
    warp_loss: float = 10.0
    bg: float = 10.0


@dataclass
class OptimizerParams:
    """Adam's settings; the reference's unless a config says otherwise (MAGIG's 768 px fine-tune does)."""

    betas: list[float] = field(default_factory=lambda: [0.5, 0.999])
    weight_decay: float = 1e-4


@dataclass
class TPSMMTrainParams(LoopParams):
    """The reference ``train_params`` (defaults: ``config/vox-256.yaml``'s), then options of MAGIG's fork of
    the trainer used by its 768 px fine-tune config, then ``perceptual_loss`` of ours."""

    num_epochs: int = 100
    num_repeats: int = 1
    epoch_milestones: list[int] = field(default_factory=list)
    lr_generator: float = 2.0e-4
    batch_size: int = 8
    scales: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.125])
    dataloader_workers: int | None = None  # the reference's; here `fomm train --workers` decides (kept: round trip)
    checkpoint_freq: int = 50  # epochs: such checkpoints are kept for good (never pruned)
    dropout_epoch: int = 35  # epochs before this one drop splines (paper Eq. 7-8)
    dropout_maxp: float = 0.3
    dropout_startp: float = 0.1
    dropout_inc_epoch: int = 10  # epochs over which the probability rises from startp to maxp
    bg_start: int = 10  # the background motion (and its loss) from this epoch
    transform_params: TransformParams = field(default_factory=TransformParams)
    loss_weights: TPSMMLossWeights = field(default_factory=TPSMMLossWeights)
    # MAGIG's fork (its vox-768-finetune.yaml):
    visualize_model: bool | None = None  # the fork's switch for its own pictures (kept: round trip)
    freeze_kp_detector: bool = False
    freeze_bg_predictor: bool = False
    optimizer: str = "adam"  # adam | adamw
    optimizer_params: OptimizerParams = field(default_factory=OptimizerParams)
    # Ours:
    perceptual_loss: str = "vgg19"  # vgg19 | l1 (pixel pyramid, weight = sum of the perceptual weights)

    def dropout_p(self, epoch: int) -> float | None:
        """The probability of dropping each spline at ``epoch`` (None: no dropout), as the reference: rising
        linearly from ``dropout_startp`` by ``dropout_maxp`` every ``dropout_inc_epoch`` epochs, capped at
        ``dropout_maxp``, until ``dropout_epoch``. 0 still runs the dropout softmax (with its 1e-6)."""
        if epoch >= self.dropout_epoch:
            return None
        return min(epoch / self.dropout_inc_epoch * self.dropout_maxp + self.dropout_startp, self.dropout_maxp)


@dataclass
class AVDTrainParams(LoopParams):
    """The reference ``train_avd_params`` (defaults: ``config/vox-256.yaml``'s, but one repeat)."""

    num_epochs: int = 200
    num_repeats: int = 1
    batch_size: int = 256
    dataloader_workers: int | None = None  # the reference's; here `fomm train --workers` decides (kept: round trip)
    checkpoint_freq: int = 50
    epoch_milestones: list[int] = field(default_factory=list)
    lr: float = 1.0e-3
    lambda_shift: float = 1.0  # weight of the keypoint reconstruction loss
    random_scale: float = 0.25  # driving keypoints scaled by factors from [1 - s, 1 + s], x and y apart
    lambda_affine: float | None = None  # in config/mgif-256.yaml, unused by the reference (kept: round trip)


# The order keys are written in: the reference's, then ours.
_OURS = [f.name for f in fields(LoopParams)]


@dataclass
class TPSMMTrainConfig:
    model: TPSMMConfig
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train_params: TPSMMTrainParams = field(default_factory=TPSMMTrainParams)
    train_avd_params: AVDTrainParams = field(default_factory=AVDTrainParams)
    visualizer: VisualizerParams = field(default_factory=VisualizerParams)
    mode: str = "train"
    extra: dict[str, Any] = field(default_factory=dict)

    family: ClassVar[str] = "tpsmm"

    @property
    def avd(self) -> bool:
        """Training the AVD network (``train_avd``) rather than the model."""
        return self.mode == "train_avd"

    @property
    def train(self) -> TPSMMTrainParams | AVDTrainParams:
        """The active training block: what the loop reads."""
        return self.train_avd_params if self.avd else self.train_params

    @property
    def perceptual_vgg19(self) -> bool:
        """Whether training needs ImageNet VGG-19 weights."""
        t = self.train_params
        return not self.avd and t.perceptual_loss == "vgg19" and sum(t.loss_weights.perceptual) != 0

    # -- reading ---------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "config") -> TPSMMTrainConfig:
        """Parse (keys and types); cross-field checks wait for ``validate``, after command-line overrides."""
        try:
            dataset_params = dict(data.get("dataset_params") or {})
            # null in the reference configs (256 px), "768,768,3" in the 768 px fine-tune's.
            frame_shape = dataset_params.get("frame_shape") or [256, 256, 3]
            if isinstance(frame_shape, str):
                frame_shape = [int(x) for x in frame_shape.replace(" ", "").split(",") if x]
            dataset_params["frame_shape"] = frame_shape
            dataset = _dataset(dataset_params)
            train_params = _train_block(TPSMMTrainParams, data.get("train_params") or {}, "train_params")
            avd_params = _train_block(AVDTrainParams, data.get("train_avd_params") or {}, "train_avd_params")
            visualizer = dataclass_from_mapping(VisualizerParams, data.get("visualizer_params") or {},
                                                "visualizer_params")
        except (TypeError, ValueError) as err:
            raise FommError(f"{source}: {err}") from None
        mode = data.get("mode", "train")
        if mode not in MODES:
            raise FommError(f"{source}: mode must be one of {', '.join(MODES)}, not {mode!r}")
        model = TPSMMConfig.from_official(data["model_params"], dataset.frame_shape)
        extra = {k: v for k, v in data.items() if k not in _BLOCKS}
        return cls(model, dataset, train_params, avd_params, visualizer, mode, extra)

    @classmethod
    def from_yaml(cls, path: str | Path) -> TPSMMTrainConfig:
        return cls.from_dict(load_yaml(path), str(path))

    # -- writing ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The reference layout (our keys included, at the end of each training block)."""
        out: dict[str, Any] = {"mode": self.mode} if self.avd else {}
        out.update({
            "dataset_params": _drop_none(asdict(self.dataset)),
            "model_params": self.model.to_official(),
            "train_params": _block_dict(self.train_params),
            "train_avd_params": _block_dict(self.train_avd_params),
            "visualizer_params": asdict(self.visualizer),
            **self.extra,
        })
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def with_mode(self, mode: str) -> TPSMMTrainConfig:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        return replace(self, mode=mode)

    def with_overrides(self, **overrides: Any) -> TPSMMTrainConfig:
        """Replace fields of the active training block (None values are ignored) and re-validate."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        block = self.train
        unknown = set(changes) - {f.name for f in fields(block)}
        if unknown:
            where = "train_avd_params" if self.avd else "train_params"
            raise ValueError(f"{where} has no {', '.join(sorted(unknown))} (not a setting of this mode)")
        changed = replace(block, **changes)
        config = (replace(self, train_avd_params=changed) if isinstance(changed, AVDTrainParams)
                  else replace(self, train_params=changed))
        config.validate("overrides")
        return config

    # -- checks ----------------------------------------------------------------------------------

    def validate(self, source: str) -> None:
        t, a, w = self.train_params, self.train_avd_params, self.train_params.loss_weights
        problems = loop_problems("train_params", t) + loop_problems("train_avd_params", a)
        problems += pyramid_problems(t.scales, t.perceptual_loss, w.perceptual, self.dataset.frame_shape,
                                     self.perceptual_vgg19)
        if not (0 <= t.dropout_startp < 1 and 0 <= t.dropout_maxp < 1):
            problems.append("train_params.dropout_startp and dropout_maxp must be in [0, 1)")
        if t.dropout_inc_epoch < 1:
            problems.append("train_params.dropout_inc_epoch must be >= 1")
        if t.optimizer not in OPTIMIZERS:
            problems.append(f"train_params.optimizer must be one of {', '.join(OPTIMIZERS)}")
        if len(t.optimizer_params.betas) != 2:
            problems.append("train_params.optimizer_params.betas must be two numbers")
        if not self.avd and not (any(w.perceptual) or w.equivariance_value or w.warp_loss):
            problems.append("every loss weight of the model is zero: nothing to train")
        if self.avd and self.model.avd is None:
            problems.append("AVD training needs model_params.avd_network_params")
        if not 0 <= a.random_scale < 1:
            problems.append("train_avd_params.random_scale must be in [0, 1)")
        if len(self.dataset.frame_shape) != 3 or self.dataset.frame_shape[2] != self.model.num_channels:
            problems.append(f"dataset_params.frame_shape must be [height, width, {self.model.num_channels}]")
        problem = self.model.problem()
        if problem is not None:
            problems.append(f"model_params: impossible {problem[1]}")
        if problems:
            raise FommError(f"{source}: " + "; ".join(problems))


def _train_block(cls: type, params: Mapping[str, Any], where: str) -> Any:
    params = dict(params)
    nested = {"transform_params": TransformParams, "loss_weights": TPSMMLossWeights,
              "optimizer_params": OptimizerParams}
    values = {key: dataclass_from_mapping(kind, params.pop(key) or {}, key)
              for key, kind in nested.items() if key in params and key in {f.name for f in fields(cls)}}
    block = dataclass_from_mapping(cls, params, where)
    for key, value in values.items():
        setattr(block, key, value)
    block.epoch_milestones = [int(m) for m in block.epoch_milestones]
    if isinstance(block, TPSMMTrainParams):
        block.scales = [float(s) for s in block.scales]
        block.loss_weights.perceptual = [float(x) for x in block.loss_weights.perceptual]
        block.optimizer_params.betas = [float(x) for x in block.optimizer_params.betas]
    return block


def _block_dict(block: TPSMMTrainParams | AVDTrainParams) -> dict[str, Any]:
    data = _drop_none(asdict(block))
    return {**{k: v for k, v in data.items() if k not in _OURS}, **{k: v for k, v in data.items() if k in _OURS}}
