"""What `meek report` does and prints: build the static site, say where it is and what it holds."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from harness.errors import MeekError, require_existing


def report(paths: list[Path], out_dir: Path, out: Console) -> int:
    from harness.site.build import build_site

    require_existing(paths)
    if out_dir.exists() and not out_dir.is_dir():
        raise MeekError(f"--out {out_dir} exists and is not a folder")
    tree = build_site(paths, out_dir)
    machines = tree.runs["machine_id"].nunique() if not tree.runs.empty else 0
    out.print(f"wrote {escape(str(out_dir / 'index.html'))}: {len(tree.runs)} runs from {machines} machine(s)"
              + (f"; {len(tree.rejected)} file(s) failed validation and were left out" if tree.rejected else ""))  # fmt: skip
    out.print("open it in a browser; it needs no server and no internet")
    return 0
