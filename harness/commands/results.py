"""`meek results upgrade`: result files of an older schema rewritten in place as the current one."""

from __future__ import annotations

from pathlib import Path

from harness.errors import EXIT_FAILED, EXIT_OK, require_existing
from harness.output import Output
from harness.results.validate import result_files


def upgrade(paths: list[Path], out: Output) -> int:
    """Rewrite result files of an older schema_version in place as the current one, signed with a new content hash (as
    `asv update` migrates its results). A file already current is left alone; one that is not a result file fails."""
    from harness.results.store import upgrade_file

    require_existing(paths)
    upgraded = current = failed = 0
    for path in result_files(paths):
        try:
            changed = upgrade_file(path)
        except Exception as error:  # one bad file does not stop the others; it is named with its reason
            out.error(f"{path}: {error}")
            failed += 1
            continue
        if changed:
            upgraded += 1
            out.say(f"upgraded {path}")
        else:
            current += 1
    out.say(f"{upgraded} file(s) upgraded, {current} already current, {failed} failed")
    return EXIT_FAILED if failed else EXIT_OK
