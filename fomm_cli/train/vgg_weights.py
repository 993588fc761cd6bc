"""Finding ImageNet weights for the VGG-19 perceptual loss.

Tried in order, first hit wins:
1. an explicit file (the ``vgg_weights`` setting: a ``.safetensors`` or ``.pth`` file in torchvision or timm
   naming);
2. the Hugging Face cache: ``timm/vgg19.tv_in1k`` ``model.safetensors`` (honours ``HF_HOME``/``HF_HUB_CACHE``);
3. the torchvision cache: ``$TORCH_HOME/hub/checkpoints/vgg19-dcbb9e9d.pth``;
4. a download from the Hugging Face hub, unless ``HF_HUB_OFFLINE`` is set.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from fomm_cli.errors import InputError, InputNotFound, MissingSetting, shorten
from fomm_cli.models.vgg import Vgg19Features, select_vgg19_weights
from fomm_cli.reporting import Reporter

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
            raise InputError(path, f"not a readable safetensors file ({shorten(str(err), 160)})") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        raise InputError(path, f"not a readable PyTorch weights file ({shorten(str(err), 160)})") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise InputError(path, "does not hold a state dict")
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


def find_vgg19_weights(explicit: str | Path | None = None, reporter: Reporter | None = None) -> Path:
    """The weights file to use, or a ``MissingSetting`` that says how to provide one."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise InputNotFound(path, "VGG-19 weights file")
        return path
    cached = _hub_file(offline_only=True)
    if cached is not None:
        return cached
    torchvision_file = torchvision_cache_file()
    if torchvision_file.is_file():
        return torchvision_file
    if not _hub_offline():
        with (reporter or Reporter()).status(f"downloading VGG-19 weights ({HUB_REPO})"):
            downloaded = _hub_file(offline_only=False)
        if downloaded is not None:
            return downloaded
    raise MissingSetting(
        "vgg_weights",
        f"no ImageNet VGG-19 weights for the perceptual loss in the Hugging Face cache ({HUB_REPO}) or at "
        f"{torchvision_file}" + (" (HF_HUB_OFFLINE is set)" if _hub_offline() else " (the download failed)")
        + ": a timm model.safetensors or torchvision vgg19-dcbb9e9d.pth; or perceptual l1, a pixel-pyramid loss",
    )


def load_vgg19(explicit: str | Path | None = None, reporter: Reporter | None = None) -> tuple[Vgg19Features, Path]:
    """A frozen ``Vgg19Features`` with ImageNet weights, and the file they came from."""
    path = find_vgg19_weights(explicit, reporter)
    try:
        weights = select_vgg19_weights(_read_state(path))
    except ValueError as err:
        raise InputError(path, str(err)) from None
    vgg = Vgg19Features()
    vgg.load_state_dict(weights)
    return vgg, path
