"""One training step against the authors' trainer (``tests/fixtures/train_parity``, see its README).

The reference's ``GeneratorFullModel`` / ``DiscriminatorFullModel`` ran on the parity fixture's random-weight
models with a fixed batch, a seeded random VGG-19 and recorded warp parameters; ``FommStep`` gets the same
weights, VGG and warps injected. Gradients are compared in float64: random networks in train mode amplify
float32 rounding so much that the reference's own gradient norms move by 0.5 % when only its memory layout
changes, while its float64 results agree with themselves to 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from fomm_cli.models.model import FirstOrderModel
from fomm_cli.models.vgg import Vgg19Features, select_vgg19_weights
from fomm_cli.train.adversarial import AdversarialFommStep
from fomm_cli.train.config import TrainConfig
from fomm_cli.train.fomm_step import FommStep
from fomm_cli.train.losses import PerceptualLoss
from fomm_cli.train.step import StepOutput
from fomm_cli.train.transforms import RandomWarp

from .helpers import PARITY, random_vgg19_state

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "train_parity"
META = json.loads((FIXTURE / "expected.json").read_text())
CASES = sorted(META["cases"])


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    with np.load(FIXTURE / "inputs.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    return select_vgg19_weights(random_vgg19_state(META["vgg_seed"]))


def fixture_config(case: str, **ours: object) -> TrainConfig:
    """The fixture's training config for ``case``, with our ``train_params`` options set as given."""
    expected = META["cases"][case]
    train_params = json.loads(json.dumps(META["train_params"]))
    train_params["loss_weights"]["generator_gan"] = expected["generator_gan"]
    train_params.update(ours)
    model_params = yaml.safe_load((PARITY / f"{expected['model']}.yaml").read_text())["model_params"]
    config = TrainConfig.from_dict({"dataset_params": {"frame_shape": [64, 64, 3]}, "model_params": model_params,
                                    "train_params": train_params})
    config.validate(case)
    return config


def one_step(case: str, inputs: dict[str, np.ndarray], vgg_state: dict[str, torch.Tensor], dtype: torch.dtype,
             config: TrainConfig | None = None) -> tuple[FommStep, StepOutput]:
    """Our step on the fixture's batch with the reference's weights, VGG and warp, in ``dtype``."""
    config = config or fixture_config(case)
    model = FirstOrderModel(config.model, with_discriminator=config.gan).to(dtype)
    vgg = Vgg19Features()
    vgg.load_state_dict(vgg_state)
    perceptual = PerceptualLoss(vgg.to(dtype), config.train.scales, config.train.loss_weights.perceptual)
    theta = torch.from_numpy(inputs[f"{case}/theta"]).to(dtype)
    weights = torch.from_numpy(inputs[f"{case}/control_params"][:, 0]).to(dtype)  # B x 1 x P -> B x P
    tps = config.train.warp_tps
    if tps == "euclidean":  # the same draws, one per coordinate: an x and a y weight per control point
        weights = torch.stack([weights, weights.flip(0)], dim=-1)
    warp = RandomWarp(theta, weights, tps)
    step_class = AdversarialFommStep if config.gan else FommStep
    step = step_class(model, config, torch.device("cpu"), 1, "fp32", perceptual, lambda batch, device: warp)
    step.load_weights(PARITY / f"{META['cases'][case]['model']}.pth.tar")
    step.pyramid.to(dtype)

    def batch(name: str) -> torch.Tensor:
        # Divided in float32 first, as the reference's batch was: the gradients of these random networks are
        # so sensitive that a 1e-8 change in the input moves some of them by 1 %.
        return (torch.from_numpy(inputs[name]).permute(0, 3, 1, 2).float() / 255).to(dtype)

    return step, step(batch("source"), batch("driving"))


def relative(ours: float, theirs: float) -> float:
    return abs(ours - theirs) / abs(theirs)


@pytest.mark.parametrize("case", CASES)
def test_loss_terms_and_gradients_match_the_reference_in_float64(case, inputs, vgg_state):
    step, out = one_step(case, inputs, vgg_state, torch.float64)
    expected = META["cases"][case]["float64"]
    assert set(out.losses) == set(expected["losses"])
    for name, value in expected["losses"].items():
        assert relative(float(out.losses[name]), value) < 1e-5, (name, float(out.losses[name]), value)

    grads = {f"{part}.{key}": float(p.grad.double().norm())
             for part, module in step.model.parts().items() for key, p in module.named_parameters()
             if p.grad is not None}
    assert set(grads) == set(expected["grad_norms"])  # the same parameters trained (discriminator when adversarial)
    for name, value in expected["grad_norms"].items():
        if value < 1e-9:  # a bias right before train-mode BatchNorm: exactly zero, up to rounding, in both
            assert grads[name] < 1e-9, name
        else:
            assert relative(grads[name], value) < 1e-4, (name, grads[name], value)
    if not META["cases"][case]["generator_gan"]:
        assert step.model.discriminator is None and not isinstance(step, AdversarialFommStep)


@pytest.mark.parametrize("case", CASES)
def test_loss_terms_match_the_reference_in_float32(case, inputs, vgg_state):
    """Training precision, channels-last: within 1e-5 (the reference moves by 5e-6 with its memory layout)."""
    _, out = one_step(case, inputs, vgg_state, torch.float32)
    for name, value in META["cases"][case]["float32"]["losses"].items():
        assert relative(float(out.losses[name]), value) < 1e-5, (name, float(out.losses[name]), value)


@pytest.mark.parametrize(("option", "changed"), [
    ({"keypoints_one_pass": True}, {"perceptual", "equivariance_value", "equivariance_jacobian"}),
    ({"warp_align_corners": True}, {"equivariance_value", "equivariance_jacobian"}),
    ({"warp_tps": "euclidean"}, {"equivariance_value", "equivariance_jacobian"}),
])
def test_each_of_our_variants_is_told_apart_from_the_reference(option, changed, inputs, vgg_state):
    """Each named option changes the terms it should (by far more than the tolerance) and no other, so the
    tests above would fail if one of them were on by default."""
    _, out = one_step("plain", inputs, vgg_state, torch.float32, fixture_config("plain", **option))
    expected = META["cases"]["plain"]["float32"]["losses"]
    differences = {name: relative(float(out.losses[name]), value) for name, value in expected.items()}
    assert {name for name, d in differences.items() if d > 1e-3} == changed, differences
    assert all(d < 1e-5 for name, d in differences.items() if name not in changed), differences
