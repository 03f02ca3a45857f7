"""Writing a file only where the command was told to: inside the folder it was given, never through a symbolic link
planted on the way, never over a file by half.

Every writer of the tool (result files, `meek results upgrade`, `meek report --out`, the schema, figures, the user's
tables) goes through `write_inside` or `replace_file`: the bytes go to a temporary file created exclusively
(`tempfile.mkstemp`, O_EXCL) in the target's own folder and are then renamed over the target, and a rename replaces a
link rather than following it. A folder on the way that is a link, or a target that is one, is refused in one line.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from harness.errors import MeekError


class Refused(MeekError):
    """An output path that would write outside its folder (a symbolic link on the way) or over something that is not a
    regular file; one line, exit code 1."""


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def make_folder(folder: Path, below: Path | None = None) -> Path:
    """Create `folder` (and its parents) and return it. With `below` (a folder the command was given), every part below
    `below` must be a real folder, not a link: a link planted there would carry the files elsewhere. The folder the user
    named, and those above it, are the user's own choice (a results folder kept on another disk through a link)."""
    folder = Path(os.path.abspath(folder))
    start = Path(os.path.abspath(below)) if below is not None else None
    parts = [folder, *folder.parents]
    checked = [p for p in parts if start is None or p == start or start in p.parents]
    for part in reversed(checked):
        if part == part.parent:
            continue
        if start is not None and part != start and _is_link(part):
            raise Refused(f"{part} is a symbolic link: not followed (write into a real folder)")
        if part.exists() and not part.is_dir():
            raise Refused(f"{part} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    if start is not None and folder != start and _is_link(folder):  # made into a link between the check and the mkdir
        raise Refused(f"{folder} is a symbolic link: not followed")
    return folder


def _atomic_write(target: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write `data` to a temporary file created exclusively beside `target`, flush it to disk and rename it over
    `target`; the temporary file never outlives a failure."""
    if _is_link(target):
        raise Refused(f"{target} is a symbolic link: not followed")
    if target.exists() and not stat.S_ISREG(os.lstat(target).st_mode):
        raise Refused(f"{target} exists and is not a regular file")
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)  # a rename: replaces a name (even a link's), never writes through one
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def write_inside(folder: Path, relative: str | Path, data: str | bytes) -> Path:
    """Write `data` at `folder`/`relative`, atomically, refusing any link from `folder` down to the file and any
    `relative` that climbs out (`..`, an absolute path)."""
    relative = Path(relative)
    if relative.is_absolute() or ".." in relative.parts:
        raise Refused(f"{relative}: not a path inside {folder}")
    root = make_folder(folder)
    parent = make_folder(root / relative.parent, below=root)
    target = parent / relative.name
    _atomic_write(target, data)
    return target


def replace_file(path: Path, data: str | bytes) -> None:
    """Replace an existing file's contents atomically (`meek results upgrade`); a link is refused, not followed."""
    path = Path(path)
    if _is_link(path):
        raise Refused(f"{path} is a symbolic link: not rewritten")
    _atomic_write(path, data)


def write_file(path: Path, data: str | bytes) -> Path:
    """Write one file the user named (`--write FILE`, `--out FILE`): atomically, the file itself not a link, and its
    folder created when missing."""
    path = Path(path)
    make_folder(path.parent if str(path.parent) else Path("."))
    _atomic_write(path, data)
    return path
