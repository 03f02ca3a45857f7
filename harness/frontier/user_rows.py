"""The rows a user adds to the frontier table (`meek frontier add`): what each must hold before it is stored or used.

A row is refused for a release date in the future, a parameter count that is not a positive number of billions, a score
outside the benchmark's range (0-100 percent), an unparsable value, or a control character (a newline, a bidirectional
override) or markup in any cell: a model name is printed inside the lines of `meek gap`, where such a character would
start a line of its own.
"""

from __future__ import annotations

import math
import re
from datetime import date

import pandas as pd

from harness.frontier.columns import bool_or_none, canonical_benchmark
from harness.results.reading import TAG
from harness.text import UNPRINTABLE

REQUIRED = ("model", "release_date", "benchmark", "score")
MAX_PARAMS_B = 100_000.0  # 100 trillion parameters: above any model ever built
MAX_CELL_CHARS = 300
EARLIEST_RELEASE = date(1950, 1, 1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEB_LINK = re.compile(r"https?://[^\s]+")
_PARAMS_COLUMNS = ("params_total_b", "params_b", "params_active_b")


def user_row_problems(cells: pd.DataFrame, today: date | None = None) -> list[tuple[int, str]]:
    """(line, reason) for each row of a user's score table that cannot be taken as it stands."""
    day = today or date.today()
    found = []
    for row in cells.to_dict("records"):
        reason = _row_problem({k: v for k, v in row.items() if k != "line" and isinstance(v, str)}, day)
        if reason:
            found.append((int(row["line"]), reason))
    return found


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def text_problem(value: str) -> str | None:
    if UNPRINTABLE.search(value):
        return "a control or text-direction character"
    if TAG.search(value) or "javascript:" in value.lower():
        return "markup"
    if len(value) > MAX_CELL_CHARS:
        return f"more than {MAX_CELL_CHARS} characters"
    return None


def _finite(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _row_problem(row: dict[str, str], today: date) -> str | None:
    """Why one row (its non-blank cells, by column) cannot be a user score, or None."""
    for column, value in row.items():
        if problem := text_problem(value):
            return f"{column} has {problem}"
    if missing := [c for c in REQUIRED if c not in row]:
        return f"no {' or '.join(missing)}"
    released = row["release_date"]
    try:
        day = date.fromisoformat(released) if _ISO_DATE.fullmatch(released) else None
    except ValueError:
        day = None
    if day is None:
        return f"release date {_shown(released)} is not a date (YYYY-MM-DD)"
    if day > today:
        return f"release date {day} is in the future (today is {today})"
    if day < EARLIEST_RELEASE:
        return f"release date {day} is before {EARLIEST_RELEASE}"
    if not canonical_benchmark(row["benchmark"]):
        return f"benchmark {_shown(row['benchmark'])} has no letters or digits"
    score = _finite(row["score"].removesuffix("%"))
    if score is None or not 0 <= score <= 100:
        return f"score {_shown(row['score'])} is not a number from 0 to 100"
    params = {c: _finite(row[c]) for c in _PARAMS_COLUMNS if c in row}
    for column, number in params.items():
        if number is None or not 0 < number <= MAX_PARAMS_B:
            return f"{column} {_shown(row[column])} is not a positive number of billions (at most {MAX_PARAMS_B:g})"
    total = params.get("params_total_b", params.get("params_b"))
    active = params.get("params_active_b")
    if total is not None and active is not None and active > total:
        return f"params_active_b {active:g} is more than the {total:g} billion parameters in all"
    if "open_weights" in row and bool_or_none(row["open_weights"]) is None:
        return f"open_weights {_shown(row['open_weights'])} is not true or false"
    link = row.get("source_link", row.get("source_url"))
    if link is not None and not _WEB_LINK.fullmatch(link):
        return f"source link {_shown(link)} is not an http(s) address"
    return None
