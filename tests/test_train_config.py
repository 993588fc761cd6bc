"""Training configs: the official presets, overrides, validation, and which config a resumed run uses."""

from __future__ import annotations

import pytest
import yaml

from fomm_cli.errors import FommError, InvalidSetting, MissingSetting
from fomm_cli.pretrained import PRESETS_DIR, preset_path
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.run_folder import resolve_config

from .test_train_data import TINY_CONFIG, write_tiny_config

OFFICIAL = ["bair-256", "fashion-256", "mgif-256", "nemo-256", "taichi-256", "taichi-adv-256", "vox-256",
            "vox-adv-256"]
# Adversarial training as the authors' configs set it (generator_gan != 0), read off the YAML files themselves.
ADVERSARIAL = {"bair-256", "fashion-256", "mgif-256", "nemo-256", "taichi-adv-256", "vox-adv-256"}


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_presets_load_and_round_trip(name):
    config = TrainConfig.from_yaml(preset_path(name))
    config.validate(name)
    assert config.model.image_size == (256, 256)
    assert TrainConfig.from_dict(yaml.safe_load(config.to_yaml())) == config
    assert config.gan == (name in ADVERSARIAL)
    assert config.gan == (yaml.safe_load(preset_path(name).read_text())["train_params"]["loss_weights"]
                          ["generator_gan"] != 0)
    assert config.train.perceptual_loss == "vgg19" and config.train.max_steps is None
    # the reference trainer's behaviour: none of our variants
    assert (config.train.warp_tps, config.train.warp_align_corners, config.train.keypoints_one_pass) == (
        "reference", False, False)


def test_demo_preset_is_valid_and_small():
    demo = TrainConfig.from_yaml(preset_path("demo"))
    demo.validate("demo")
    assert demo.model.image_size == (64, 64) and demo.train.perceptual_loss == "l1" and not demo.gan
    assert demo.dataset.id_sampling and demo.train.checkpoint_every == 500
    # exact-identity sampling grids for a model trained here; official presets keep the reference's setting
    assert demo.model.align_corners and TrainConfig.from_dict(yaml.safe_load(demo.to_yaml())) == demo
    assert not TrainConfig.from_yaml(preset_path("vox-256")).model.align_corners
    # the demo weights were trained with fomm's earlier equivariance step: its preset keeps it, by name
    assert (demo.train.warp_tps, demo.train.warp_align_corners, demo.train.keypoints_one_pass) == (
        "euclidean", True, True)


def test_official_values_are_read():
    vox = TrainConfig.from_yaml(preset_path("vox-adv-256"))
    assert vox.train.batch_size == 36 and vox.train.num_repeats == 75 and vox.train.epoch_milestones == []
    assert vox.train.loss_weights.feature_matching == [10, 10, 10, 10]
    assert vox.dataset.id_sampling and vox.dataset.augmentation_params.jitter_param.hue == 0.1
    assert vox.model.discriminator.use_kp
    mgif = TrainConfig.from_yaml(PRESETS_DIR / "mgif-256.yaml")
    assert mgif.dataset.augmentation_params.crop_param.size == [256, 256]
    assert TrainConfig.from_yaml(preset_path("taichi-adv-256")).train.lr_kp_detector == 0


def test_unknown_keys_and_bad_values_are_reported(tmp_path):
    def load(**changes: object) -> TrainConfig:
        """The tiny config with ``section__key=value`` changes, validated."""
        data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__")
            node = data
            for key in parents:
                node = node[key]
            node[leaf] = value
        config = TrainConfig.from_dict(data, "tiny.yaml")
        config.validate("tiny.yaml")
        return config

    with pytest.raises(FommError, match=r"unknown train_params keys \['batchsize'\]"):
        load(train_params__batchsize=3)
    with pytest.raises(FommError, match="unknown augmentation_params key 'blur_param'"):
        load(dataset_params__augmentation_params={"blur_param": {}})
    with pytest.raises(FommError, match="estimate_jacobian"):
        load(model_params__common_params={"num_kp": 4, "num_channels": 3, "estimate_jacobian": False})
    with pytest.raises(FommError, match="no discriminator_params"):
        data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
        del data["model_params"]["discriminator_params"]
        data["train_params"]["loss_weights"]["generator_gan"] = 1
        TrainConfig.from_dict(data).with_overrides(perceptual_loss="l1")
    with pytest.raises(FommError, match="occlusion_blend needs estimate_occlusion_map"):
        load(model_params__generator_params__occlusion_blend=True,
             model_params__generator_params__estimate_occlusion_map=False, train_params__perceptual_loss="l1")
    with pytest.raises(FommError, match="16 px"):  # 32 px x 0.25 is too small for VGG-19
        load()
    with pytest.raises(FommError, match="warp_tps must be one of reference, euclidean"):
        load(train_params__warp_tps="radial", train_params__perceptual_loss="l1")
    with pytest.raises(FommError, match=r"0\.3 is not 1/n"):
        load(train_params__scales=[1, 0.3], train_params__perceptual_loss="l1")
    config = load(train_params__perceptual_loss="l1")
    assert config.with_overrides(batch_size=2, max_steps=None).train.batch_size == 2
    with pytest.raises(FommError, match="batch_size must be >= 1"):
        config.with_overrides(batch_size=0)
    with pytest.raises(FommError, match="unknown config 'vox-512'"):
        resolve_config(tmp_path / "run", "vox-512", tmp_path, resume=False, overrides={})


def test_resume_uses_the_saved_config_and_refuses_another_model(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    saved = TrainConfig.from_yaml(write_tiny_config(tmp_path / "tiny.yaml"))
    saved.dataset.root_dir = str(tmp_path / "data")
    (run / "config.yaml").write_text(saved.to_yaml())

    resumed = resolve_config(run, None, None, resume=True, overrides={"max_steps": 7, "perceptual_loss": "l1"})
    assert resumed.model == saved.model and resumed.dataset.root_dir == str(tmp_path / "data")
    assert resumed.train.max_steps == 7

    changed = resolve_config(run, str(write_tiny_config(tmp_path / "gan.yaml", generator_gan=1)), None,
                                 resume=True, overrides={"perceptual_loss": "l1"})
    assert changed.gan and changed.dataset.root_dir == str(tmp_path / "data")  # training settings may change
    with pytest.raises(InvalidSetting, match="the model of the run"):
        resolve_config(run, "vox-256", None, resume=True, overrides={})
    with pytest.raises(MissingSetting, match="config is required"):
        resolve_config(tmp_path / "new", None, tmp_path, resume=False, overrides={})
    with pytest.raises(MissingSetting, match="data is required"):
        resolve_config(tmp_path / "new", str(tmp_path / "tiny.yaml"), None, resume=False, overrides={})
