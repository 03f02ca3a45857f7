"""Machines side by side for a model (`meek compare`), from the runs of a results tree (harness/aggregate/tree.py).

Rows are grouped by machine, backend and settings; figures are medians over the files submitted for that group. A row
whose rate is closer to the row above than the noise of either is marked: those two machines cannot be told apart.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from harness.aggregate.tree import prefer_stable
from harness.errors import MeekError, UsageError
from harness.output import markdown_table, printable_field

DEFAULT_TESTS = ("pp512", "tg128")
GROUP = ["model", "test", "machine_id", "device", "backend", "runtime", "settings", "source", "split"]


_LLAMA_BENCH_TEST = re.compile(r"(?:pp(\d+))?(\+)?(?:tg(\d+))?(?: @ d(\d+))?")


def shape_key(test: str) -> tuple:
    """Where a test sorts: llama-bench's tests by context depth as a number (d4096 before d16384), then prompt before
    prompt+generation before generation, then length; other tools' tests (LocalScore's, Ollama's) after them, by name."""
    match = _LLAMA_BENCH_TEST.fullmatch(test)
    if match is None or not (match[1] or match[3]) or bool(match[2]) != bool(match[1] and match[3]):
        return (1, 0, 0, 0, 0, test)
    prompt, generation = int(match[1] or 0), int(match[3] or 0)
    return (0, int(match[4] or 0), 0 if not generation else 2 if not prompt else 1, prompt, generation, test)


def in_shape_order(tests: Iterable[str]) -> list[str]:
    """The distinct tests, in shape_key's order."""
    return sorted(set(tests), key=shape_key)


def shape_rank(tests: pd.Series) -> pd.Series:
    """Each test's place in shape_key's order, as an integer column to sort a frame by."""
    return tests.map({test: rank for rank, test in enumerate(in_shape_order(tests))}).astype(int)


def select_model(frame: pd.DataFrame, model: str | None, required: bool = True) -> pd.DataFrame:
    """Rows of one model, named by catalogue id, label, file name or sha256 prefix; all rows when model is None. With
    required=False, a model with no rows here gives no rows (serving points or scores held only for other models)."""
    if model is None or frame.empty:
        return frame
    wanted = model.lower()
    match = (
        (frame["model"].str.lower() == wanted)
        | (frame["model_label"].str.lower() == wanted)
        | (frame["model"].str.startswith(wanted) & (len(wanted) >= 8))
    )
    if not match.any() and required:
        known = ", ".join(sorted(frame["model"].unique())[:20])
        raise UsageError(f"no results for model '{model}' (models with results: {known or 'none'})")
    return frame[match]


def select_tests(frame: pd.DataFrame, tests: list[str] | None, every_test: bool = False) -> pd.DataFrame:
    """The tests asked for; by default pp512 and tg128, except that a machine with neither keeps the tests it has (its
    own shapes, side by side, never merged), and `every_test` (compare --devices) keeps every test, depths included."""
    present = set(frame["test"])
    missing = [t for t in tests or [] if t not in present]
    if tests and missing:
        raise UsageError(f"no results for test(s) {', '.join(missing)} (tests present: {', '.join(sorted(present))})")
    if tests:
        return frame[frame["test"].isin(tests)]
    if every_test:
        return frame
    default = frame["test"].isin(DEFAULT_TESTS)
    has_default = frame.groupby("machine_id")["test"].transform(lambda t: t.isin(DEFAULT_TESTS).any())
    return frame[default | ~has_default]


def shape_notes(table: pd.DataFrame) -> list[str]:
    """When the devices in a table were measured at different test shapes: which shapes each has, and that they differ."""
    shapes = table.groupby("device")["test"].apply(in_shape_order)
    if len({tuple(s) for s in shapes}) <= 1:
        return []
    by_shapes: dict[tuple, list[str]] = {}
    for device, tests in shapes.items():
        by_shapes.setdefault(tuple(tests), []).append(str(device))
    notes = [
        f"{', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''}: {', '.join(tests)}"
        for tests, names in by_shapes.items()
    ]
    if common := in_shape_order(set.intersection(*(set(tests) for tests in shapes))):
        notes.append(f"the same shape on every device (compare these rows directly): {', '.join(common)}")
    notes.append(DIFFERENT_SHAPES)
    return notes


