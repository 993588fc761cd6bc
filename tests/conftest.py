from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import torch

torch.set_flush_denormal(True)
torch.set_num_threads(2)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def official_configs_dir() -> Path:
    """The authors' YAML configs, shipped as presets in the package."""
    return ROOT / "fomm_cli" / "configs"


@pytest.fixture(scope="session")
def official_shapes() -> dict:
    import json

    return json.loads((FIXTURES / "official_shapes.json").read_text())
