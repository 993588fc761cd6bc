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


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_official_format_file_loads_without_yaml_and_animates(name, official_configs_dir, tmp_path):
    """A random-weight checkpoint written the way the authors' trainer writes them loads with no config and
    animates at full size. The generators of all eight configs are identical and only mgif's keypoint detector
    differs, so two configs run the frames; every config's file is loaded and checked."""
    import numpy as np

    from fomm_cli.animate import Animator
    from fomm_cli.checkpoints import load_model

    torch.manual_seed(0)
    model = FirstOrderModel(ModelConfig.from_yaml(official_configs_dir / f"{name}.yaml"), with_discriminator=True)
    path = tmp_path / f"{name}-cpk.pth.tar"
    torch.save({part_name: part.state_dict() for part_name, part in model.parts().items()} | {"epoch": 1}, path)
    loaded = load_model(path, with_discriminator=True)
    for part_name, part in model.parts().items():
        for (key, expected), (loaded_key, value) in zip(part.state_dict().items(),
                                                         getattr(loaded, part_name).state_dict().items(), strict=True):
            assert key == loaded_key and torch.equal(expected, value)
    if name in ("vox-256", "mgif-256"):
        frames = np.random.default_rng(0).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
        out = list(Animator(loaded, "cpu", batch_size=2).animate(frames[0], iter(frames)))
        assert len(out) == 2 and out[0].shape == (256, 256, 3)
