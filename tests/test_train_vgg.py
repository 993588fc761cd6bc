"""VGG-19 for the perceptual loss: key mapping, and finding weights offline (HF cache, torch cache, flag)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from fomm_cli.errors import FommError, InputNotFound
from fomm_cli.models.vgg import IMAGENET_MEAN, Vgg19Features, select_vgg19_weights
from fomm_cli.train.vgg_weights import HUB_FILE, HUB_REPO, TORCHVISION_FILE, find_vgg19_weights, load_vgg19

from .helpers import VGG19_CONVS
from .test_train_data import write_dataset, write_tiny_config

# torchvision's full ``features`` block goes on after relu5_1 (conv5_2 ... conv5_4), and real files hold those too.
DEEPER_CONVS = ((30, 512, 512), (32, 512, 512), (34, 512, 512))

ROOT = Path(__file__).resolve().parents[1]


def fake_vgg19(naming: str, random: bool = False) -> dict[str, torch.Tensor]:
    """A VGG-19 state dict laid out as torchvision's file (``features.<i>`` of all 16 convolutions, written out in
    ``helpers.VGG19_CONVS``, not taken from the module under test), plus small stand-ins for the classifier keys.

    Each tensor is filled with its layer index / 1000 (so a test can tell which layer landed where), or with
    random values (so features differ between images).
    """
    shapes = {}
    for index, cin, cout in VGG19_CONVS + DEEPER_CONVS:
        shapes[f"features.{index}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{index}.bias"] = (cout,)
    state = {k: (0.05 * torch.randn(shape) if random else torch.full(shape, int(k.split(".")[1]) / 1000)).half()
             for k, shape in shapes.items()}
    if naming == "timm":
        state.update({"pre_logits.fc1.weight": torch.zeros(2, 3), "head.fc.weight": torch.zeros(2, 3)})
    elif naming == "torchvision":
        state.update({"classifier.0.weight": torch.zeros(2, 3), "classifier.6.bias": torch.zeros(2)})
    elif naming == "bare":
        state = {k.removeprefix("features."): v for k, v in state.items()}
    return state


def write_hub_cache(hf_home: Path) -> Path:
    """``timm/vgg19.tv_in1k`` model.safetensors laid out as huggingface_hub caches it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_home / "hub" / f"models--{HUB_REPO.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    save_file(fake_vgg19("timm", random=True), repo / "snapshots" / commit / HUB_FILE)
    return repo / "snapshots" / commit / HUB_FILE


def offline_env(hf_home: Path, torch_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1", TORCH_HOME=str(torch_home), OMP_NUM_THREADS="1")
    return env


@pytest.mark.parametrize("naming", ["timm", "torchvision", "bare"])
def test_key_mapping_loads_every_naming(naming):
    weights = select_vgg19_weights(fake_vgg19(naming))
    vgg = Vgg19Features()
    vgg.load_state_dict(weights)
    assert (vgg.features[28].weight - 0.028).abs().max() < 1e-4 and torch.all(vgg.features[0].bias == 0.0)
    assert not any(p.requires_grad for p in vgg.parameters())


def test_wrong_or_missing_tensors_are_named():
    state = fake_vgg19("torchvision")
    state["features.10.weight"] = torch.zeros(3, 3, 3, 3)
    with pytest.raises(ValueError, match=r"wrong shapes \['features.10.weight"):
        select_vgg19_weights(state)
    del state["features.28.bias"]
    with pytest.raises(ValueError, match=r"missing \['features\.28\.bias"):
        select_vgg19_weights(state)


def test_features_normalise_inside_and_have_five_taps():
    vgg = Vgg19Features()
    vgg.load_state_dict({k: torch.randn(v.shape) if k.endswith("weight") else torch.zeros(v.shape)
                         for k, v in vgg.state_dict().items()})
    mean_image = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1).expand(1, 3, 32, 32)
    taps = vgg(mean_image)
    assert [t.shape[1:] for t in taps] == [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 2, 2)]
    assert all(t.abs().max() == 0 for t in taps)  # the ImageNet mean maps to zero input; zero biases keep it 0
    assert vgg.train().training is False


def test_explicit_weights_path(tmp_path):
    path = tmp_path / "vgg.safetensors"
    save_file(fake_vgg19("timm"), path)
    assert find_vgg19_weights(path) == path
    assert load_vgg19(path)[1] == path
    with pytest.raises(InputNotFound, match="not found"):
        find_vgg19_weights(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(FommError, match="not a readable PyTorch weights file"):
        load_vgg19(tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(FommError, match="not a VGG-19 state dict"):
        load_vgg19(tmp_path / "other.pth")


def test_torchvision_cache_file_is_found_offline(tmp_path):
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(fake_vgg19("torchvision"), checkpoints / TORCHVISION_FILE)
    code = ("from fomm_cli.train.vgg_weights import load_vgg19; vgg, path = load_vgg19(); "
            "print(path); print(float(vgg.features[28].weight[0, 0, 0, 0]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                            env=offline_env(tmp_path / "hf-empty", tmp_path / "torch"))
    assert result.returncode == 0, result.stderr
    path, value = result.stdout.split()
    assert Path(path) == checkpoints / TORCHVISION_FILE and abs(float(value) - 0.028) < 1e-4


@pytest.mark.slow
def test_hub_cache_weights_train_a_perceptual_step_and_missing_weights_stop_clearly(tmp_path):
    data = write_dataset(tmp_path / "data", num_videos=4)
    config = write_tiny_config(tmp_path / "tiny.yaml", scales=[1, 0.5])  # VGG needs levels of 16 px or more
    hub_file = write_hub_cache(tmp_path / "hf")
    args = [sys.executable, "-m", "fomm_cli", "train", "--config", str(config), "--data", str(data), "--max-steps", "2",
            "--workers", "0", "--json"]
    ok = subprocess.run([*args, "-o", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT, timeout=300,
                        env=offline_env(tmp_path / "hf", tmp_path / "torch-empty"))
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert summary["vgg_weights"] == str(hub_file)
    assert summary["steps"] == 2 and summary["losses"]["perceptual"] > 0

    missing = subprocess.run([*args, "-o", str(tmp_path / "run2")], capture_output=True, text=True, cwd=ROOT,
                             timeout=300, env=offline_env(tmp_path / "hf-empty", tmp_path / "torch-empty"))
    assert missing.returncode == 2 and missing.stdout == ""
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "--vgg-weights is required" in lines[0] and "perceptual l1" in lines[0], missing.stderr
    assert not (tmp_path / "run2").exists()  # nothing was created
