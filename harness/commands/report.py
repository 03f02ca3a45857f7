"""`meek report`: the static site built from a results tree (harness/site/build.py); `meek schema`: the result file's
JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import UsageError, require_existing
from harness.files import write_file
from harness.output import Output
from harness.results.schema import json_schema
from harness.site.build import build_site


def run(paths: list[Path], out_dir: Path, out: Output) -> int:
    """`meek report`: build the site, say where it is and what it holds."""
    require_existing(paths)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a folder")
    tree = build_site(paths, out_dir)
    machines = len(set(tree.runs["machine_id"]) | set(tree.serving["machine_id"]))
    left_out = f"; {len(tree.rejected)} file(s) failed validation and were left out" if tree.rejected else ""
    points = f" and {len(tree.serving)} serving point(s)" if not tree.serving.empty else ""
    out.say(f"wrote {out_dir / 'index.html'}: {len(tree.runs)} runs{points} from {machines} machine(s){left_out}")
    out.say("open it in a browser; it needs no server and no internet")
    return 0


def schema(write: Path | None, out: Output) -> int:
    """`meek schema`: the JSON Schema of the current schema_version, printed or written to a file."""
    text = json.dumps(json_schema(), indent=1) + "\n"
    if write:
        write_file(write, text)  # atomically; a link planted at the name is refused, not written through
    else:
        out.data(text)
    return 0
