"""What a wheel carries: every subpackage is listed in pyproject.toml, and the registry and demo model are
package data found through the import system (not through the checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")


def test_every_subpackage_is_packaged():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "fomm_cli").rglob("__init__.py")}
    assert on_disk | {"fomm_cli.bundled"} == listed


def test_bundled_files_come_from_the_package():
    import fomm_cli.bundled

    from fomm_cli.registry import bundled_dir, find_entry

    folder = Path(fomm_cli.bundled.__file__).parent
    assert (folder / "registry.yaml").is_file() and (folder / "demo" / "model.safetensors").is_file()
    demo = find_entry("demo")
    assert demo is not None and (bundled_dir() / demo.path / "config.json").is_file()
