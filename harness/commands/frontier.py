"""`meek frontier list|add|import`: the frontier score table behind gap and plot frontier (harness/frontier/epoch.py)."""

from __future__ import annotations

from pathlib import Path

from harness.errors import EXIT_OK, UsageError, require_existing
from harness.frontier.gap import parse_kinds
from harness.output import Output

LIST_COLUMNS = [
    "model",
    "release_date",
    "open_weights",
    "params_total_b",
    "benchmark",
    "setting",
    "score",
    "kind",
    "source",
    "source_link",
]
KIND_NOTES = {
    "epoch-run": "Epoch AI ran the benchmark itself (its Benchmarking Hub; one harness for every model)",
    "developer-reported": "the model's developer published the figure (its card, report or blog; or another developer's "
    "comparison table, named in source); settings differ (thinking, shots, tools), and these read higher than Epoch's runs",
    "measured-here": "scored on this machine by meek eval",
    "user": "added with meek frontier add; source as the user gave it",
}


def list_rows(
    benchmark: str | None, kinds_text: str | None, model: str | None, access: str | None, limit: int, fmt: str, out: Output
) -> int:
    """`meek frontier list`: the rows meek gap and the figures use, filtered, each with its kind, setting and source."""
    from harness.aggregate.compare import render
    from harness.frontier.epoch import KINDS, frontier_table_path, load_frontier

    frame = load_frontier()
    if benchmark:
        if benchmark not in set(frame["benchmark"]):
            raise UsageError(f"no scores for benchmark '{benchmark}'; known: {', '.join(sorted(set(frame['benchmark'])))}")
        frame = frame[frame["benchmark"] == benchmark]
    frame = frame[frame["kind"].isin(parse_kinds(kinds_text) if kinds_text else KINDS)]
    if model:
        frame = frame[frame["model"].str.contains(model, case=False, regex=False)]
    if access is not None:
        if access not in ("open", "closed"):
            raise UsageError(f"--access: 'open' or 'closed', not '{access}'")
        is_open = frame["open_weights"].fillna(False).astype(bool)
        frame = frame[is_open if access == "open" else ~is_open]
    frame = frame.sort_values(["benchmark", "score"], ascending=[True, False], kind="stable")
    shown = frame.head(limit)[LIST_COLUMNS].assign(release_date=lambda f: f["release_date"].dt.strftime("%Y-%m-%d"))
    if fmt != "md":
        out.data(render(shown, fmt))
        return EXIT_OK
    if shown.empty:
        out.say("no rows match")
        return EXIT_OK
    out.data(render(shown, "md"))
    more = f" (the first {limit} by score; --limit to see more)" if len(frame) > limit else ""
    out.say(f"\n{len(frame)} row(s) from {frontier_table_path()}{more}. Kinds:")
    for kind in sorted(set(shown["kind"])):
        out.say(f"- {kind}: {KIND_NOTES[kind]}")
    return EXIT_OK


def add(path: Path, out: Output) -> int:
    """`meek frontier add`: a user's CSV of scores, as rows of kind `user` beside the frontier table."""
    from harness.frontier.epoch import add_user_rows, user_table_path

    require_existing([path])
    rows, total = add_user_rows(path)
    out.say(
        f"added {len(rows)} row(s) of kind 'user' to {user_table_path()} ({total} there); meek gap --kinds "
        "epoch-run,developer-reported,user counts them"
    )
    return EXIT_OK


def import_tables(paths: list[Path], out: Output) -> int:
    from harness.frontier.build_table import build, summary
    from harness.home import meek_home

    require_existing(paths)
    target = meek_home() / "frontier.csv"
    frame = build(paths, target)
    out.say(summary(frame).to_string())
    out.say(f"wrote {len(frame)} rows to {target}; meek gap and meek plot frontier use it from now on")
    out.say(f"(delete {target} to go back to the table shipped with meek-harness)")
    return EXIT_OK