DIFFERENT_SHAPES = (
    "different test shapes are different measurements, shown side by side and never merged: pp512 is not "
    "pp2048, tg128 is not tg32, '@ dN' runs after N tokens of context, and LocalScore's tests average 9 "
    "prompt and generation lengths"
)


def _group_figures(frame: pd.DataFrame) -> pd.DataFrame:
    """Each group's figures, one row per GROUP key in order of first appearance; never a busy or unstable run's where
    the group has a stable one (the speed figures are then over the stable runs alone, and the note says so), while a
    group with only noisy runs keeps its figure, marked. Vectorised: a record of a million runs is one pass per column."""
    group = frame.groupby(GROUP, sort=False, dropna=False).ngroup()  # numbered by first appearance; a missing key is a key
    frame = frame.assign(
        _group=group.to_numpy(),
        _noisy=frame["unstable"].eq(True),  # a missing flag (hand-made frames) is not a mark
        _square=frame["stddev_ts"] ** 2,
        _memory=np.fmax(
            pd.to_numeric(frame["peak_rss_bytes"], errors="coerce"), pd.to_numeric(frame["peak_gpu_bytes"], errors="coerce")
        ),
        _joule=pd.to_numeric(frame["tokens_per_joule"], errors="coerce"),
    )
    has_stable = (~frame["_noisy"]).groupby(frame["_group"]).transform("any")
    kept = frame[~frame["_noisy"] | ~has_stable]
    every = frame.groupby("_group").agg(
        files=("file", "nunique"), noisy_runs=("_noisy", "sum"), runs=("_noisy", "size"), memory=("_memory", "max")
    )
    used = kept.groupby("_group").agg(
        **{
            "t/s": ("median_ts", "median"),
            "min": ("median_ts", "min"),
            "max": ("median_ts", "max"),
            "square": ("_square", "mean"),
            "ttft_ms": ("ttft_ms", "median"),
            "measured W": ("measured_w", "median"),
            "tokens per J": ("_joule", "median"),
        }
    )
    facts = ["price_usd", "power_w", "bandwidth_gbs", "bytes_per_token", "n_gen", "n_prompt"]
    first = kept.drop_duplicates("_group").set_index("_group")[facts]  # each group's first kept row, NaN included
    keys = frame.drop_duplicates("_group").set_index("_group")[GROUP]
    table = keys.join(every).join(used).join(first).sort_index()
    sample_noise, spread = np.sqrt(table.pop("square")), (table["max"] - table["min"]) / 2
    table["noise"] = sample_noise.where(sample_noise.isna() | ~(spread > sample_noise), spread)
    table["memory_gb"] = table.pop("memory") / 1e9
    table["stable_runs"] = table.pop("runs") - table["noisy_runs"]
    table["noisy_runs"] = table["noisy_runs"].astype(int)
    table["generation"] = table.pop("n_gen").fillna(0).astype(bool) & ~table.pop("n_prompt").fillna(0).astype(bool)
    order = ["files", "noisy_runs", "stable_runs", "t/s", "min", "max", "noise", "ttft_ms", "memory_gb", "measured W"]
    order += ["tokens per J", "price_usd", "power_w", "bandwidth_gbs", "bytes_per_token", "generation"]
    return table[GROUP + order].reset_index(drop=True)


def select_devices(frame: pd.DataFrame, devices: list[str] | None) -> pd.DataFrame:
    """Rows measured on these hardware-table devices (ids as `meek advise` lists them); all rows when devices is None."""
    if not devices or frame.empty:
        return frame
    from harness.catalogue.hardware import load_hardware

    known = {d.id for d in load_hardware()}
    unknown = [d for d in devices if d not in known]
    if unknown:
        import difflib

        near = [m for d in unknown for m in difflib.get_close_matches(d, sorted(known), n=2, cutoff=0.5)]
        hint = f" Did you mean {' or '.join(near)}?" if near else " Device ids are listed by meek advise."
        raise UsageError(f"--devices: unknown device {', '.join(unknown)}.{hint}")
    selected = frame[frame["device_id"].isin(devices)]
    if selected.empty:
        raise UsageError(f"--devices: no results measured on {', '.join(devices)}")
    return selected


