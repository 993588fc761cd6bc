"""Every official config builds modules whose state dicts match the released checkpoints key for key,
and the architecture inferred back from those shapes equals the config."""

from __future__ import annotations

import pytest
import torch

from fomm_cli.config import ModelConfig, infer_config
from fomm_cli.models import FirstOrderModel

CONFIGS = ["bair-256", "fashion-256", "mgif-256", "nemo-256", "taichi-256", "taichi-adv-256", "vox-256",
           "vox-adv-256"]


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("name", CONFIGS)
def test_state_dict_names_and_shapes_match_official(name, official_configs_dir, official_shapes):
    config = ModelConfig.from_yaml(official_configs_dir / f"{name}.yaml")
    with torch.device("meta"):
        model = FirstOrderModel(config, with_discriminator=True)
    reference = official_shapes[name]
    for part in ("kp_detector", "generator", "discriminator"):
        expected = {k: v["shape"] for k, v in reference[part]["state_dict"].items()}
        assert _shapes(getattr(model, part)) == expected, part
        params = sum(p.numel() for p in getattr(model, part).parameters())
        assert params == reference[part]["param_count"]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_inferred_from_weights(name, official_configs_dir, official_shapes):
    config = ModelConfig.from_yaml(official_configs_dir / f"{name}.yaml")
    reference = official_shapes[name]
    states = {part: {k: torch.empty(v["shape"], device="meta") for k, v in reference[part]["state_dict"].items()}
              for part in ("kp_detector", "generator", "discriminator")}
    inferred = infer_config(states["kp_detector"], states["generator"], states["discriminator"])
    assert inferred.to_official() == config.to_official()
