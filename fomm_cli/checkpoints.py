"""Reading and writing model weights, for both model families.

Two formats:
- official: a ``torch.save`` dict with optimizer states, ``epoch`` and the parts' state dicts: FOMM's
  ``generator``, ``kp_detector``, optional ``discriminator``; TPSMM's ``kp_detector``,
  ``dense_motion_network``, ``inpainting_network``, optional ``bg_predictor`` and ``avd_network``
  (``.pth.tar``; zip or legacy serialization). Read with ``weights_only=True``; files that need arbitrary
  unpickling are refused unless the caller trusts them.
- ours: a folder with ``model.safetensors`` (keys prefixed with the part names) and ``config.json``
  beside it (with the model's ``family``), so a checkpoint rebuilds itself.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fomm_cli.config import ModelConfig, config_from_json_dict, infer_config
from fomm_cli.errors import (
    CheckpointError,
    InputNotFound,
    OutputError,
    OutputExists,
    UnsafeOutput,
    UntrustedCheckpoint,
    last_line,
)
from fomm_cli.fsutil import replace_path, temp_dir_beside
from fomm_cli.interrupts import deferred
from fomm_cli.models.model import PARTS, FirstOrderModel
from fomm_cli.models.tpsmm import TPSMMConfig, TPSMotionModel, infer_tpsmm_config
from fomm_cli.models.tpsmm.config import PARTS as TPSMM_PARTS
from fomm_cli.models.tpsmm.config import REQUIRED_PARTS as TPSMM_REQUIRED

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


def is_pretrained_dir(path: Path) -> bool:
    return path.is_dir() and (path / WEIGHTS_NAME).is_file() and (path / CONFIG_NAME).is_file()


# A torch.save file is a zip archive (torch >= 1.6) or a pickle stream (legacy serialization).
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTOCOL = 0x80


def read_official(path: str | Path, trust: bool = False) -> dict[str, Any]:
    """Load an official ``.pth.tar`` as a dict of state dicts (tensors only unless ``trust``)."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFound(path, "checkpoint")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        raise CheckpointError(path, "the file is empty")
    if not (head.startswith(_ZIP_MAGIC) or head[0] == _PICKLE_PROTOCOL):
        raise CheckpointError(path, "not a checkpoint (neither a PyTorch archive nor a pickle)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as err:
        needs = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
        if needs is None:
            raise CheckpointError(path, f"not a readable checkpoint ({last_line(str(err))})") from None
        raise UntrustedCheckpoint(path, f"it needs {needs.group(1)}") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError) as err:
        raise CheckpointError(path, f"not a readable PyTorch checkpoint ({last_line(str(err))})") from None
    if not isinstance(data, Mapping):
        raise CheckpointError(path, f"not a FOMM checkpoint: it holds a {type(data).__name__}, not a dict of parts")
    if official_family(data) is None:
        tpsmm = any(part in data for part in TPSMM_REQUIRED if part != "kp_detector")
        required = TPSMM_REQUIRED if tpsmm else ("kp_detector", "generator")
        missing = next(part for part in required if part not in data)
        raise CheckpointError(path, f"not a {'TPSMM' if tpsmm else 'FOMM'} checkpoint: a part is missing", key=missing)
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

    config = config_from_json_dict(read_config_json(path))
    try:
        flat = load_file(path / WEIGHTS_NAME)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(path / WEIGHTS_NAME, f"not a readable safetensors file ({last_line(str(err))})") from None
    states: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in flat.items():
        part, _, name = key.partition(".")
        states.setdefault(part, {})[name] = tensor
    return config, states


