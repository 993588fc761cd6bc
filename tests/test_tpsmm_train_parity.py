"""One TPSMM training step against the authors' trainers (``tests/fixtures/tpsmm_train``, see its README).

The reference ``train.py`` ``train()`` and ``train_avd.py`` ``train_avd()`` ran one step each on the TPSMM
fixture's random-weight models with a fixed batch, a seeded random VGG-19 and recorded random draws (the
equivariance warp, the splines' dropout, the AVD's keypoint scales); ``TPSMMStep`` and ``AVDStep`` get the same
weights, VGG and draws. Gradients (after the reference's clipping) and parameter updates are compared in float64,
where the reference agrees with itself, loss terms also in float32 (training precision, channels-last).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fomm_cli.media.image import read_image
from fomm_cli.models.tpsmm.model import TPSMotionModel
from fomm_cli.models.vgg import Vgg19Features, select_vgg19_weights
from fomm_cli.train.avd_step import AVDStep
from fomm_cli.train.losses import PerceptualLoss
from fomm_cli.train.step import StepOutput
from fomm_cli.train.tpsmm_config import TPSMMTrainConfig
from fomm_cli.train.tpsmm_step import TPSMMStep, TPSMMSteps
from fomm_cli.train.transforms import RandomWarp

from .helpers import random_vgg19_state

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE, MODELS = FIXTURES / "tpsmm_train", FIXTURES / "tpsmm"
META = json.loads((FIXTURE / "expected.json").read_text())
MODEL_CASES = sorted(case for case in META["cases"] if case != "avd")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "inputs.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    return select_vgg19_weights(random_vgg19_state(META["vgg_seed"]))


def batch(kind: str, order: list[int], dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixture's pairs of ``kind`` in the order the reference's loader served them, B x 3 x 64 x 64."""
    source = read_image(MODELS / "source_64.png")
    frames = read_image(MODELS / "driving_64.png").reshape(64, -1, 64, 3).transpose(1, 0, 2, 3)

    def stack(which: str) -> torch.Tensor:
        images = np.stack([source if key == "source" else frames[key] for key in META["pairs"][kind][which]])
        # Divided in float32 first, as the reference's batch was.
        return (torch.from_numpy(images[order]).permute(0, 3, 1, 2).float() / 255).to(dtype)

    return stack("source"), stack("driving")


def fixture_config(case: str) -> TPSMMTrainConfig:
    expected = META["cases"][case]
    model_params = yaml.safe_load((MODELS / f"{expected['model']}.yaml").read_text())["model_params"]
    blocks = {"train_avd_params": expected["train_avd_params"], "mode": "train_avd"} if case == "avd" else \
        {"train_params": expected["train_params"]}
    config = TPSMMTrainConfig.from_dict({"dataset_params": {"frame_shape": [64, 64, 3]}, "model_params": model_params,
                                         **blocks})
    config.validate(case)
    return config


def model_step(case: str, inputs: dict[str, np.ndarray], vgg_state: dict[str, torch.Tensor],
               dtype: torch.dtype) -> tuple[TPSMMStep, StepOutput, dict[str, torch.Tensor]]:
    """Our step at the case's epoch on the fixture's batch with the reference's weights, VGG and draws."""
    expected, config = META["cases"][case], fixture_config(case)
    t = config.train_params
    model = TPSMotionModel(replace(config.model, avd=None)).to(dtype)
    vgg = Vgg19Features()
    vgg.load_state_dict(vgg_state)
    perceptual = PerceptualLoss(vgg.to(dtype), t.scales, t.loss_weights.perceptual)
    theta = torch.from_numpy(inputs[f"{case}/theta"]).to(dtype)
    warp = RandomWarp(theta, torch.from_numpy(inputs[f"{case}/control_params"][:, 0]).to(dtype), "tpsmm")

    def dropout(batch: int, motions: int, p: float, device: torch.device) -> torch.Tensor:
        assert p == expected["dropout_p"]  # the reference's schedule
        keep = (torch.from_numpy(inputs[f"{case}/dropout_rand"]) < 1 - p).float()
        keep[:, 0] = 1
        return keep

    step = TPSMMStep(model, config, CPU, 1, "fp32", perceptual, lambda batch, device: warp, dropout)
    step.load_weights(MODELS / f"{expected['model']}.pth.tar")
    step.pyramid.to(dtype)
    for _ in range(expected["epoch"]):
        step.end_epoch()
    assert step.learning_rate() == expected["lr"][0]
    before = {name: p.detach().clone() for name, p in step.model.named_parameters()}
    return step, step(*batch("model", expected["order"], dtype)), before


def relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


