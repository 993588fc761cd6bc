"""One entry point from "what the user named" to a ready model: registry names, files, folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fomm_cli.errors import ConflictingSettings, FommError
from fomm_cli.models.model import FirstOrderModel
from fomm_cli.models.tpsmm.model import TPSMotionModel

PRESETS_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class ModelSource:
    """Where a loaded model came from: ``name`` is the registry name (None for a bare path)."""

    name: str | None
    domain: str | None
    path: Path


def preset_path(name_or_path: str) -> Path:
    """A config preset name (``vox-256``) or a YAML path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FommError(f"config not found: {path}")
        return path
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    if not preset.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise FommError(f"unknown config {name_or_path!r} (a YAML path or one of: {known})")
    return preset


def load_model(model: str | None = None, *, checkpoint: str | Path | None = None, config: str | None = None,
               trust: bool = False, quiet: bool = False, with_discriminator: bool = False,
               ) -> tuple[FirstOrderModel | TPSMotionModel, ModelSource]:
    """Load by registry name (``model``) or by path (``checkpoint``); with neither, the default face model.

    ``config``: an official YAML (or preset name) to use instead of the architecture stored in or inferred
    from the weights. ``trust``: allow full unpickling of an official file (only for files you trust).
    """
    from fomm_cli import registry
    from fomm_cli.checkpoints import load_model as load_weights
    from fomm_cli.config import config_from_yaml

    if model is not None and checkpoint is not None:
        raise ConflictingSettings(("model", "checkpoint"), "give one, not both")
    entry = None
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise FommError(f"checkpoint not found: {path}")
    elif model is not None:
        path, entry = registry.resolve(model, quiet=quiet)
    else:
        name = registry.default_face_model()
        try:
            path, entry = registry.resolve(name, quiet=quiet)
        except FommError as err:
            raise FommError(f"no model given and the default face model is unavailable ({err}); "
                            "or try the bundled offline model with --model demo") from None
    if config is not None:
        model_config = config_from_yaml(preset_path(config))
    elif entry is not None and entry.config is not None:
        model_config = config_from_yaml(preset_path(entry.config))
    else:
        model_config = None
    loaded = load_weights(path, config=model_config, trust=trust, with_discriminator=with_discriminator)
    return loaded, ModelSource(entry.name if entry else None, entry.domain if entry else None, path)
