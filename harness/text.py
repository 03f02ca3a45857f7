"""The ground floor's one rule for text: which characters no string shown or stored may carry (output.py, the result
reader and the schema use it)."""

from __future__ import annotations

import re

# DEL, the C1 controls (U+0080-U+009F, some terminals obey them), and the bidirectional overrides and isolates that
# make text display in another order than it is stored (U+202A-U+202E, U+2066-U+2069), plus line and paragraph
# separators: the one definition of what, beyond the C0 controls, no string may carry.
NON_C0_CONTROLS = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
RAW_CONTROL = re.compile(f"[{NON_C0_CONTROLS}]")
UNPRINTABLE = re.compile(f"[\x00-\x1f{NON_C0_CONTROLS}]")  # every control character, C0 included


def one_line(text: str) -> str:
    """`text` with every run of control characters (newlines included) turned into one space."""
    return re.sub(UNPRINTABLE.pattern + "+", " ", text)
