"""`fomm models`: list the registry, describe a checkpoint, download a named model, convert to our format."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from fomm_cli import __version__
from fomm_cli.errors import InputNotFound, OutputExists
from fomm_cli.reporting import Reporter


@dataclass
class ModelRow:
    name: str
    domain: str
    description: str
    available: bool
    path: str | None
    hub: list[str]
    details: dict[str, Any]


@dataclass
class ListSummary:
    models: list[ModelRow]

    def to_json(self) -> dict[str, Any]:
        return {"models": [{**row.details, "available": row.available, "path": row.path} for row in self.models],
                "version": __version__}


def list_registry() -> ListSummary:
    """Every registered model and whether its weights are on this machine (no network)."""
    from fomm_cli.registry import list_models, locate

    rows = []
    for entry in list_models():
        found = locate(entry)
        rows.append(ModelRow(entry.name, entry.domain, entry.description, found is not None,
                             str(found) if found else None, [h.describe() for h in entry.hub], entry.to_dict()))
    return ListSummary(rows)


@dataclass(frozen=True)
class InfoOptions:
    """``model``: a registered name or a checkpoint path (see ``pretrained.resolve``)."""

    model: str
    config: str | None = None
    trust_checkpoint: bool = False


@dataclass
class InfoSummary:
    path: str
    name: str | None
    family: str
    format: str
    domain: str | None
    domain_from: str
    model_params: dict[str, Any]
    image_size: list[int]
    align_corners: bool
    parameters: dict[str, int]
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def info(options: InfoOptions, reporter: Reporter | None = None) -> InfoSummary:
    """A checkpoint's architecture in the official ``model_params`` layout."""
    from fomm_cli.pretrained import load_pretrained

    loaded = load_pretrained(options.model, config=options.config, trust=options.trust_checkpoint,
                             with_discriminator=True, reporter=reporter)
    config = loaded.model.config
    return InfoSummary(
        path=str(loaded.path), name=loaded.name, family=config.family,
        format="fomm" if loaded.path.is_dir() else "official",
        domain=loaded.domain, domain_from=loaded.domain_from, model_params=config.to_official(),
        image_size=list(config.image_size), align_corners=config.align_corners,
        parameters={name: sum(p.numel() for p in part.parameters()) for name, part in loaded.model.parts().items()},
    )


@dataclass
class DownloadSummary:
    name: str
    path: str
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def download(name: str, reporter: Reporter | None = None) -> DownloadSummary:
    """Fetch a named model into the local cache (checksum verified)."""
    from fomm_cli.registry import download as fetch
    from fomm_cli.registry import get_entry

    return DownloadSummary(name, str(fetch(get_entry(name), reporter)))


@dataclass(frozen=True)
class ConvertOptions:
    source: Path
    output: Path
    config: str | None = None
    discriminator: bool = True
    trust_checkpoint: bool = False
    overwrite: bool = False


@dataclass
class ConvertSummary:
    source: str
    path: str
    parts: list[str]
    domain: str | None
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_convert(options: ConvertOptions) -> None:
    if not options.source.exists():
        raise InputNotFound(options.source, "checkpoint")
    if (options.output.exists() or options.output.is_symlink()) and not options.overwrite:
        raise OutputExists(options.output)


def convert(options: ConvertOptions, reporter: Reporter | None = None) -> ConvertSummary:
    """An official checkpoint in our format (safetensors weights + config.json), with the domain of the
    registered model it is recognised as, so the folder keeps its defaults (automatic face crops)."""
    from fomm_cli.checkpoints import save_pretrained
    from fomm_cli.pretrained import load_pretrained

    check_convert(options)
    loaded = load_pretrained(checkpoint=options.source, config=options.config, trust=options.trust_checkpoint,
                             with_discriminator=options.discriminator, reporter=reporter)
    save_pretrained(loaded.model, options.output, with_discriminator=options.discriminator,
                    overwrite=options.overwrite, domain=loaded.domain)
    return ConvertSummary(str(options.source), str(options.output), sorted(loaded.model.parts()), loaded.domain)
