"""The one way every command writes: data and answers on stdout, progress, warnings and errors on stderr.

Strings are written as given, never read as rich markup (`[red]` in a model name from a stranger's file prints as
`[red]`), and control characters in them print as '?' so a file name cannot move the cursor, recolour the terminal or
fake a line: C0 and C1 controls, DEL, and the bidirectional overrides that make text display out of order. A data
string placed inside a line (`printable_field`) has its newlines and tabs replaced too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.text import NON_C0_CONTROLS, UNPRINTABLE

if TYPE_CHECKING:
    from rich.status import Status

_CONTROL = re.compile(f"[\x00-\x08\x0b-\x1f{NON_C0_CONTROLS}]")  # keeps \t and \n


def printable(text: object) -> str:
    """Text a terminal shows rather than obeys: control characters (escape sequences, CR, C1, direction overrides) become
    '?'; newlines and tabs stay (the text is ours, laid out in lines)."""
    return _CONTROL.sub("?", str(text))


def printable_field(text: object) -> str:
    """A data string (a file name, a model name, a reason quoting a file) for one line: every control character,
    newlines and tabs included, becomes '?', so it cannot start a line of its own."""
    return UNPRINTABLE.sub("?", str(text))


def markdown_cell(value: object) -> str:
    """A value as one cell of a markdown table: a '|' escaped so it cannot open a column, no line breaks."""
    return printable_field(value).replace("|", "\\|")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]], right: Iterable[str] = ()) -> str:
    """The one markdown table writer: a header, an alignment row (the `right` columns right-aligned, as numbers are), a
    line per row. Cells are written with str() after the caller has formatted them; every cell is escaped."""
    aligned = set(right)
    lines = [
        "| " + " | ".join(markdown_cell(c) for c in columns) + " |",
        "|" + "|".join("---:" if c in aligned else "---" for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(markdown_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


class Output:
    """stdout for what a command answers, stderr for what it says along the way; in a terminal, a spinner line for work
    in flight (`status`), which a pipe never sees."""

    COLOURS = {"warning": "33", "error": "31", "ok": "32", "FAIL": "31"}

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        # streams not given are looked up at each write, not bound at import: the CLI's module-level Output then follows
        # a redirected sys.stdout (pytest's capsys, typer's CliRunner) instead of keeping one that was closed since
        self._stdout, self._stderr = stdout, stderr
        self._err = Console(file=stderr, stderr=True, highlight=False, soft_wrap=True)
        self._spinner: Status | None = None

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    @property
    def is_terminal(self) -> bool:
        return self.stdout.isatty()

    def data(self, text: str) -> None:
        """Write machine-readable output (a table, CSV, JSON) exactly as given."""
        self.stdout.write(text)
        self.stdout.flush()

    def say(self, text: object = "") -> None:
        """One answer line on stdout."""
        self.stdout.write(printable(text) + "\n")
        self.stdout.flush()

    def line(self, text: object) -> None:
        """One progress line on stderr (what finished, what was saved)."""
        self._err.print(Text(printable(text)))

    def warn(self, text: object) -> None:
        self._err.print(Text("warning: ", style="yellow"), Text(printable(text)), sep="")

    def error(self, text: object) -> None:
        self._err.print(Text("error: ", style="red"), Text(printable(text)), sep="")

    def paint(self, text: str, name: str) -> str:
        """`text` in the colour for `name` (ok, FAIL, warning) when stdout is a terminal."""
        return f"\033[{self.COLOURS[name]}m{text}\033[0m" if self.is_terminal else text

    def table(self, headers: Sequence[str], rows: Iterable[Sequence[object]], no_wrap_first: bool = True) -> None:
        """An aligned table on stdout; every cell is plain text."""
        table = Table(box=None)
        for number, header in enumerate(headers):
            table.add_column(header, no_wrap=no_wrap_first and number == 0)
        for row in rows:
            table.add_row(*(Text(printable_field(cell)) for cell in row))
        console = Console(file=self.stdout, highlight=False, soft_wrap=True, width=None if self.is_terminal else 250)
        console.print(table)

    def status(self, text: str) -> None:
        """The work in flight, on a spinner line that the next one replaces (terminals only)."""
        if self._spinner is not None:
            self._spinner.update(Text(printable(text)))

    def __enter__(self) -> Output:
        if self._err.is_terminal:
            self._spinner = self._err.status("", refresh_per_second=4)  # few wake-ups while measuring
            self._spinner.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None