def read_config_json(path: Path) -> dict[str, Any]:
    """Our folder's config.json as a dict."""
    try:
        data = json.loads((path / CONFIG_NAME).read_text())
    except (OSError, UnicodeDecodeError) as err:
        raise CheckpointError(path / CONFIG_NAME, f"not readable ({last_line(str(err))})") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(path / CONFIG_NAME, f"not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(data, dict):
        raise CheckpointError(path / CONFIG_NAME, "not a JSON object")
    return data


def stored_domain(path: str | Path) -> str | None:
    """The ``domain`` our config.json records (``fomm models convert`` writes it for registered models)."""
    folder = _weights_folder(Path(path))
    if not folder.is_dir():
        return None
    domain = read_config_json(folder).get("domain")
    return domain if isinstance(domain, str) else None


def check_tensors(path: Path, states: Mapping[str, Mapping[str, Any]]) -> None:
    """Every part is a non-empty mapping of finite floating-point tensors (BatchNorm's step counters are
    integers); anything else is a ``CheckpointError`` naming the tensor."""
    for part, state in states.items():
        if not isinstance(state, Mapping):
            raise CheckpointError(path, f"part is a {type(state).__name__}, not a dict of tensors", key=part)
        if not state:
            raise CheckpointError(path, "part holds no tensors", key=part)
        for key, tensor in state.items():
            where = f"{part}.{key}"
            if not isinstance(tensor, torch.Tensor):
                raise CheckpointError(path, f"entry is a {type(tensor).__name__}, not a tensor", key=where)
            if key.endswith("num_batches_tracked"):
                continue
            if not tensor.is_floating_point():
                raise CheckpointError(path, f"tensor has dtype {tensor.dtype}, not floating point", key=where)
            if not bool(torch.isfinite(tensor).all()):
                raise CheckpointError(path, "tensor holds NaN or infinite values", key=where)


def _check_fits(path: Path, part: str, module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """The tensors of ``state`` are exactly those of ``module``, with the same shapes."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise CheckpointError(path, "weights do not fit the architecture: tensor missing", key=f"{part}.{key}")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(path, f"weights do not fit the architecture: shape {tuple(state[key].shape)} "
                                        f"where {tuple(tensor.shape)} is needed", key=f"{part}.{key}")
    extra = [key for key in state if key not in expected]
    if extra:
        raise CheckpointError(path, f"weights do not fit the architecture: {len(extra)} unexpected tensor(s)",
                              key=f"{part}.{extra[0]}")


def _weights_folder(path: Path) -> Path:
    if path.suffix == ".safetensors" and path.is_file():
        return path.parent
    if path.is_dir() and not is_pretrained_dir(path) and is_pretrained_dir(path / "model"):
        return path / "model"  # a training run folder: its latest weights
    return path


def load_model(path: str | Path, config: ModelConfig | TPSMMConfig | None = None, trust: bool = False,
               with_discriminator: bool = False) -> FirstOrderModel | TPSMotionModel:
    """Build a model from an official ``.pth.tar``, our folder format, or a ``.safetensors`` file with a
    ``config.json`` beside it. The architecture comes from ``config`` if given, else from the file.
    A file that is not a usable checkpoint raises ``CheckpointError`` naming the problem and the tensor.

    A TPSMM has its optional parts (background predictor, AVD network) only where the file has their
    weights, whatever the config says; ``with_discriminator`` concerns FOMM only."""
    path = _weights_folder(Path(path))
    if path.is_dir():
        if not is_pretrained_dir(path):
            raise CheckpointError(path, f"a folder without {WEIGHTS_NAME} and {CONFIG_NAME}")
        stored_config, states = read_pretrained(path)
        family = stored_config.family
        config = config or stored_config
    else:
        data = read_official(path, trust)
        found = official_family(data)
        assert found is not None  # read_official refuses files of neither family
        family = found
        # Some files carry an empty optional part: treat it as absent.
        optional = ("discriminator", "bg_predictor", "avd_network")
        states = {part: data[part] for part in (TPSMM_PARTS if family == "tpsmm" else PARTS)
                  if part in data and not (part in optional and not data[part])}
    required = TPSMM_REQUIRED if family == "tpsmm" else ("kp_detector", "generator")
    for part in required:
        if part not in states:
            raise CheckpointError(path, "a part is missing", key=part)
    check_tensors(path, states)
    if config is None:
        try:
            config = (infer_tpsmm_config(states) if family == "tpsmm" else
                      infer_config(states["kp_detector"], states["generator"], states.get("discriminator")))
        except KeyError as err:
            raise CheckpointError(path, "cannot infer the architecture: tensor missing", key=str(err.args[0])) from None
        except (IndexError, ValueError) as err:
            raise CheckpointError(path, f"cannot infer the architecture ({last_line(str(err))})") from None
    if config.family != family:
        raise CheckpointError(path, f"a {family.upper()} checkpoint cannot take a {config.family.upper()} config")
    problem = config.problem()
    if problem is not None:
        raise CheckpointError(path, f"impossible config value: {problem[1]}", key=problem[0])
    if isinstance(config, TPSMMConfig):
        config = dataclasses.replace(config, bg=config.bg and "bg_predictor" in states,
                                     avd=config.avd if "avd_network" in states else None)
        model: FirstOrderModel | TPSMotionModel = TPSMotionModel(config)
    else:
        model = FirstOrderModel(config, with_discriminator=with_discriminator and "discriminator" in states)
    for name, module in model.parts().items():
        _check_fits(path, name, module, states[name])
        module.load_state_dict(states[name])
    return model.eval()


def save_pretrained(model: FirstOrderModel | TPSMotionModel, path: str | Path, with_discriminator: bool = True,
                    overwrite: bool = True, domain: str | None = None) -> Path:
    """Write ``config.json`` + ``model.safetensors`` into ``path`` atomically (temp folder, then rename).

    ``domain`` (face, body, ...) is recorded in config.json, so the folder loads with the right defaults.
    An existing ``path`` is replaced only with ``overwrite`` and only if it holds nothing but those two files.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise OutputExists(path)
        if not path.is_dir() or path.is_symlink():
            raise UnsafeOutput(path, "it is not a model folder")
        others = sorted(p.name for p in path.iterdir() if p.name not in (WEIGHTS_NAME, CONFIG_NAME))
        if others:
            raise UnsafeOutput(path, f"the folder holds other files ({', '.join(others[:3])})")
    flat: dict[str, torch.Tensor] = {}
    for name, module in model.parts().items():
        if name == "discriminator" and not with_discriminator:
            continue
        for key, tensor in module.state_dict().items():
            flat[f"{name}.{key}"] = tensor.detach().to("cpu").contiguous()
    config = model.config.to_json_dict()
    if domain is not None:
        config["domain"] = domain
    tmp: Path | None = None
    try:
        with deferred():  # a stop signal waits until the temporary folder is remembered for cleanup
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_dir_beside(path)
        save_file(flat, tmp / WEIGHTS_NAME, metadata={"format": "pt"})
        (tmp / WEIGHTS_NAME).chmod(tmp.stat().st_mode & 0o666)  # safetensors creates it private (0600)
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
        replace_path(tmp, path)
    except OSError as err:
        raise OutputError.from_os_error(path, err) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded
    return path
