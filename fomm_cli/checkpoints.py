"""Reading and writing model weights, for both model families.

Two formats:
- official: a ``torch.save`` dict with optimizer states, ``epoch`` and the parts' state dicts: FOMM's
  ``generator``, ``kp_detector``, optional ``discriminator``; TPSMM's ``kp_detector``,
  ``dense_motion_network``, ``inpainting_network``, optional ``bg_predictor`` and ``avd_network``
  (``.pth.tar``; zip or legacy serialization). Read with ``weights_only=True``; files that need arbitrary
  unpickling are refused unless the caller trusts them.
- ours: a folder with ``model.safetensors`` (keys prefixed with the part names) and ``config.json``
  beside it (with a ``family``), so a checkpoint rebuilds itself.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fomm_cli.config import ModelConfig, config_from_json_dict, infer_config
from fomm_cli.errors import FommError
from fomm_cli.fsutil import replace_path, temp_dir_beside
from fomm_cli.models.model import PARTS, FirstOrderModel
from fomm_cli.models.tpsmm import TPSMMConfig, TPSMotionModel, infer_tpsmm_config
from fomm_cli.models.tpsmm.config import PARTS as TPSMM_PARTS
from fomm_cli.models.tpsmm.config import REQUIRED_PARTS as TPSMM_REQUIRED

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def is_pretrained_dir(path: Path) -> bool:
    return path.is_dir() and (path / WEIGHTS_NAME).is_file() and (path / CONFIG_NAME).is_file()


def read_official(path: str | Path, trust: bool = False) -> dict[str, Any]:
    """Load an official ``.pth.tar`` as a dict of state dicts (tensors only unless ``trust``)."""
    path = Path(path)
    if not path.is_file():
        raise FommError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "unsupported object"
        raise FommError(
            f"{path} contains objects other than tensors ({first[:120]}); if you trust its source, "
            "pass --trust-checkpoint to load it with full unpickling"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise FommError(f"{path} is not a readable PyTorch checkpoint ({str(err).splitlines()[0][:160]})") from None
    if not isinstance(data, Mapping) or official_family(data) is None:
        keys = sorted(data)[:8] if isinstance(data, Mapping) else type(data).__name__
        raise FommError(f"{path} is neither a FOMM checkpoint (expected 'generator' and 'kp_detector') nor a TPSMM "
                        f"checkpoint (expected {', '.join(map(repr, TPSMM_REQUIRED))}), found {keys}")
    return dict(data)


def official_family(data: Mapping[str, Any]) -> str | None:
    """"tpsmm", "fomm" or None: which family's parts an official checkpoint dict holds."""
    if all(part in data for part in TPSMM_REQUIRED):
        return "tpsmm"
    if "generator" in data and "kp_detector" in data:
        return "fomm"
    return None


def read_pretrained(path: Path) -> tuple[ModelConfig | TPSMMConfig, dict[str, dict[str, torch.Tensor]]]:
    """Load our format: (config, {part: state_dict})."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        config = config_from_json_dict(json.loads((path / CONFIG_NAME).read_text()))
    except json.JSONDecodeError as err:
        raise FommError(f"{path / CONFIG_NAME} is not valid JSON: {err}") from None
    try:
        flat = load_file(path / WEIGHTS_NAME)
    except (SafetensorError, OSError) as err:
        raise FommError(f"{path / WEIGHTS_NAME} is not a readable safetensors file ({err})") from None
    states: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        part, _, name = key.partition(".")
        states.setdefault(part, {})[name] = tensor
    return config, states


def load_model(path: str | Path, config: ModelConfig | TPSMMConfig | None = None, trust: bool = False,
               with_discriminator: bool = False) -> FirstOrderModel | TPSMotionModel:
    """Build a model from an official ``.pth.tar``, our folder format, or a ``.safetensors`` file with a
    ``config.json`` beside it. The architecture comes from ``config`` if given, else from the file.

    A TPSMM has its optional parts (background predictor, AVD network) only when the file has their weights;
    ``with_discriminator`` concerns FOMM only."""
    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file():
        path = path.parent
    if path.is_dir() and not is_pretrained_dir(path) and is_pretrained_dir(path / "model"):
        path = path / "model"  # a training run folder: its latest weights
    if path.is_dir():
        if not is_pretrained_dir(path):
            raise FommError(f"{path} is a folder without {WEIGHTS_NAME} and {CONFIG_NAME}")
        stored_config, states = read_pretrained(path)
        family = stored_config.family
        config = config or stored_config
    else:
        data = read_official(path, trust)
        family = official_family(data)
        parts = TPSMM_PARTS if family == "tpsmm" else PARTS
        states = {part: data[part] for part in parts if isinstance(data.get(part), Mapping) and data[part]}
        if config is None:
            config = (infer_tpsmm_config(states) if family == "tpsmm" else
                      infer_config(states["kp_detector"], states["generator"], states.get("discriminator")))
    if config.family != family:
        raise FommError(f"{path} holds a {family.upper()} model; the config given is for {config.family.upper()}")
    if isinstance(config, TPSMMConfig):
        config = dataclasses.replace(config, bg=config.bg and "bg_predictor" in states,
                                     avd=config.avd if "avd_network" in states else None)
        model: FirstOrderModel | TPSMotionModel = TPSMotionModel(config)
    else:
        model = FirstOrderModel(config, with_discriminator=with_discriminator and "discriminator" in states)
    for name, module in model.parts().items():
        try:
            module.load_state_dict(states[name])
        except (RuntimeError, KeyError) as err:
            detail = str(err).splitlines()[0] if str(err) else f"missing {name}"
            raise FommError(f"{path}: weights do not fit the model config ({detail[:200]})") from None
    return model.eval()


def save_pretrained(model: FirstOrderModel | TPSMotionModel, path: str | Path, with_discriminator: bool = True,
                    overwrite: bool = True) -> Path:
    """Write ``config.json`` + ``model.safetensors`` into ``path`` atomically (temp folder, then rename)."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists() and not overwrite:
        raise FommError(f"{path} exists (use -y to overwrite)")
    flat: dict[str, torch.Tensor] = {}
    for name, module in model.parts().items():
        if name == "discriminator" and not with_discriminator:
            continue
        for key, tensor in module.state_dict().items():
            flat[f"{name}.{key}"] = tensor.detach().to("cpu").contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_beside(path)
    try:
        save_file(flat, tmp / WEIGHTS_NAME, metadata={"format": "pt"})
        (tmp / WEIGHTS_NAME).chmod(tmp.stat().st_mode & 0o666)  # safetensors creates it private (0600)
        (tmp / CONFIG_NAME).write_text(json.dumps(model.config.to_json_dict(), indent=2) + "\n")
        replace_path(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
