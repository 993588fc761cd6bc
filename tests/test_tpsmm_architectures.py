"""TPSMM architectures: every reference config builds modules whose state dicts match the reference modules key for
key, the architecture is inferred back from the tensors, and checkpoints load in both formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fomm_cli.checkpoints import load_model, save_pretrained
from fomm_cli.config import config_from_json_dict, config_from_yaml
from fomm_cli.errors import CheckpointError, FommError
from fomm_cli.models.tpsmm import TPSMMConfig, TPSMotionModel, infer_tpsmm_config
from fomm_cli.pretrained import preset_path

from .conftest import FIXTURES

FIXTURE = FIXTURES / "tpsmm"
PRESETS = {"vox-256": (256, 256), "taichi-256": (256, 256), "mgif-256": (256, 256), "ted-384": (384, 384),
           "vox-768": (768, 768)}


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads((FIXTURE / "reference_shapes.json").read_text())


def _architecture(reference: dict, name: str) -> dict:
    return reference["architectures"][reference["configs"][name]["architecture"]]


@pytest.mark.parametrize("name", PRESETS)
def test_state_dict_names_and_shapes_match_reference(name, reference):
    config = config_from_yaml(preset_path(f"tpsmm-{name}"))
    assert isinstance(config, TPSMMConfig) and config.image_size == PRESETS[name]
    assert config.to_official() == TPSMMConfig.from_official(reference["configs"][name]["model_params"]).to_official()
    with torch.device("meta"):
        model = TPSMotionModel(config)
    expected = _architecture(reference, name)
    assert set(model.parts()) == set(expected)
    for part, module in model.parts().items():
        assert [[k, list(v.shape)] for k, v in module.state_dict().items()] == \
            [[k, v] for k, v in expected[part]["state_dict"].items()], part
        assert sum(p.numel() for p in module.parameters()) == expected[part]["param_count"]


@pytest.mark.parametrize("name", PRESETS)
def test_config_is_inferred_from_weights(name, reference):
    states = {part: {k: torch.empty(shape, device="meta") for k, shape in spec["state_dict"].items()}
              for part, spec in _architecture(reference, name).items()}
    inferred = infer_tpsmm_config(states)
    assert inferred.to_official() == config_from_yaml(preset_path(f"tpsmm-{name}")).to_official()


def test_768_config_reads_its_frame_shape_string():
    params = config_from_yaml(preset_path("tpsmm-vox-768")).to_official()
    assert TPSMMConfig.from_official(params, "768,768,3").image_size == (768, 768)
    assert TPSMMConfig.from_official(params, None).image_size == (256, 256)


def test_impossible_configs_are_refused_naming_the_key():
    params = config_from_yaml(FIXTURE / "vox-256.yaml").to_official()
    params["generator_params"]["num_down_blocks"] = 2
    config = TPSMMConfig.from_official(params, [64, 64])
    assert config.problem()[0] == "generator_params.num_down_blocks"
    with pytest.raises(CheckpointError, match="multi_mask") as caught:
        load_model(FIXTURE / "vox-256.pth.tar", config=config)
    assert caught.value.key == "generator_params.num_down_blocks"
    assert TPSMMConfig.from_official(config_from_yaml(FIXTURE / "vox-256.yaml").to_official(), [80, 80]).problem() \
        == ("image_size", "image_size [80, 80] (sides must be multiples of 32)")
    params["common_params"]["stray"] = 1
    with pytest.raises(FommError, match="stray"):
        TPSMMConfig.from_official(params)


def test_loading_with_the_yaml_equals_inferring(reference):
    """Inferred and declared architectures build the same tensors; where the width cap never binds the inferred
    max_features is the reference default, so compare shapes rather than numbers."""
    for name in ("taichi-256", "single-mask"):
        inferred = load_model(FIXTURE / f"{name}.pth.tar")
        declared = load_model(FIXTURE / f"{name}.pth.tar", config=config_from_yaml(FIXTURE / f"{name}.yaml"))
        for (k1, v1), (k2, v2) in zip(inferred.state_dict().items(), declared.state_dict().items(), strict=True):
            assert k1 == k2 and torch.equal(v1, v2)
    taichi = load_model(FIXTURE / "taichi-256.pth.tar").config.to_official()
    assert taichi["generator_params"]["max_features"] == taichi["dense_motion_params"]["max_features"] == 32
    assert taichi["avd_network_params"] == {"id_bottle_size": 16, "pose_bottle_size": 32}


def test_our_format_round_trips(tmp_path):
    model = load_model(FIXTURE / "vox-256.pth.tar")
    save_pretrained(model, tmp_path / "vox")
    stored = json.loads((tmp_path / "vox" / "config.json").read_text())
    assert stored["family"] == "tpsmm" and config_from_json_dict(stored).to_official() == model.config.to_official()
    again = load_model(tmp_path / "vox")
    assert set(again.parts()) == set(model.parts()) == {"kp_detector", "dense_motion_network", "inpainting_network",
                                                        "bg_predictor", "avd_network"}
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)


def test_family_mismatch_is_one_clear_error():
    with pytest.raises(CheckpointError, match="a TPSMM checkpoint cannot take a FOMM config"):
        load_model(FIXTURE / "vox-256.pth.tar", config=config_from_yaml(preset_path("vox-256")))
    with pytest.raises(CheckpointError, match="a FOMM checkpoint cannot take a TPSMM config"):
        load_model(FIXTURES / "parity" / "a.pth.tar", config=config_from_yaml(preset_path("tpsmm-vox-256")))


def test_models_info_prints_the_reference_layout():
    """The YAML says bg: true, but this file holds no background predictor: the info says what the file has."""
    result = subprocess.run([sys.executable, "-m", "fomm_cli", "models", "info", FIXTURE / "taichi-256.pth.tar",
                             "--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    expected = config_from_yaml(FIXTURE / "taichi-256.yaml").to_official()
    expected["common_params"]["bg"] = False
    assert info["family"] == "tpsmm" and info["format"] == "official" and info["model_params"] == expected
    assert set(info["parameters"]) == {"kp_detector", "dense_motion_network", "inpainting_network", "avd_network"}
