"""The text `meek quality` scores: the user's file (`--text`), or a default that ships with Python itself.

The default is CPython's `pydoc_data.topics`, the topic texts of the Python documentation that `help()` shows (about
465,000 characters in Python 3.11), under the PSF License 2.0; it is in every CPython install, so nothing is downloaded.
Its content follows the Python version, so the result keeps the text's sha256 and the version in its name.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.results.reading import Rejected, read_regular

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
    try:
        text = read_regular(Path(path), MAX_TEXT_BYTES, follow_links=True).decode("utf-8")
    except Rejected as error:
        raise UsageError(f"--text {path}: {error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"--text {path}: not UTF-8 text (byte {error.start:,} is not)") from None
    if text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise UsageError(f"--text {path}: the file is empty")
    return _made(text, f"{path.name} (your file)")