def check_gradients_and_updates(step: TPSMMSteps, before: dict[str, torch.Tensor], expected: dict) -> None:
    grads = {name: float(p.grad.double().norm()) for name, p in step.model.named_parameters() if p.grad is not None}
    assert set(grads) == set(expected["grad_norms"])  # the same parameters trained
    for name, value in expected["grad_norms"].items():
        if value < 1e-9:  # a bias right before a normalisation: exactly zero, up to rounding, in both
            assert grads[name] < 1e-9, name
        else:
            assert relative(grads[name], value) < 1e-4, (name, grads[name], value)
    for part, value in expected["update_norms"].items():
        change = torch.cat([(p.detach() - before[name]).flatten() for name, p in step.model.named_parameters()
                            if name.startswith(part + ".")])
        assert relative(float(change.norm()), value) < 1e-4, (part, float(change.norm()), value)
    changed = {name.partition(".")[0] for name, p in step.model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == set(expected["update_norms"])  # nothing else moved


@pytest.mark.parametrize("case", MODEL_CASES)
def test_model_step_matches_the_reference(case, inputs, vgg_state):
    expected = META["cases"][case]
    step, out, before = model_step(case, inputs, vgg_state, torch.float64)
    reference = expected["float64"]
    assert set(out.losses) == set(reference["losses"])
    for name, value in reference["losses"].items():
        assert relative(float(out.losses[name]), value) < 1e-5, (name, float(out.losses[name]), value)
    check_gradients_and_updates(step, before, reference)
    # Clipping: each clipped module's largest gradient entry is its infinity norm before clipping (recorded from
    # the reference's clip_grad_norm_), scaled by torch's 10 / (norm + 1e-6) where that is below 1.
    for part, norm in reference["clip_norms"].items():
        largest = max(float(p.grad.abs().max()) for p in getattr(step.model, part).parameters() if p.grad is not None)
        assert relative(largest, norm * min(1.0, 10.0 / (norm + 1e-6))) < 1e-4, (part, largest, norm)
    assert any(norm > 10 for norm in reference["clip_norms"].values()) == (case != "vox_early")

    _, out32, _ = model_step(case, inputs, vgg_state, torch.float32)
    for name, value in expected["float32"]["losses"].items():
        assert relative(float(out32.losses[name]), value) < 1e-5, (name, float(out32.losses[name]), value)


def avd_step(inputs: dict[str, np.ndarray], dtype: torch.dtype) -> tuple[AVDStep, StepOutput, dict[str, torch.Tensor]]:
    expected, config = META["cases"]["avd"], fixture_config("avd")
    scale = config.train_avd_params.random_scale
    factors = torch.from_numpy(inputs["avd/scale_rand"]) * (2 * scale) + (1 - scale)  # as the reference: float32
    step = AVDStep(TPSMotionModel(config.model).to(dtype), config, CPU, 1, "fp32", lambda batch, device: factors)
    step.load_weights(MODELS / "vox-256.pth.tar")
    assert step.learning_rate() == expected["lr"][0]
    before = {name: p.detach().clone() for name, p in step.model.named_parameters()}
    return step, step(*batch("avd", expected["order"], dtype)), before


def test_avd_step_matches_the_reference(inputs):
    expected = META["cases"]["avd"]
    step, out, before = avd_step(inputs, torch.float64)
    (name, value), = expected["float64"]["losses"].items()
    assert set(out.losses) == {name} and relative(float(out.losses[name]), value) < 1e-5
    assert out.prediction is None
    check_gradients_and_updates(step, before, expected["float64"])
    # The frozen detector ran in train mode, as the reference's: its BatchNorm averages moved, its weights did not.
    loaded = torch.load(MODELS / "vox-256.pth.tar", weights_only=True)["kp_detector"]["fg_encoder.bn1.running_mean"]
    assert not torch.allclose(step.model.kp_detector.fg_encoder.bn1.running_mean, loaded.double())

    _, out32, _ = avd_step(inputs, torch.float32)
    assert relative(float(out32.losses[name]), expected["float32"]["losses"][name]) < 1e-5


def test_schedules_follow_the_reference():
    """Model: 10x drops at the milestones, dropout rising from startp to maxp until dropout_epoch; AVD: drops
    one epoch late, as torch's MultiStepLR.step(epoch) gives them (the reference steps its scheduler with the
    finished epoch's number)."""
    config = fixture_config("vox")
    t = replace(config.train_params, epoch_milestones=[2, 4], dropout_epoch=8, dropout_startp=0.1,
                dropout_maxp=0.3, dropout_inc_epoch=4)
    assert [t.dropout_p(e) for e in range(9)] == [0.1, 0.175, 0.25, 0.3, 0.3, 0.3, 0.3, 0.3, None]
    model = TPSMotionModel(replace(config.model, avd=None))
    step = TPSMMStep(model, replace(config, train_params=t), CPU, 1, "fp32", torch.nn.Identity(),
                     lambda batch, device: None, lambda *args: None)
    assert [epoch_rates(step, 6)] == [[1, 1, 0.1, 0.1, 0.01, 0.01]]
    groups = step.optimizers["model"].param_groups
    assert type(step.optimizers["model"]) is torch.optim.Adam
    assert groups[0]["betas"] == (0.5, 0.999) and groups[0]["weight_decay"] == 1e-4
    assert set(step.optimizers) == {"model", "bg_predictor"}

    avd_config = fixture_config("avd")
    avd_config = replace(avd_config, train_avd_params=replace(avd_config.train_avd_params, epoch_milestones=[1, 3]))
    avd = AVDStep(TPSMotionModel(avd_config.model), avd_config, CPU, 1, "fp32", lambda batch, device: None)
    reference = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(reference, [1, 3], gamma=0.1)
    reference_rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # step(epoch) is deprecated
        for epoch in range(6):
            reference_rates.append(round(reference.param_groups[0]["lr"], 6))
            scheduler.step(epoch)
    assert epoch_rates(avd, 6) == reference_rates == [1, 1, 0.1, 0.1, 0.01, 0.01]
    assert avd.optimizers["avd_network"].param_groups[0]["betas"] == (0.5, 0.999)


def epoch_rates(step: TPSMMSteps, epochs: int) -> list[float]:
    """The learning rate of each epoch, relative to the first."""
    first, rates = step.learning_rate(), []
    for _ in range(epochs):
        rates.append(round(step.learning_rate() / first, 6))
        step.end_epoch()
    return rates
