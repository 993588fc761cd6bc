"""Atomic file-system moves shared by every writer (no heavy imports)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def replace_path(src: Path, dst: Path) -> None:
    """Move a finished file or folder ``src`` to ``dst``, replacing whatever is there with as short a window
    as renames allow (the old folder is renamed aside first, then deleted)."""
    if dst.is_dir() and not dst.is_symlink():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
        return
    if src.is_dir() and (dst.exists() or dst.is_symlink()):
        dst.unlink()  # a folder cannot replace a file in one rename
    os.replace(src, dst)


def temp_dir_beside(path: Path) -> Path:
    """An empty hidden folder next to ``path`` to build an output in, with the permissions a plain ``mkdir``
    would give (``tempfile.mkdtemp`` makes it private, 0700, which would stick after the rename)."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    return tmp
