"""The whole Thin-Plate Spline Motion Model, built from a config, with the reference checkpoints' part names."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import torch
from torch import nn

from fomm_cli.models.tpsmm.avd import AVDNetwork
from fomm_cli.models.tpsmm.bg_motion import BGMotionPredictor
from fomm_cli.models.tpsmm.config import PARTS, TPSMMConfig
from fomm_cli.models.tpsmm.dense_motion import DenseMotionNetwork
from fomm_cli.models.tpsmm.inpainting import InpaintingNetwork
from fomm_cli.models.tpsmm.keypoint_detector import KeypointDetector

if TYPE_CHECKING:
    from fomm_cli.models.tpsmm.inference import TPSMMEngine


class TPSMotionModel(nn.Module):
    """Children named as the reference checkpoint's entries (``kp_detector``, ``dense_motion_network``,
    ``inpainting_network``, ``bg_predictor`` when ``config.bg``, ``avd_network`` when ``config.avd``), so
    ``model.kp_detector.load_state_dict(ckpt['kp_detector'])`` works unchanged."""

    def __init__(self, config: TPSMMConfig) -> None:
        super().__init__()
        self.config = config
        self.kp_detector = KeypointDetector(config.num_tps)
        self.dense_motion_network = DenseMotionNetwork(num_tps=config.num_tps, num_channels=config.num_channels,
                                                       multi_mask=config.multi_mask, **asdict(config.dense_motion))
        self.inpainting_network = InpaintingNetwork(num_channels=config.num_channels, multi_mask=config.multi_mask,
                                                    **asdict(config.generator))
        self.bg_predictor = BGMotionPredictor() if config.bg else None
        self.avd_network = AVDNetwork(config.num_tps, **asdict(config.avd)) if config.avd is not None else None

    def parts(self) -> dict[str, nn.Module]:
        return {name: getattr(self, name) for name in PARTS if getattr(self, name) is not None}

    def for_inference(self, device: torch.device, *, precision: str = "fp32",
                      channels_last: bool = True) -> TPSMMEngine:
        """An inference engine on a prepared copy of this model (see ``fomm_cli.models.tpsmm.inference``)."""
        from fomm_cli.models.tpsmm.inference import TPSMMEngine

        return TPSMMEngine(self, device, precision=precision, channels_last=channels_last)
