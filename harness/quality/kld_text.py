"""The text `meek quality` scores: the user's file (`--text`), or a default that ships with Python itself.

The default is CPython's `pydoc_data.topics`, the topic texts of the Python documentation that `help()` shows (about
465,000 characters in Python 3.11), under the PSF License 2.0; it is in every CPython install, so nothing is downloaded.
Its content follows the Python version, so the result keeps the text's sha256 and the version in its name.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

MAX_TEXT_BYTES = 64 * 2**20  # a few million tokens: far more than any --chunks needs


@dataclass(frozen=True)
class ScoredText:
    """The text, what it is (name, origin, licence) and its sha256 (of the UTF-8 bytes scored)."""

    text: str
    name: str
    sha256: str


def _made(text: str, name: str) -> ScoredText:
    return ScoredText(text=text, name=name[:300], sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def default_text() -> ScoredText:
    """pydoc_data.topics, its topics in sorted order, separated by blank lines."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # a Python built without its documentation data
        raise UsageError("this Python has no pydoc_data.topics (its documentation texts): give a text with --text FILE") from None
    text = "\n\n".join(str(topics[key]) for key in sorted(topics))
    version = ".".join(str(part) for part in sys.version_info[:3])
    return _made(text, f"pydoc_data.topics of CPython {version}: the Python documentation's topic texts (PSF License 2.0)")


def read_text(path: Path) -> ScoredText:
    """A text file the user named: a regular file, at most MAX_TEXT_BYTES, UTF-8. One trailing newline is dropped, as
    llama-perplexity's -f drops it, so the same file gives the same tokens in both."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"--text {path}: no such file") from None
    except OSError as error:
        raise UsageError(f"--text {path}: cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--text {path}: not a regular file")
    if info.st_size > MAX_TEXT_BYTES:
        raise UsageError(f"--text {path}: {info.st_size:,} bytes, more than the {MAX_TEXT_BYTES:,} meek quality reads")
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TEXT_BYTES + 1)
        text = data.decode("utf-8")
    except OSError as error:
        raise UsageError(f"--text {path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"--text {path}: not UTF-8 text (byte {error.start:,} is not)") from None
    if text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise UsageError(f"--text {path}: the file is empty")
    return _made(text, f"{path.name} (your file)")