def compare_table(
    runs: pd.DataFrame, model: str | None = None, tests: list[str] | None = None, devices: list[str] | None = None
) -> pd.DataFrame:
    """One row per (model, test, machine, backend, settings, source), fastest first within each model and test."""
    frame = compare_frame(runs, model, tests, devices)
    if frame.empty:
        raise MeekError("no valid results to compare (run meek bench, or meek validate to see why files were left out)")
    table = _group_figures(frame)
    table["t/s per $1000"] = table["t/s"] / table["price_usd"] * 1000
    table["t/s per W"] = table["t/s"] / table["power_w"]
    table["bandwidth use %"] = (table["t/s"] * table["bytes_per_token"] / (table["bandwidth_gbs"] * 1e9) * 100).where(
        table["generation"]
    )
    table = (
        table.assign(order=shape_rank(table["test"]))
        .sort_values(["model", "order", "t/s"], ascending=[True, True, False], kind="stable")
        .drop(columns="order")
        .reset_index(drop=True)
    )
    table["note"] = _joined(_noise_notes(table), _noisy_notes(table))
    helpers = ["price_usd", "power_w", "bandwidth_gbs", "bytes_per_token", "generation", "noisy_runs", "stable_runs"]
    return table.drop(columns=helpers)


def _noisy_notes(table: pd.DataFrame) -> pd.Series:
    """The mark of a group with busy or unstable runs: left out of its figure when stable ones exist, else its figure."""
    noisy, stable = table["noisy_runs"].astype(int), table["stable_runs"].astype(int)
    left_out = (
        "! "
        + noisy.astype(str)
        + " busy or unstable run(s) left out: the figures are the median of the "
        + stable.astype(str)
        + " stable one(s)"
    )
    only = "! busy or unstable: machine shared or spread wide; rerun on a quieter machine before trusting this figure"
    return left_out.where(stable > 0, only).where(noisy > 0, "")


def _joined(first: pd.Series, second: pd.Series) -> pd.Series:
    """Two notes of each row joined with '; ', an empty one left out."""
    return first + pd.Series(np.where((first != "") & (second != ""), "; ", ""), index=first.index) + second


def compare_frame(runs: pd.DataFrame, model: str | None, tests: list[str] | None, devices: list[str] | None) -> pd.DataFrame:
    """The runs compare shows: of the model, on the devices (every test they have), of the tests asked for."""
    return select_tests(select_devices(select_model(runs, model), devices), tests, every_test=bool(devices))


FIGURE_COLUMNS = ["side", "side_label", "side_kind", "model", "model_label", "test", "order", "t/s", "via"]


