"""Finding ImageNet weights for the VGG-19 perceptual loss.

Tried in order, first hit wins:
1. ``--vgg-weights PATH`` (a ``.safetensors`` or ``.pth`` file in torchvision or timm naming);
2. the Hugging Face cache: ``timm/vgg19.tv_in1k`` ``model.safetensors`` (honours ``HF_HOME``/``HF_HUB_CACHE``);
3. the torchvision cache: ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``;
4. a download from the Hugging Face hub, unless ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from fomm_cli.errors import FommError
from fomm_cli.models.vgg import Vgg19Features, select_vgg19_weights
from fomm_cli.progress import status

HUB_REPO = "timm/vgg19.tv_in1k"
HUB_FILE = "model.safetensors"
TORCHVISION_FILE = "vgg19-dcbb9e9d.pth"


def torchvision_cache_file() -> Path:
    """Where torchvision keeps its VGG-19 download (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise FommError(f"{path} is not a readable safetensors file ({err})") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise FommError(f"{path} is not a readable PyTorch weights file ({str(err).splitlines()[0][:160]})") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise FommError(f"{path} does not hold a state dict")
    return data


def _hub_file(offline_only: bool) -> Path | None:
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(HUB_REPO, HUB_FILE, local_files_only=offline_only))
    except (OSError, ValueError):  # not cached / offline / no network / HTTP errors all derive from these
        return None


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def find_vgg19_weights(explicit: str | Path | None = None) -> Path:
    """The weights file to use, or a ``FommError`` that says how to provide one."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FommError(f"--vgg-weights: no such file: {path}")
        return path
    cached = _hub_file(offline_only=True)
    if cached is not None:
        return cached
    torchvision_file = torchvision_cache_file()
    if torchvision_file.is_file():
        return torchvision_file
    if not _hub_offline():
        with status(f"downloading VGG-19 weights ({HUB_REPO})"):
            downloaded = _hub_file(offline_only=False)
        if downloaded is not None:
            return downloaded
    raise FommError(
        f"no ImageNet VGG-19 weights for the perceptual loss: not in the Hugging Face cache ({HUB_REPO}), "
        f"not at {torchvision_file}"
        + (", and HF_HUB_OFFLINE is set" if _hub_offline() else ", and the download failed")
        + "; pass --vgg-weights PATH (timm model.safetensors or torchvision vgg19-dcbb9e9d.pth), "
        "or use --perceptual l1 for a pixel-pyramid L1 loss instead"
    )


def load_vgg19(explicit: str | Path | None = None) -> tuple[Vgg19Features, Path]:
    """A frozen ``Vgg19Features`` with ImageNet weights, and the file they came from."""
    path = find_vgg19_weights(explicit)
    try:
        weights = select_vgg19_weights(_read_state(path))
    except ValueError as err:
        raise FommError(f"{path}: {err}") from None
    vgg = Vgg19Features()
    vgg.load_state_dict(weights)
    return vgg, path
