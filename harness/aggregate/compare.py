"""`meek compare`: machines side by side for a model, from the runs of a results tree (see harness/aggregate.py).

Rows are grouped by machine, backend and settings; figures are medians over the files submitted for that group. A row
whose rate is closer to the row above than the noise of either is marked: those two machines cannot be told apart.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.errors import MeekError, UsageError
from harness.output import printable_field

DEFAULT_TESTS = ("pp512", "tg128")
GROUP = ["model", "test", "machine_id", "device", "backend", "runtime", "settings", "source", "split"]


def select_model(frame: pd.DataFrame, model: str | None) -> pd.DataFrame:
    """Rows of one model, named by catalogue id, label, file name or sha256 prefix; all rows when model is None."""
    if model is None or frame.empty:
        return frame
    wanted = model.lower()
    match = (
        (frame["model"].str.lower() == wanted)
        | (frame["model_label"].str.lower() == wanted)
        | (frame["model"].str.startswith(wanted) & (len(wanted) >= 8))
    )
    if not match.any():
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
    shapes = table.groupby("device")["test"].apply(lambda t: sorted(set(t)))
    if len({tuple(s) for s in shapes}) <= 1:
        return []
    by_shapes: dict[tuple, list[str]] = {}
    for device, tests in shapes.items():
        by_shapes.setdefault(tuple(tests), []).append(str(device))
    notes = [f"{', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''}: {', '.join(tests)}"
             for tests, names in by_shapes.items()]  # fmt: skip
    if common := sorted(set.intersection(*(set(tests) for tests in shapes))):
        notes.append(f"the same shape on every device (compare these rows directly): {', '.join(common)}")
    notes.append("different test shapes are different measurements, shown side by side and never merged: pp512 is not "
                 "pp2048, tg128 is not tg32, '@ dN' runs after N tokens of context, and LocalScore's tests average 9 "
                 "prompt and generation lengths")  # fmt: skip
    return notes


def _group_figures(rows: pd.DataFrame) -> pd.Series:
    medians = rows["median_ts"]
    first = rows.iloc[0]
    sample_noise = math.sqrt((rows["stddev_ts"] ** 2).mean())
    spread = (medians.max() - medians.min()) / 2
    memory = pd.concat([rows["peak_rss_bytes"], rows["peak_gpu_bytes"]]).max()
    return pd.Series(
        {
            "files": rows["file"].nunique(),
            "t/s": medians.median(),
            "min": medians.min(),
            "max": medians.max(),
            "noise": max(sample_noise, spread),
            "ttft_ms": rows["ttft_ms"].median(),
            "memory_gb": memory / 1e9 if pd.notna(memory) else math.nan,
            "measured W": rows["measured_w"].median(),
            "tokens per J": rows["tokens_per_joule"].median(),
            "price_usd": first["price_usd"],
            "power_w": first["power_w"],
            "bandwidth_gbs": first["bandwidth_gbs"],
            "bytes_per_token": first["bytes_per_token"],
            "generation": bool(first["n_gen"] and not first["n_prompt"]),
        }
    )


def select_devices(frame: pd.DataFrame, devices: list[str] | None) -> pd.DataFrame:
    """Rows measured on these hardware-table devices (ids as `meek advise` lists them); all rows when devices is None."""
    if not devices or frame.empty:
        return frame
    from harness.machine.hardware import load_hardware

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
    frame = select_tests(select_devices(select_model(runs, model), devices), tests, every_test=bool(devices))
    if frame.empty:
        raise MeekError("no valid results to compare (run meek bench, or meek validate to see why files were left out)")
    table = frame.groupby(GROUP, sort=False, dropna=False).apply(_group_figures, include_groups=False).reset_index()
    table["t/s per $1000"] = table["t/s"] / table["price_usd"] * 1000
    table["t/s per W"] = table["t/s"] / table["power_w"]
    table["bandwidth use %"] = (table["t/s"] * table["bytes_per_token"] / (table["bandwidth_gbs"] * 1e9) * 100).where(
        table["generation"]
    )
    table = table.sort_values(["model", "test", "t/s"], ascending=[True, True, False], kind="stable").reset_index(drop=True)
    table["note"] = _noise_notes(table)
    return table.drop(columns=["price_usd", "power_w", "bandwidth_gbs", "bytes_per_token", "generation"])


def _noise_notes(table: pd.DataFrame) -> list[str]:
    notes = []
    for index, row in table.iterrows():
        above = table.iloc[index - 1] if index else None
        if above is not None and (above["model"], above["test"]) == (row["model"], row["test"]):
            gap = above["t/s"] - row["t/s"]
            noise = max(above["noise"], row["noise"])
            if gap < noise:
                notes.append(f"within noise of the row above ({gap:.1f} < {noise:.1f} t/s)")
                continue
        notes.append("")
    return notes


SERVES_AT_TPS = 10.0  # "serves N streams at >= X t/s": the streams counted are those at this speed or more


def serving_table(serving: pd.DataFrame, model: str | None = None, min_tps: float = SERVES_AT_TPS) -> pd.DataFrame:
    """Per machine, model, mode and source: the most streams it served with each stream at min_tps or more (a server's
    10th percentile stream, in process the per-stream rate), and at what speed; the load points behind it."""
    frame = select_model(serving, model) if not serving.empty else serving
    rows = []
    for (machine, model_key, mode, source), points in frame.groupby(["machine_id", "model", "mode", "source"], sort=False):
        speed = points["tg_per_stream_p10"].fillna(points["tg_per_stream"])
        fast = points[(speed >= min_tps) & (points["errors"] == 0)]
        first = points.iloc[0]
        best = fast.loc[fast["n_parallel"].idxmax()] if not fast.empty else None
        rows.append({"model": model_key, "machine_id": machine, "device": first["device"], "mode": mode, "source": source,
                     "serves": f"{int(best['n_parallel'])} streams at >= {min(speed[best.name], best['tg_per_stream']):.1f} t/s"
                     if best is not None else f"no load with every stream at {min_tps:g} t/s",
                     "aggregate t/s there": best["s_tg"] if best is not None else math.nan,
                     "loads measured": ",".join(str(int(b)) for b in sorted(points["n_parallel"]))})  # fmt: skip
    return pd.DataFrame(rows)


def scores_table(scores: pd.DataFrame, model: str | None = None) -> pd.DataFrame:
    """Primary benchmark scores per model and machine; subset scores are kept apart from full ones."""
    frame = select_model(scores, model) if not scores.empty else scores
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
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.1f}" if abs(value) >= 1 else f"{value:.3g}"
        return str(value).replace("|", "\\|")

    numeric = [pd.api.types.is_numeric_dtype(table[c]) and table[c].dtype != bool for c in table.columns]
    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"
