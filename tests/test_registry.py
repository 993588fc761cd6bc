"""Named models resolved offline: the hub's cache layout in a temporary HF_HOME, local files, checksums."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fomm_cli.registry import list_models, sha256_of

from .helpers import PARITY, driving_video

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def hub_cache(hf_home: Path, repo_id: str, filename: str, source: Path, repo_type: str = "model") -> Path:
    """Place ``source`` where huggingface_hub keeps a downloaded file."""
    repo = hf_home / "hub" / f"{repo_type}s--{repo_id.replace('/', '--')}"
    target = repo / "snapshots" / COMMIT / filename
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return target


@pytest.fixture()
def env(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    sha = sha256_of(PARITY / "a.pth.tar")
    (checkpoints / "registry.yaml").write_text(f"""
default_face_model: tiny-hub
models:
  tiny-hub:
    domain: cartoon
    description: parity model a from a hub copy
    filename: a.pth.tar
    sha256: {sha}
    hub: {{repo_id: someone/tiny, repo_type: model, filename: weights/a.pth.tar}}
  tiny-space:
    domain: cartoon
    description: the same file in a Space
    filename: a.pth.tar
    sha256: {sha}
    hub: {{repo_id: someone/space, repo_type: space, filename: a.pth.tar}}
  tiny-bad:
    domain: cartoon
    description: wrong checksum
    filename: bad.pth.tar
    sha256: "{"0" * 64}"
    hub: {{repo_id: someone/bad, filename: a.pth.tar}}
  tiny-manual:
    domain: cartoon
    description: no hub copy
    filename: manual.pth.tar
    source: https://example.org/weights
""")
    hf_home = tmp_path / "hf"
    hub_cache(hf_home, "someone/tiny", "weights/a.pth.tar", PARITY / "a.pth.tar")
    hub_cache(hf_home, "someone/space", "a.pth.tar", PARITY / "a.pth.tar", repo_type="space")
    hub_cache(hf_home, "someone/bad", "a.pth.tar", PARITY / "a.pth.tar")
    return {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "FOMM_HOME": str(tmp_path / "fomm"),
            "FOMM_CHECKPOINTS_DIR": str(checkpoints)}


def fomm(env, *args):
    return subprocess.run([sys.executable, "-m", "fomm_cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def test_list_shows_cache_state(env):
    result = fomm(env, "models", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["models"]}
    assert rows["tiny-hub"]["available"] and rows["tiny-space"]["available"]
    assert not rows["tiny-manual"]["available"]
    assert rows["tiny-hub"]["hub"] == ["hf.co/someone/tiny/weights/a.pth.tar"]


def test_download_resolves_from_the_hub_cache_offline(env):
    result = fomm(env, "models", "download", "tiny-space", "--json")
    assert result.returncode == 0, result.stderr
    path = Path(json.loads(result.stdout)["path"])
    assert path.is_file() and "spaces--someone--space" in str(path)


def test_checksum_mismatch_is_refused(env):
    result = fomm(env, "models", "download", "tiny-bad")
    assert result.returncode == 1 and "checksum" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_model_says_where_to_put_it(env, tmp_path):
    result = fomm(env, "models", "download", "tiny-manual")
    assert result.returncode == 1
    assert "https://example.org/weights" in result.stderr and "manual.pth.tar" in result.stderr
    manual = Path(env["FOMM_HOME"]) / "models" / "manual.pth.tar"
    manual.parent.mkdir(parents=True)
    shutil.copy(PARITY / "a.pth.tar", manual)
    result = fomm(env, "models", "download", "tiny-manual")
    assert result.returncode == 0 and result.stdout.strip() == str(manual)


def test_uncached_hub_model_offline_is_one_clear_line(env):
    shutil.rmtree(Path(env["HF_HOME"]) / "hub" / "models--someone--tiny")
    result = fomm(env, "models", "download", "tiny-hub")
    assert result.returncode == 1 and "a.pth.tar" in result.stderr and "fomm models download" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_animate_by_name_and_default_model(env, tmp_path):
    driving = driving_video(tmp_path / "d.mp4", repeat=1)
    result = fomm(env, "animate", PARITY / "source.png", driving, "-o", tmp_path / "named.mp4", "--model", "tiny-hub",
                  "--config", PARITY / "a.yaml", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "tiny-hub"
    shutil.rmtree(Path(env["HF_HOME"]) / "hub" / "models--someone--tiny")
    result = fomm(env, "animate", PARITY / "source.png", driving, "-o", tmp_path / "default.mp4")
    assert result.returncode == 1 and "--model demo" in result.stderr
    assert not (tmp_path / "default.mp4").exists()


def test_models_info_prints_official_layout(env):
    result = fomm(env, "models", "info", PARITY / "b.pth.tar", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    params = info["model_params"]
    assert params["common_params"] == {"num_kp": 5, "num_channels": 3, "estimate_jacobian": True}
    assert params["kp_detector_params"]["single_jacobian_map"] is True
    assert params["generator_params"]["estimate_occlusion_map"] is False
    assert params["discriminator_params"]["scales"] == [1, 0.5] and params["discriminator_params"]["use_kp"]
    assert info["format"] == "official"


def test_convert_roundtrip(env, tmp_path):
    out = tmp_path / "converted"
    result = fomm(env, "models", "convert", PARITY / "a.pth.tar", out)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    again = fomm(env, "models", "convert", PARITY / "a.pth.tar", out)
    assert again.returncode == 1 and "exists" in again.stderr
    info = json.loads(fomm(env, "models", "info", out, "--json").stdout)
    assert info["format"] == "fomm" and "discriminator" in info["parameters"]


def test_shipped_registry_is_complete_and_well_formed():
    """Every official model is registered; every entry can be resolved: a known domain, an existing config
    preset, a sha256 that is a sha256, hub copies with a repo and a file, a bundled folder that loads."""
    import re

    from fomm_cli.checkpoints import load_model
    from fomm_cli.jobs.animate import DOMAINS
    from fomm_cli.pretrained import preset_path
    from fomm_cli.registry import bundled_dir, default_face_model

    entries = {entry.name: entry for entry in list_models()}
    assert {"vox", "vox-adv", "taichi", "taichi-adv", "bair", "mgif", "fashion", "nemo", "demo"} <= set(entries)
    assert entries[default_face_model()].domain == "face"
    for entry in entries.values():
        assert entry.domain in DOMAINS, entry.name
        if entry.config is not None:
            assert preset_path(entry.config).is_file()
        if entry.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry.name
        assert all(hub.repo_id.count("/") == 1 and hub.filename for hub in entry.hub)
        assert entry.path is not None or entry.filename, entry.name
        if entry.path is not None:
            load_model(bundled_dir() / entry.path)
        else:
            assert entry.hub or entry.source.startswith("https://"), f"{entry.name}: nowhere to get it"


def test_registry_checksum_is_enforced(env, tmp_path):
    """A file in the local models folder that is not the registered one is refused, not loaded."""
    manual = Path(env["FOMM_HOME"]) / "models" / "bad.pth.tar"
    manual.parent.mkdir(parents=True)
    shutil.copy(PARITY / "b.pth.tar", manual)  # tiny-bad's registered checksum is all zeros
    result = fomm(env, "models", "info", "tiny-bad")
    assert result.returncode == 1 and "does not match the registry checksum" in result.stderr
