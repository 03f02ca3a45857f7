"""Writes one measured section into BENCHMARKS.md, replacing the previous run's section between its markers."""

from __future__ import annotations

from pathlib import Path


def write_section(path: Path, name: str, heading: str, body: str) -> str:
    """Put `body` between <!-- name:start --> and <!-- name:end --> (appended under `heading` the first time)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n{body}\n{end}"
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text += f"\n## {heading}\n\n{section}\n"
    path.write_text(text)
    return section
