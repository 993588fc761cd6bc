"""Named models: ``registry.yaml`` maps a name to where its weights live (timm-style ``list_models``).

The registry and the bundled demo model are package data (the top-level ``checkpoints/`` folder, installed as
``fomm_cli.bundled``); ``$FOMM_CHECKPOINTS_DIR`` points at another such folder (tests, private registries).

Where a name's weights are looked for, in order: a folder shipped with the registry (``path``), a file the
user placed in the local models folder (``$FOMM_HOME/models``, default ``~/.cache/fomm/models``), then the
Hugging Face Hub cache and a download through ``huggingface_hub`` (resumable, honours ``HF_HOME`` and
``HF_HUB_OFFLINE``), checked against the registry's sha256.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fomm_cli.errors import FommError, ModelUnavailable, UnknownModel
from fomm_cli.fsutil import fomm_home
from fomm_cli.reporting import Reporter


def bundled_dir() -> Path:
    """The folder holding ``registry.yaml`` and the bundled models."""
    override = os.environ.get("FOMM_CHECKPOINTS_DIR")
    if override:
        return Path(override)
    import fomm_cli.bundled

    return Path(fomm_cli.bundled.__file__).parent


@dataclass(frozen=True)
class HubFile:
    repo_id: str
    filename: str
    repo_type: str = "model"

    def describe(self) -> str:
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        return f"hf.co/{kind}{self.repo_id}/{self.filename}"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    domain: str
    description: str
    config: str | None = None
    path: str | None = None
    filename: str | None = None
    sha256: str | None = None
    hub: tuple[HubFile, ...] = field(default_factory=tuple)
    license: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "domain": self.domain, "description": self.description, "config": self.config,
            "filename": self.filename, "sha256": self.sha256, "license": self.license, "source": self.source,
            "hub": [h.describe() for h in self.hub], "bundled": self.path is not None,
        }


def models_home() -> Path:
    return fomm_home() / "models"


def _load_registry() -> dict[str, Any]:
    import yaml

    path = bundled_dir() / "registry.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise FommError(f"model registry not readable at {path}: {(err.strerror or str(err)).lower()}") from None
    except yaml.YAMLError as err:
        raise FommError(f"model registry {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    return data if isinstance(data, dict) else {}


def _entry(name: str, raw: dict[str, Any]) -> ModelEntry:
    hubs = []
    for item in ([raw["hub"]] if raw.get("hub") else []) + list(raw.get("mirrors") or []):
        hubs.append(HubFile(item["repo_id"], item["filename"], item.get("repo_type", "model")))
    return ModelEntry(
        name=name, domain=raw.get("domain", "unknown"), description=raw.get("description", ""),
        config=raw.get("config"), path=raw.get("path"), filename=raw.get("filename"),
        sha256=str(raw["sha256"]) if raw.get("sha256") else None,  # quoted or not in the YAML
        hub=tuple(hubs), license=raw.get("license", ""), source=raw.get("source", ""),
    )


def list_models() -> list[ModelEntry]:
    """All registered models, in registry order."""
    return [_entry(name, raw) for name, raw in (_load_registry().get("models") or {}).items()]


def default_face_model() -> str:
    return _load_registry().get("default_face_model", "vox-adv")


def find_entry(name: str) -> ModelEntry | None:
    return next((entry for entry in list_models() if entry.name == name), None)


def get_entry(name: str) -> ModelEntry:
    entry = find_entry(name)
    if entry is None:
        raise UnknownModel(name, [e.name for e in list_models()])
    return entry


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def cached_sha256(path: Path) -> str:
    """sha256 of a file, remembered by real path, size and modification time (a 700 MB checkpoint takes
    about a second to hash)."""
    stamp = _stamp(path)
    memo = fomm_home() / "hashes" / hashlib.sha1(stamp.encode()).hexdigest()
    try:
        return memo.read_text().strip()
    except OSError:
        pass
    digest = sha256_of(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(digest)
    except OSError:
        pass  # a read-only home only costs the hash next time
    return digest


def recognise(path: Path) -> tuple[ModelEntry, str] | None:
    """The registered model a checkpoint file is, and how it was recognised ("checksum" or "file name")."""
    if not path.is_file():
        return None
    entries = list_models()
    by_name = [entry for entry in entries if entry.filename == path.name]
    if by_name:
        return by_name[0], "file name"
    checksums = {entry.sha256: entry for entry in entries if entry.sha256}
    if checksums:
        entry = checksums.get(cached_sha256(path))
        if entry is not None:
            return entry, "checksum"
    return None


def locate(entry: ModelEntry) -> Path | None:
    """Where the weights already are on this machine (not verified), without any network access."""
    if entry.path is not None:
        local = bundled_dir() / entry.path
        return local if local.exists() else None
    if entry.filename and (models_home() / entry.filename).is_file():
        return models_home() / entry.filename
    from huggingface_hub import try_to_load_from_cache

    for hub in entry.hub:
        found = try_to_load_from_cache(hub.repo_id, hub.filename, repo_type=hub.repo_type)
        if isinstance(found, str):
            return Path(found)
    return None


def verify(entry: ModelEntry, path: Path) -> Path:
    """``path`` if it matches the registry's sha256 (a bad file raises ``FommError``)."""
    if entry.sha256 and cached_sha256(path) != entry.sha256:
        raise FommError(f"{path} does not match the registry checksum of {entry.name} (corrupt or a different "
                        "file): delete it and download again")
    return path


def where_to_put(entry: ModelEntry) -> str:
    target = models_home() / (entry.filename or entry.name)
    if entry.hub:
        return f"or put {entry.filename} at {target}"
    return f"download {entry.filename} from {entry.source} and put it at {target}"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub can be reached now: False in offline mode (``HF_HUB_OFFLINE``), else a
    quick TCP check, so being offline fails in seconds rather than after the hub client's retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def download(entry: ModelEntry, reporter: Reporter | None = None) -> Path:
    """The weights of ``entry``: from this machine if present, else fetched from each hub copy in turn;
    checksum verified. Raises ``ModelUnavailable`` when they cannot be had now."""
    reporter = reporter or Reporter()
    found = locate(entry)
    if found is not None:
        return verify(entry, found)
    if not entry.hub:
        raise ModelUnavailable(entry.name, "its weights are not on this machine and have no hub copy",
                               where_to_put(entry))
    if not hub_reachable():
        from huggingface_hub import constants

        why = "offline mode (HF_HUB_OFFLINE)" if constants.HF_HUB_OFFLINE else "the Hugging Face Hub is unreachable"
        raise ModelUnavailable(entry.name, f"not downloaded yet and {why}", where_to_put(entry), downloadable=True)
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    failures = []
    for hub in entry.hub:
        try:
            with reporter.status(f"downloading {entry.name} from {hub.describe()}"):
                path = Path(hf_hub_download(hub.repo_id, hub.filename, repo_type=hub.repo_type))
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
            failures.append(f"{hub.describe()}: {type(err).__name__}")
            continue
        try:
            return verify(entry, path)
        except FommError:
            path.unlink(missing_ok=True)
            failures.append(f"{hub.describe()}: checksum mismatch (file removed)")
    raise ModelUnavailable(entry.name, f"download failed ({'; '.join(failures)})", where_to_put(entry),
                           downloadable=True)
