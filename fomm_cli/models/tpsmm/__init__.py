"""Thin-Plate Spline Motion Model (Zhao and Zhang, CVPR 2022): pure ``nn.Module`` definitions with the
reference checkpoints' state-dict names, its config, and its inference engine."""

from fomm_cli.models.tpsmm.config import TPSMMConfig, infer_tpsmm_config
from fomm_cli.models.tpsmm.model import TPSMotionModel

__all__ = ["TPSMMConfig", "TPSMotionModel", "infer_tpsmm_config"]
