"""Sweep values in llama-bench's syntax, expanded into an ordered list of test instances.

`128,512` is a list; `0-8192+2048` is a range with a step (0, 2048, 4096, 6144, 8192); `1-16*2` multiplies (1, 2, 4, 8, 16);
`1-4` steps by one. Lists and ranges mix: `1,2,8-32*2`. The types they fill (SweepSpec, LoadSettings, TestShape) are in
harness/measure/protocol.py.
"""

from __future__ import annotations

import re

from harness.errors import UsageError

_RANGE = re.compile(r"^(-?\d+)-(\d+)(?:([+*])(\d+))?$")
MAX_SWEEP_VALUES = 1000


def parse_int_list(option: str, text: str, minimum: int = 0) -> list[int]:
    """Parse `128,512` or `0-8192+2048` into integers, or raise UsageError naming the option and the bad part."""
    values: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            raise UsageError(f"{option}: empty value in '{text}' (write a list like 128,512 or a range like 0-8192+2048)")
        values.extend(_expand_part(option, part))
        if len(values) > MAX_SWEEP_VALUES:
            raise UsageError(f"{option}: '{text}' expands to more than {MAX_SWEEP_VALUES} values")
    bad = [v for v in values if v < minimum]
    if bad:
        raise UsageError(f"{option}: {bad[0]} is below the minimum of {minimum}")
    return list(dict.fromkeys(values))


def _expand_part(option: str, part: str) -> list[int]:
    if re.fullmatch(r"-?\d+", part):
        return [int(part)]
    match = _RANGE.match(part)
    if not match:
        raise UsageError(
            f"{option}: cannot read '{part}' (expected a number, a list like 128,512, or a range like 0-8192+2048 or 1-16*2)"
        )
    first, last, op, step_text = match.groups()
    first, last = int(first), int(last)
    step = int(step_text) if step_text else 1
    if last < first:
        raise UsageError(f"{option}: range '{part}' ends before it starts")
    if (op in (None, "+") and step < 1) or (op == "*" and (step < 2 or first < 1)):
        raise UsageError(f"{option}: range '{part}' never advances (a + step must be >= 1, a * factor >= 2 from a start >= 1)")
    values, value = [], first
    while value <= last:
        values.append(value)
        if len(values) > MAX_SWEEP_VALUES:
            raise UsageError(f"{option}: '{part}' expands to more than {MAX_SWEEP_VALUES} values")
        value = value * step if op == "*" else value + step
    return values


def parse_str_list(option: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    """Parse a comma list of names, each of which must be one of `allowed`."""
    values = [part.strip().lower() for part in str(text).split(",")]
    for value in values:
        if value not in allowed:
            raise UsageError(f"{option}: unknown value '{value}' (choose from {', '.join(allowed)})")
    return list(dict.fromkeys(values))


def parse_pg_list(option: str, texts: list[str]) -> list[tuple[int, int]]:
    """Parse prompt+generation pairs given as `512,128` (one pair per occurrence of the option)."""
    pairs = []
    for text in texts:
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise UsageError(f"{option}: expected a pair like 512,128 (prompt tokens, generated tokens), got '{text}'")
        pairs.append((int(parts[0]), int(parts[1])))
    return pairs
