"""Reading a stranger's file: only a regular file, at most a few MiB of it, strict JSON with every number in range, no
duplicate keys, and no markup, control or direction-changing characters in any string.

Every command that opens a result file (validate, compare, report, submit, import, upgrade) reads it through here, so a
FIFO, a link to /dev/zero, a 10**400 integer or a key given twice is a reason, never a hang, a crash or a silent pick.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path

from harness.text import RAW_CONTROL

MAX_FILE_BYTES = 5 * 2**20  # a real result file with thousands of samples is well under 1 MB
MAX_INT = 10**18  # above any count, byte size or nanosecond time a result holds (10**18 ns is 31 years)
# Searched in the canonical JSON text (ensure_ascii=False): a string's C0 controls appear there as escapes, everything
# else as itself.
TAG = re.compile(r"<[A-Za-z!/?]")
CONTROL_ESCAPE = re.compile(r"\\\\|(\\[bfnrt]|\\u00[01][0-9a-f])")  # an escaped backslash, or (a C0 control character)


class Rejected(Exception):
    """A file that cannot be read as a result document; the message is the reason."""


def read_regular(path: Path, limit: int = MAX_FILE_BYTES, follow_links: bool = False) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO, a device or a folder is refused before it is opened
    (opening a FIFO blocks; /dev/zero never ends), and no more than `limit` + 1 bytes are ever read. A link is refused
    too, unless `follow_links` (a file the user names on the command line), when what it points to is read."""
    try:
        info = os.stat(path, follow_symlinks=follow_links)
    except OSError as error:
        raise Rejected(f"cannot read: {error.strerror or error}") from None
    if stat.S_ISLNK(info.st_mode):
        raise Rejected("symbolic link: not followed")
    if not stat.S_ISREG(info.st_mode):
        raise Rejected("not a regular file (a FIFO, a device or a folder)")
    if info.st_size > limit:
        raise Rejected(f"file is {info.st_size / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB limit")
    try:
        flags = os.O_RDONLY | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0)) | getattr(os, "O_NONBLOCK", 0)
        descriptor = os.open(path, flags)
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # swapped for something else since the stat
                raise Rejected("not a regular file")
            data = handle.read(limit + 1)
    except OSError as error:
        raise Rejected(f"cannot read: {error.strerror or error}") from None
    if len(data) > limit:
        raise Rejected(f"file grew past the {limit / 2**20:g} MiB limit while being read")
    return data


def read_text(path: Path, limit: int) -> str:
    """A regular UTF-8 text file of at most `limit` bytes (an importer's input), or MeekError naming the path and why."""
    from harness.errors import MeekError

    try:
        return read_regular(path, limit).decode("utf-8")
    except Rejected as error:
        raise MeekError(f"{path}: {error}") from None
    except UnicodeDecodeError:
        raise MeekError(f"{path}: not UTF-8 text") from None


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:  # checked on the digits before converting: no 4,300-digit int() is ever attempted
        raise ValueError(f"integer {text[:20]}... is out of range")
    value = int(text)
    if abs(value) > MAX_INT:
        raise ValueError(f"integer {text} is out of range")
    return value


def _no_constants(name: str):
    raise ValueError(f"{name} is not allowed in a result file")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise ValueError(f"key {twice!r} appears twice in one object (readers would disagree on its value)")
    return document


def loads_strict(data: bytes | str) -> object:
    """Strict JSON: finite floats, integers within MAX_INT, no NaN or Infinity, no duplicate keys."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return json.loads(
        text, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constants, object_pairs_hook=_unique_keys
    )


def read_json(path: Path, limit: int = MAX_FILE_BYTES) -> object:
    """The strict JSON of a regular file (read_regular, loads_strict), or Rejected with the reason."""
    raw = read_regular(path, limit)
    try:
        return loads_strict(raw)
    except UnicodeDecodeError:
        raise Rejected("not UTF-8 text") from None
    except RecursionError:
        raise Rejected("JSON nested too deeply") from None
    except ValueError as error:
        raise Rejected(f"malformed JSON: {error}") from None


def has_markup_or_control(text: str) -> bool:
    """An HTML tag, a javascript: URL, a control character (C0, C1, DEL, a line separator) or a bidirectional override
    anywhere in the canonical JSON (cheap tests first)."""
    if "<" in text and TAG.search(text):
        return True
    if "javascript:" in text.lower() or RAW_CONTROL.search(text):
        return True
    return "\\" in text and any(escape.group(1) for escape in CONTROL_ESCAPE.finditer(text))


def parse_untrusted(path: Path) -> tuple[dict, str]:
    """Read one result file defensively; returns the document and its canonical text (what the content hash covers)."""
    from harness.results.document import canonical_text

    document = read_json(path)
    if not isinstance(document, dict):
        raise Rejected("not a JSON object")
    try:
        text = canonical_text(document)
    except RecursionError:
        raise Rejected("JSON nested too deeply") from None
    if has_markup_or_control(text):
        raise Rejected("markup, script, control or text-direction characters in a string")
    return document, text
