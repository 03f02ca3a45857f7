"""Where the harness keeps files: the data it ships (harness/data) and the user directory (machine id salt, sha256 cache,
assembled models, preflight verdicts), overridable with MEEK_HOME."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parent / "data"  # hardware.yaml, frontier.csv, result.schema.json
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # a source checkout: models.yaml sits here


def meek_home() -> Path:
    """Return the user directory, creating it: $MEEK_HOME, else ~/.meek."""
    home = Path(os.environ.get("MEEK_HOME") or Path.home() / ".meek").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home
