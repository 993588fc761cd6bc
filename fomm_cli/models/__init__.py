"""Pure ``nn.Module`` definitions of the First Order Motion Model (no file or network I/O)."""

from fomm_cli.models.dense_motion import DenseMotion, DenseMotionNetwork
from fomm_cli.models.discriminator import MultiScaleDiscriminator
from fomm_cli.models.generator import GeneratorOutput, OcclusionAwareGenerator
from fomm_cli.models.keypoint_detector import KeypointDetector
from fomm_cli.models.keypoints import Keypoints
from fomm_cli.models.model import FirstOrderModel

__all__ = [
    "DenseMotion",
    "DenseMotionNetwork",
    "FirstOrderModel",
    "GeneratorOutput",
    "KeypointDetector",
    "Keypoints",
    "MultiScaleDiscriminator",
    "OcclusionAwareGenerator",
]
