"""TPSMM training configs: the reference YAML layout read, checked and written back; MAGIG's fine-tune options."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import yaml

from fomm_cli.errors import FommError
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.pretrained import preset_path
from fomm_cli.train.config import read_config
from fomm_cli.train.tpsmm_config import TPSMMTrainConfig
from fomm_cli.train.tpsmm_step import TPSMMStep

from .test_tpsmm_train_cli import TINY

PRESETS = ["tpsmm-vox-256", "tpsmm-taichi-256", "tpsmm-mgif-256", "tpsmm-ted-384", "tpsmm-vox-768"]


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_reads_checks_and_round_trips(name):
    config = read_config(preset_path(name))
    assert isinstance(config, TPSMMTrainConfig)
    config.validate(name)
    for mode in ("train", "train_avd"):
        moded = config.with_mode(mode)
        assert TPSMMTrainConfig.from_dict(yaml.safe_load(moded.to_yaml())) == moded
    raw = yaml.safe_load(preset_path(name).read_text())["train_params"]
    assert config.train_params.dropout_epoch == raw["dropout_epoch"] and config.train_params.bg_start == raw["bg_start"]
    assert config.train is config.train_params and config.with_mode("train_avd").train is config.train_avd_params


def test_reference_values_and_fork_options_are_read():
    vox = read_config(preset_path("tpsmm-vox-256"))
    assert isinstance(vox, TPSMMTrainConfig)
    t = vox.train_params
    assert (t.batch_size, t.num_repeats, t.epoch_milestones, t.loss_weights.warp_loss) == (28, 75, [70, 90], 10)
    assert (t.optimizer, t.optimizer_params.betas, t.optimizer_params.weight_decay) == ("adam", [0.5, 0.999], 1e-4)
    assert vox.train_avd_params.batch_size == 256 and vox.train_avd_params.lr == 1e-3
    mgif = read_config(preset_path("tpsmm-mgif-256"))
    assert isinstance(mgif, TPSMMTrainConfig) and mgif.train_avd_params.lambda_affine == 1  # kept, as the file has it
    fine = read_config(preset_path("tpsmm-vox-768"))
    assert isinstance(fine, TPSMMTrainConfig) and fine.model.image_size == (768, 768)
    f = fine.train_params
    assert (f.optimizer, f.optimizer_params.betas, f.optimizer_params.weight_decay) == ("adamw", [0.9, 0.999], 0.1)
    assert f.freeze_kp_detector and f.freeze_bg_predictor and f.epoch_milestones == [] and f.dropout_p(0) is None


def test_reference_frame_shapes_and_modes():
    data = yaml.safe_load(yaml.safe_dump(TINY))
    data["dataset_params"]["frame_shape"] = None  # the reference configs: 256 px
    assert TPSMMTrainConfig.from_dict(data).model.image_size == (256, 256)
    data["dataset_params"]["frame_shape"] = "128,128,3"  # the 768 px fine-tune's spelling
    config = TPSMMTrainConfig.from_dict(data)
    assert config.dataset.frame_shape == [128, 128, 3] and config.model.image_size == (128, 128)
    assert TPSMMTrainConfig.from_dict({**data, "mode": "train_avd"}).avd
    with pytest.raises(FommError, match="mode must be one of train, train_avd"):
        TPSMMTrainConfig.from_dict({**data, "mode": "avd"})


@pytest.mark.parametrize(("block", "change", "message"), [
    ("train_params", {"dropout_inc_epoch": 0}, "dropout_inc_epoch must be >= 1"),
    ("train_params", {"dropout_maxp": 1.0}, "dropout_startp and dropout_maxp must be in"),
    ("train_params", {"optimizer": "sgd"}, "optimizer must be one of adam, adamw"),
    ("train_params", {"perceptual_loss": "vgg19", "scales": [1, 0.125]}, "at least 16 px"),
    ("train_params", {"loss_weights": {"perceptual": [0], "equivariance_value": 0, "warp_loss": 0}},
     "nothing to train"),
    ("train_params", {"lr_kp_detector": 1e-4}, "unknown train_params keys"),
    ("train_avd_params", {"random_scale": 1.0}, "random_scale must be in"),
    ("train_avd_params", {"loss_weights": {}}, "unknown train_avd_params keys"),
])
def test_bad_values_are_named(block, change, message):
    data = yaml.safe_load(yaml.safe_dump(TINY))
    data[block].update(change)
    with pytest.raises(FommError, match=message):
        TPSMMTrainConfig.from_dict(data, "tiny.yaml").validate("tiny.yaml")


def test_avd_training_needs_an_avd_network_in_the_config():
    data = yaml.safe_load(yaml.safe_dump(TINY))
    del data["model_params"]["avd_network_params"]
    config = TPSMMTrainConfig.from_dict(data)
    config.validate("tiny")
    with pytest.raises(FommError, match="AVD training needs model_params"):
        config.with_mode("train_avd").validate("tiny")
    with pytest.raises(ValueError, match="train_avd_params has no perceptual_loss"):
        config.with_mode("train_avd").with_overrides(perceptual_loss="l1")


def test_fine_tune_options_freeze_parts_and_pick_adamw():
    config = TPSMMTrainConfig.from_dict(yaml.safe_load(yaml.safe_dump(TINY)))
    t = replace(config.train_params, freeze_kp_detector=True, freeze_bg_predictor=True, optimizer="adamw",
                optimizer_params=replace(config.train_params.optimizer_params, betas=[0.9, 0.999], weight_decay=0.1))
    model = TPSMotionModel(replace(config.model, avd=None))
    step = TPSMMStep(model, replace(config, train_params=t), torch.device("cpu"), 1, "fp32", torch.nn.Identity(),
                     lambda batch, device: None, lambda *args: None)
    assert list(step.optimizers) == ["model"]  # no optimiser for the frozen background predictor
    optimizer = step.optimizers["model"]
    assert type(optimizer) is torch.optim.AdamW
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.999) and optimizer.param_groups[0]["weight_decay"] == 0.1
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in trained or p.requires_grad for p in model.kp_detector.parameters())
    assert all(id(p) in trained for p in model.dense_motion_network.parameters())
