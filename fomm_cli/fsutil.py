"""Safe file-system moves and temporary names shared by every writer (standard library only).

Temporary names look like ``.<name>.fomm-<pid>-<8 hex>.<tag>`` and sit beside what they become, so the
final move is a rename within one folder. They never exceed the folder's NAME_MAX: ``<name>`` is the
target's name, shortened when a long (but legal) name plus our prefix and suffix would not fit. The pid
tells a leftover of a killed process (SIGKILL, power loss) from the work of a live run:
``remove_leftovers`` deletes only entries that match this pattern, belong to this user and whose process
is gone.

Final moves never replace what they should not: ``move_noreplace`` fails with ``FileExistsError`` when
something appeared at the destination meanwhile (renameat2 RENAME_NOREPLACE where the kernel and file
system have it, else a hard link, else a check just before the rename).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

TEMP_PATTERN = re.compile(r"^\..*\.fomm-(?P<pid>\d+)-[0-9a-f]{8}\.[a-z]+$", re.DOTALL)
DEFAULT_NAME_MAX = 255


def name_max(folder: str | Path) -> int:
    """The longest file name, in bytes, that ``folder``'s file system accepts."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return DEFAULT_NAME_MAX


def temp_path(target: str | Path, tag: str = "tmp") -> Path:
    """A fresh temporary name beside ``target`` (not created), within NAME_MAX. ``tag``: lowercase letters."""
    target = Path(os.path.abspath(target))  # "." and ".." have no usable name of their own
    suffix = f".fomm-{os.getpid()}-{secrets.token_hex(4)}.{tag}"
    base = target.name
    room = name_max(target.parent) - len(os.fsencode(suffix)) - 1
    while len(os.fsencode(base)) > room:
        base = base[:-1]  # cut whole characters: a cut UTF-8 sequence would be an invalid name on some systems
    return target.parent / f".{base}{suffix}"


def fomm_home() -> Path:
    """Where fomm keeps files between runs (models, checksums, a saved face detector): ``$FOMM_HOME``, default
    ``~/.cache/fomm``."""
    return Path(os.environ.get("FOMM_HOME") or Path.home() / ".cache" / "fomm")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling renamed over it: readers see the old file or the
    new one, never half of it. Raises ``OSError`` (the temporary file is removed)."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "xb") as file:
            file.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def temp_owner(name: str) -> int | None:
    """The pid in one of our temporary names, None for any other name."""
    match = TEMP_PATTERN.match(name)
    return int(match["pid"]) if match else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (a process of another user counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete our temporary files and folders in ``folder`` whose process is gone; returns what was removed.

    Only names matching ``TEMP_PATTERN``, owned by this user, with a pid that is not running. Errors
    (a folder we cannot list or write) are ignored: cleaning up is a courtesy, never a reason to fail.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        pid = temp_owner(entry.name)
        if pid is None or pid_alive(pid):
            continue
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def create_temp_file(target: str | Path, tag: str = "tmp") -> Path:
    """Create an empty temporary file beside ``target`` with the permissions a new file gets (0666 less the
    umask, unlike ``mkstemp``'s 0600 that would stick after the rename). Raises ``OSError``."""
    while True:
        path = temp_path(target, tag)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path


def create_temp_dir(target: str | Path, tag: str = "tmp") -> Path:
    """Create an empty temporary folder beside ``target`` (0777 less the umask). Raises ``OSError``."""
    while True:
        path = temp_path(target, tag)
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path


def temp_dir_beside(path: Path) -> Path:
    """An empty hidden folder next to ``path`` to build an output in (after removing dead runs' leftovers
    there), with the permissions a plain ``mkdir`` would give."""
    path = Path(os.path.abspath(path))
    remove_leftovers(path.parent)
    return create_temp_dir(path)


def remove_path(path: Path) -> None:
    """Remove a file or folder tree if it exists (cleanup: errors ignored)."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def replace_path(src: Path, dst: Path) -> None:
    """Move a finished file or folder ``src`` to ``dst``, replacing whatever is there with as short a window
    as renames allow (an old folder is renamed aside first, then deleted). For results of our own that
    may be replaced (checkpoints, datasets); user-facing outputs go through ``move_noreplace`` or the
    checks in ``fomm_cli.media.outputs``."""
    if dst.is_dir() and not dst.is_symlink():
        old = temp_path(dst, "old")
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
        return
    if src.is_dir() and (dst.exists() or dst.is_symlink()):
        dst.unlink()  # a folder cannot replace a file in one rename
    os.replace(src, dst)


def move_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` unless something exists at ``dst``: then ``FileExistsError`` and ``src`` is
    left where it was. Atomic where the system allows; other ``OSError`` pass through."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if not src.is_dir():
        try:
            os.link(src, dst, follow_symlinks=False)
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
        else:
            os.unlink(src)
            return
    # No atomic way on this file system: a check and a rename, with a short window. A folder still cannot
    # land on a non-empty folder or a file (the rename fails); an empty folder loses nothing.
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    os.rename(src, dst)


def is_regular_or_absent(path: Path) -> bool:
    """True when ``path`` is a regular file, a symlink or nothing (what a rename may replace)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_renameat2_fn: Any = None


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """renameat2(2) through libc; False where the C library, kernel or file system lacks it."""
    global _renameat2_fn
    if _renameat2_fn is None:
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _renameat2_fn = getattr(libc, "renameat2", False)
        except (OSError, AttributeError):
            _renameat2_fn = False
        if _renameat2_fn:
            _renameat2_fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if not _renameat2_fn:
        return False
    import ctypes

    if _renameat2_fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    if err in (errno.EEXIST, errno.ENOTEMPTY):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(dst))
    raise OSError(err, os.strerror(err), str(src), None, str(dst))
