"""One entry point from "what the user named" to a ready model: registry names, files, folders.

Names and paths never shadow each other: ``model`` is a registry name unless it cannot be one (it contains
a path separator, or it is not registered and exists on disk); ``checkpoint`` is always a path. The domain
(face, body, ...) that decides automatic face crops comes, in order, from the caller, the registry entry, a
registered checkpoint recognised by file name or checksum, or a ``domain`` recorded in our config.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fomm_cli.errors import ConflictingSettings, FommError, InputNotFound, ModelUnavailable, UnknownModel
from fomm_cli.reporting import Reporter

if TYPE_CHECKING:
    from fomm_cli.models.model import FirstOrderModel
    from fomm_cli.models.tpsmm.model import TPSMotionModel

PRESETS_DIR = Path(__file__).resolve().parent / "configs"


@dataclass(frozen=True)
class LoadedModel:
    """A model and where it came from. ``name``: the registry name (None for a path); ``domain_from``:
    how the domain was decided ("option", "registry", "file name", "checksum", "config", "unknown")."""

    model: FirstOrderModel | TPSMotionModel
    path: Path
    name: str | None
    domain: str | None
    domain_from: str

    @property
    def label(self) -> str:
        return self.name or str(self.path)


def preset_path(name_or_path: str) -> Path:
    """A config preset name (``vox-256``) or a YAML path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise InputNotFound(path, "config")
        return path
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    if not preset.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise FommError(f"unknown config {name_or_path!r} (a YAML path or one of: {known})")
    return preset


def resolve(model: str | None, checkpoint: str | Path | None, reporter: Reporter | None = None,
            ) -> tuple[Path, str | None]:
    """(weights path, registry name or None) for a model name or a checkpoint path; with neither, the
    default face model. Registry weights are downloaded if needed."""
    from fomm_cli import registry

    reporter = reporter or Reporter()
    if model is not None and checkpoint is not None:
        raise ConflictingSettings(("model", "checkpoint"), "give one, not both")
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.exists():
            raise InputNotFound(path, "checkpoint")
        return path, None
    if model is None:
        name = registry.default_face_model()
        try:
            return registry.download(registry.get_entry(name), reporter), name
        except ModelUnavailable as err:
            raise ModelUnavailable(err.name, err.reason, err.how_to_get, downloadable=err.downloadable,
                                   is_default=True) from None
    entry = registry.find_entry(model)
    if entry is not None:
        return registry.download(entry, reporter), entry.name
    path = Path(model).expanduser()
    if "/" in model or path.exists():
        if not path.exists():
            raise InputNotFound(path, "checkpoint")
        reporter.note(f"{model} is not a registered model name: using the local path {path}")
        return path, None
    raise UnknownModel(model, [e.name for e in registry.list_models()])


def load_pretrained(model: str | None = None, *, checkpoint: str | Path | None = None, config: str | None = None,
               trust: bool = False, domain: str | None = None, with_discriminator: bool = False,
               reporter: Reporter | None = None) -> LoadedModel:
    """Load by registry name (``model``) or by path (``checkpoint``); with neither, the default face model.

    ``config``: an official YAML (or preset name) to use instead of the architecture stored in or inferred
    from the weights. ``trust``: allow full unpickling of an official file (only for files you trust).
    ``domain``: what the model animates, when the caller knows better than the registry.
    """
    from fomm_cli import registry
    from fomm_cli.checkpoints import load_model, stored_domain
    from fomm_cli.config import config_from_yaml

    path, name = resolve(model, checkpoint, reporter)
    entry = registry.find_entry(name) if name else None
    recognised = registry.recognise(path) if entry is None else None  # a registered file passed as a path
    # The registry's config holds the few settings no tensor shows; trust it for the very file only (a
    # checkpoint that merely shares the official name may be a fine-tune with another architecture).
    known = entry or (recognised[0] if recognised and recognised[1] == "checksum" else None)
    if config is not None:
        model_config = config_from_yaml(preset_path(config))
    elif known is not None and known.config is not None:
        model_config = config_from_yaml(preset_path(known.config))
    else:
        model_config = None
    loaded = load_model(path, config=model_config, trust=trust, with_discriminator=with_discriminator)
    if domain is not None:
        decided, how = domain, "option"
    elif entry is not None:
        decided, how = entry.domain, "registry"
    elif recognised is not None:
        decided, how = recognised[0].domain, recognised[1]
    elif (recorded := stored_domain(path)) is not None:
        decided, how = recorded, "config"
    else:
        decided, how = None, "unknown"
    return LoadedModel(loaded, path, name, decided, how)