def side_figures(runs: pd.DataFrame) -> pd.DataFrame:
    """Per side, model and test: the fastest of compare's rows (median t/s over the files of one machine, backend,
    settings and source), with the backend and runtime that gave it and how many rows it is the fastest of. A side is a
    hardware-table device (all its machines), else a machine the table does not know; a run split over RPC is a side of
    its own. Tests in shape order; the figures `side_by_side` pairs, for `compare --devices A,B` and the site."""
    runs = runs.dropna(subset=["median_ts"])
    if runs.empty:
        return pd.DataFrame(columns=FIGURE_COLUMNS)
    known = runs["device_id"].notna()
    split = runs["split"].fillna("").astype(bool)
    side = runs["device_id"].where(known, "machine " + runs["machine_id"])
    side = side.where(~split, runs["device_id"].fillna(runs["machine_id"]) + " + RPC")
    label = runs["device"].where(known, runs["machine_id"]).where(~split, runs["device"] + " + RPC (split over machines)")
    kind = pd.Series("device", index=runs.index).where(known, "machine").where(~split, "split")
    keys = ["side", "model", "test", "machine_id", "backend", "runtime", "settings", "source"]
    runs = runs.assign(side=side, side_label=label, side_kind=kind, noisy=runs["unstable"].eq(True))
    runs = prefer_stable(runs, keys)  # as compare's rows: a busy or unstable run only where nothing else ran
    rows = (
        runs.groupby(keys, dropna=False, sort=False)
        .agg(
            tps=("median_ts", "median"),
            noisy=("noisy", "all"),
            side_label=("side_label", "first"),
            side_kind=("side_kind", "first"),
            model_label=("model_label", "first"),
        )
        .reset_index()
    )
    rows["rows"] = rows.groupby(["side", "model", "test"])["tps"].transform("size")
    best = rows.sort_values("tps", ascending=False, kind="stable").drop_duplicates(["side", "model", "test"])
    engine = best["backend"].where(best["runtime"].isna(), best["backend"] + ", " + best["runtime"].fillna(""))
    fastest_of = best["rows"].map(lambda n: f" (fastest of {n})" if n > 1 else "")
    marked = best["noisy"].map(lambda noisy: " ! busy or unstable" if noisy else "")
    best = best.assign(order=shape_rank(best["test"]), via=engine + fastest_of + marked)
    best = best.rename(columns={"tps": "t/s"}).sort_values(["side", "model", "order"], kind="stable")
    return best[FIGURE_COLUMNS].reset_index(drop=True)


