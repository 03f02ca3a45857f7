"""The harness's user directory (machine id salt, sha256 cache, assembled models), overridable with MEEK_HOME."""

from __future__ import annotations

import os
from pathlib import Path


def meek_home() -> Path:
    """Return the user directory, creating it: $MEEK_HOME, else ~/.meek."""
    home = Path(os.environ.get("MEEK_HOME") or Path.home() / ".meek").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home
