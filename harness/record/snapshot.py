"""The record that travels with the package: the result files of `results/` packed into one tar.xz when the wheel is
built (hatch_build.py loads this module by its path, so it imports only the standard library at the top), read back by
compare and advise when no results folder is at hand, and refreshed from a service by `meek record pull URL --snapshot`
into $MEEK_HOME. Nothing is locked in: the snapshot holds the result files themselves, read through the same checks as
any results tree, and `tar xf` gives them back.

Layout: `snapshot.json` ({"format": 1, "made_utc", "source", "files"}) and `results/<machine folder>/<name>.json`.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
NAME = "record-snapshot.tar.xz"
INFO = "snapshot.json"
MAX_MEMBER_BYTES = 16 * 2**20  # well above a result file's cap: a bigger member is not one of ours
MAX_MEMBERS = 1_000_000
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,199}")


class SnapshotError(Exception):
    """A snapshot that cannot be read (not a tar.xz, no snapshot.json, a member outside results/)."""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    made_utc: dt.datetime
    source: str
    files: int

    def describe(self) -> str:
        return f"{self.files} result file(s) from {self.source}, made {self.made_utc:%Y-%m-%d %H:%M} UTC"


def pack(root: Path, out: Path, source: str, made: dt.datetime | None = None) -> int:
    """Pack every result file under `root` (regular *.json files; links are not followed) into `out`, written to a
    temporary file beside it and renamed, so a reader never sees half a snapshot. The number of files packed."""
    made = made or dt.datetime.now(dt.timezone.utc)
    files = sorted(p for p in root.rglob("*.json") if p.is_file() and not p.is_symlink() and _safe(p.relative_to(root)))
    info = {"format": FORMAT, "made_utc": made.isoformat(), "source": source, "files": len(files)}
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        with tarfile.open(temporary, "w:xz", preset=9) as archive:
            _add(archive, INFO, json.dumps(info, indent=1).encode(), made)
            for path in files:
                _add(archive, f"results/{path.relative_to(root).as_posix()}", path.read_bytes(), made)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(files)


def _add(archive: tarfile.TarFile, name: str, data: bytes, made: dt.datetime) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mtime, member.mode = len(data), int(made.timestamp()), 0o644
    archive.addfile(member, io.BytesIO(data))


def _safe(relative: Path) -> bool:
    """A path of plain names (no '..', no hidden or odd names): what a results tree holds."""
    return all(_PART.fullmatch(part) for part in relative.parts)


def read(path: Path) -> Snapshot:
    """The snapshot's description (its snapshot.json); SnapshotError when it is not a snapshot of this format."""
    try:
        with tarfile.open(path, "r:xz") as archive:
            member = archive.next()
            if member is None or member.name != INFO or not member.isfile() or member.size > 65536:
                raise SnapshotError(f"{path}: not a record snapshot (no {INFO} first)")
            extracted = archive.extractfile(member)
            assert extracted is not None  # a regular file
            info = json.loads(extracted.read())
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise SnapshotError(f"{path}: a snapshot of another format ({info.get('format') if isinstance(info, dict) else '?'})")
        made = dt.datetime.fromisoformat(str(info["made_utc"]))
        return Snapshot(
            path, made if made.tzinfo else made.replace(tzinfo=dt.timezone.utc), str(info["source"]), int(info["files"])
        )
    except (OSError, tarfile.TarError, EOFError, ValueError, KeyError, TypeError) as error:
        raise SnapshotError(f"{path}: not a readable record snapshot ({type(error).__name__}: {error})") from None


def candidates() -> list[Path]:
    """Where snapshots are looked for: the one `meek record pull --snapshot` keeps in $MEEK_HOME, then the one shipped
    in the package."""
    from harness.home import PACKAGE_DATA, meek_home

    return [meek_home() / NAME, PACKAGE_DATA / NAME]


def newest() -> tuple[Snapshot | None, list[str]]:
    """The most recently made readable snapshot, and a line for each one found that could not be read."""
    found, problems = [], []
    for path in candidates():
        if not path.is_file():
            continue
        try:
            found.append(read(path))
        except SnapshotError as error:
            problems.append(str(error))
    return (max(found, key=lambda s: s.made_utc) if found else None), problems


@contextmanager
def unpacked(snapshot: Snapshot) -> Iterator[Path]:
    """The snapshot's result files in a private temporary folder (removed afterwards): its `results` folder. Only
    regular members under results/ with plain names are written, each inside the folder."""
    folder = Path(tempfile.mkdtemp(prefix="meek-snapshot-"))
    try:
        root = folder / "results"
        root.mkdir()
        try:
            with tarfile.open(snapshot.path, "r:xz") as archive:
                for count, member in enumerate(archive):
                    if count > MAX_MEMBERS:
                        raise SnapshotError(f"{snapshot.path}: more than {MAX_MEMBERS} members")
                    if member.name == INFO:
                        continue
                    relative = Path(member.name)
                    if not member.isfile() or relative.parts[:1] != ("results",) or len(relative.parts) < 2:
                        raise SnapshotError(f"{snapshot.path}: member {member.name[:100]!r} is not a result file")
                    inside = Path(*relative.parts[1:])
                    if not _safe(inside) or member.size > MAX_MEMBER_BYTES:
                        raise SnapshotError(f"{snapshot.path}: member {member.name[:100]!r} is not a result file")
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    target = root / inside
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "xb") as handle:  # never over a file already written (a repeated name)
                        shutil.copyfileobj(extracted, handle)
        except (OSError, tarfile.TarError, EOFError) as error:
            raise SnapshotError(f"{snapshot.path}: cannot be unpacked ({type(error).__name__}: {error})") from None
        yield root
    finally:
        shutil.rmtree(folder, ignore_errors=True)