def side_by_side(figures: pd.DataFrame, a: str, b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two sides of `side_figures`: (the tests both ran, the same test name exactly, with each side's figure and the
    ratio B / A; per model and side, the tests only that side ran, by name in shape order, models both ran first).
    Different tests never share a row: pp512 is not pp2048, and tg32 @ d4096 is not tg32 @ d16384."""
    mine, theirs = figures[figures["side"] == a], figures[figures["side"] == b]
    shared = mine.merge(theirs, on=["model", "test"], suffixes=(" A", " B"))
    shared = pd.DataFrame(
        {
            "model": shared["model"],
            "model_label": shared["model_label A"],
            "test": shared["test"],
            "order": shared["order A"],
            "A t/s": shared["t/s A"],
            "A via": shared["via A"],
            "B t/s": shared["t/s B"],
            "B via": shared["via B"],
            "B / A": shared["t/s B"] / shared["t/s A"],
        }
    )
    shared = shared.sort_values(["model", "order"], kind="stable").drop(columns="order").reset_index(drop=True)
    only = []
    both = set(mine["model"]) & set(theirs["model"])
    for model in sorted(set(mine["model"]) | set(theirs["model"]), key=lambda m: (m not in both, m)):
        for side, own, other in ((a, mine, theirs), (b, theirs, mine)):
            ran = own[own["model"] == model]
            tests = [t for t in ran["test"] if t not in set(other.loc[other["model"] == model, "test"])]
            if tests:
                only.append(
                    {
                        "model": model,
                        "model_label": ran["model_label"].iloc[0],
                        "side": side,
                        "side_label": ran["side_label"].iloc[0],
                        "tests": tests,
                    }
                )
    return shared, pd.DataFrame(only, columns=["model", "model_label", "side", "side_label", "tests"])


def default_pair(figures: pd.DataFrame) -> list[str]:
    """The two sides of `side_figures` that share the most tests (model and test name), else the first two: the pair
    the site's compare page opens on."""
    counts: Counter = Counter()
    for _, sides in figures.groupby(["model", "test"])["side"]:
        counts.update(itertools.combinations(sorted(set(sides)), 2))
    if counts:
        return list(min(counts.items(), key=lambda item: (-item[1], item[0]))[0])
    return sorted(set(figures["side"]))[:2]


def _noise_notes(table: pd.DataFrame) -> pd.Series:
    """'within noise of the row above' where the row above is the same model and test and their gap is under the larger
    of their noises."""
    above = table.shift(1)
    gap = above["t/s"] - table["t/s"]
    # the larger noise, as max(above, row) takes it: nothing is within an unknown noise of the row above
    noise = above["noise"].where(above["noise"].isna() | ~(table["noise"] > above["noise"]), table["noise"])
    same = (above["model"] == table["model"]) & (above["test"] == table["test"])
    text = "within noise of the row above (" + gap.map("{:.1f}".format) + " < " + noise.map("{:.1f}".format) + " t/s)"
    return text.where(same & (gap < noise), "")


SERVES_AT_TPS = 10.0  # "serves N streams at >= X t/s": the streams counted are those at this speed or more


def serving_table(
    serving: pd.DataFrame, model: str | None = None, min_tps: float = SERVES_AT_TPS, required: bool = True
) -> pd.DataFrame:
    """Per machine, model, mode and source: the most streams it served with each stream at min_tps or more (a server's
    10th percentile stream, in process the per-stream rate), and at what speed; the load points behind it. With
    required=False a model with no serving points gives an empty table rather than an error."""
    frame = select_model(serving, model, required) if not serving.empty else serving
    rows = []
    for (machine, model_key, mode, source), points in frame.groupby(["machine_id", "model", "mode", "source"], sort=False):
        speed = points["tg_per_stream_p10"].fillna(points["tg_per_stream"])
        fast = points[(speed >= min_tps) & (points["errors"] == 0)]
        first = points.iloc[0]
        best = fast.loc[fast["n_parallel"].idxmax()] if not fast.empty else None
        rows.append(
            {
                "model": model_key,
                "machine_id": machine,
                "device": first["device"],
                "mode": mode,
                "source": source,
                "serves": f"{int(best['n_parallel'])} streams at >= {min(speed[best.name], best['tg_per_stream']):.1f} t/s"
                if best is not None
                else f"no load with every stream at {min_tps:g} t/s",
                "aggregate t/s there": best["s_tg"] if best is not None else math.nan,
                "loads measured": ",".join(str(int(b)) for b in sorted(points["n_parallel"])),
            }
        )
    return pd.DataFrame(rows)


def scores_table(scores: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """Primary benchmark scores per model and machine; subset scores are kept apart from full ones. A model with no
    scores gives none (scores held only for other models are no error)."""
    frame = select_model(scores, model, required=False) if not scores.empty else scores
    frame = frame[frame["primary"]] if not frame.empty else frame
    if frame.empty:
        return pd.DataFrame()
    grouped = frame.groupby(["model", "task", "metric", "shots", "subset", "samples", "machine_id", "device"], dropna=False)
    return grouped.agg(value=("value", "median"), stderr=("stderr", "median"), files=("file", "nunique")).reset_index()


def _safe_text(value):
    """A string cell as data: control characters as '?', and a leading =, +, -, @ (a spreadsheet formula) quoted with '."""
    if not isinstance(value, str):
        return value
    value = printable_field(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def render(table: pd.DataFrame, fmt: str) -> str:
    """The table as md, csv or json; strings from strangers' files cannot carry control bytes or spreadsheet formulas."""
    if fmt in ("csv", "md"):
        table = table.apply(lambda column: column.map(_safe_text) if not pd.api.types.is_numeric_dtype(column) else column)
    if fmt == "csv":
        return table.to_csv(index=False)
    if fmt == "json":
        return table.to_json(orient="records", indent=1, date_format="iso")
    if fmt == "md":
        return markdown(table)
    raise UsageError(f"--format: unknown '{fmt}' (choose md, csv or json)")


def markdown(table: pd.DataFrame) -> str:
    """A frame as a markdown table: numbers right-aligned, rates to one decimal (three figures below 1)."""

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.1f}" if abs(value) >= 1 else f"{value:.3g}"
        return str(value)

    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c]) and table[c].dtype != bool]
    rows = ([cell(v) for v in row] for row in table.itertuples(index=False))
    return markdown_table([str(c) for c in table.columns], rows, right=numeric)
