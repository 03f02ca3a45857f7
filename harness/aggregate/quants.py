"""A model family's quants side by side on each machine (`meek compare -m MODEL`, the site's machine pages): each file's
speed (pp512, tg128), size, what it costs against a reference (`meek quality`: KL divergence, same top token) and the
largest context that ran (`meek fit`), one row per machine and file.

A family is the files that share their GGUF architecture and name (llama-quantize keeps both), joined by every
`quality` block to its reference file. Different quantities never share a column: the divergence against each
reference (and text and chunk size) has its own column, as has the largest context under each memory limit.
"""

from __future__ import annotations

import pandas as pd

from harness.aggregate.compare import select_model
from harness.aggregate.tree import Tree, prefer_stable
from harness.output import markdown_table

SPEED_TESTS = ("pp512", "tg128")
GIB = 2**30


def _keys_of(tree: Tree, model: str) -> set[str]:
    """The model keys `model` names (catalogue id, label, key, or a sha256 prefix of 8 or more) in any of the frames."""
    frames = [f[["model", "model_label"]] for f in (tree.runs, tree.quality, tree.fits) if not f.empty]
    if not frames:
        return set()
    every = pd.concat(frames).drop_duplicates()
    keys = set(select_model(every, model, required=False)["model"])
    wanted = model.lower()
    if len(wanted) >= 8:  # a sha256 prefix of a file known to the tree
        keys |= {key for sha, key in tree.shas.items() if sha.startswith(wanted)}
    return keys


def family(tree: Tree, model: str) -> set[str]:
    """The model keys of `model`'s family: the same architecture and GGUF name, and every file a quality block ties to
    one of them (its reference, or a quant measured against it), until no more join."""
    members = _keys_of(tree, model)
    if not members:
        return set()
    links = []
    for row in tree.quality.itertuples():
        reference = tree.shas.get(str(row.reference_sha256)) if isinstance(row.reference_sha256, str) else None
        if reference is not None:
            links.append((str(row.model), reference))
    while True:
        names = {tree.families.get(key, key) for key in members}
        grown = members | {key for key, name in tree.families.items() if name in names}
        grown |= {b for a, b in links if a in grown} | {a for a, b in links if b in grown}
        if grown == members:
            return members
        members = grown


def _speeds(runs: pd.DataFrame) -> pd.DataFrame:
    """Per machine and model: pp512 and tg128 (median t/s) of the settings whose tg128 (else pp512) is fastest."""
    runs = runs[runs["test"].isin(SPEED_TESTS)]
    if runs.empty:
        return pd.DataFrame(columns=["machine_id", "model", "settings", *SPEED_TESTS])
    runs = prefer_stable(runs, ["machine_id", "model", "settings", "test"])
    medians = runs.groupby(["machine_id", "model", "settings", "test"])["median_ts"].median().unstack("test")
    medians = medians.reindex(columns=list(SPEED_TESTS)).reset_index()
    best = medians.assign(_rank=medians["tg128"].fillna(medians["pp512"])).sort_values("_rank", ascending=False)
    return best.drop_duplicates(["machine_id", "model"]).drop(columns="_rank")


def _latest(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values("created_utc", kind="stable").drop_duplicates(keys, keep="last")


def quants_table(tree: Tree, model: str, devices: list[str] | None = None, machine_id: str | None = None) -> pd.DataFrame:
    """One row per machine and file of `model`'s family that has a quality or fits block somewhere in it (else empty):
    device, file, quant, size, pp512 and tg128 t/s and their settings, a KL divergence and same-top column per
    reference, and the largest context that ran. Newest block where a machine measured one twice."""
    members = family(tree, model)
    quality = tree.quality[tree.quality["model"].isin(members)]
    fits = tree.fits[tree.fits["model"].isin(members)]
    if quality.empty and fits.empty:
        return pd.DataFrame()
    runs = tree.runs[tree.runs["model"].isin(members)]
    frames = {"runs": runs, "quality": quality, "fits": fits}
    for name, frame in frames.items():
        if devices and not frame.empty:
            frame = frame[frame["device_id"].isin(devices) | frame["device"].isin(devices)]
        if machine_id is not None and not frame.empty:
            frame = frame[frame["machine_id"] == machine_id]
        frames[name] = frame
    runs, quality, fits = frames["runs"], frames["quality"], frames["fits"]
    facts = pd.concat([f[["machine_id", "device", "model", "model_label", "quant", "model_bytes"]] for f in frames.values()])
    table = facts.drop_duplicates(["machine_id", "model"]).reset_index(drop=True)
    if table.empty:
        return pd.DataFrame()
    table["size GiB"] = pd.to_numeric(table["model_bytes"], errors="coerce") / GIB
    speeds = _speeds(runs).rename(columns={"pp512": "pp512 t/s", "tg128": "tg128 t/s", "settings": "speed settings"})
    table = table.merge(speeds, on=["machine_id", "model"], how="left")
    table = _add_quality(table, quality)
    table = _add_fits(table, fits)
    table = table.sort_values(["device", "machine_id", "size GiB"], ascending=[True, True, False], kind="stable")
    table = table.drop(columns=["model", "model_bytes"]).rename(columns={"model_label": "model"}).reset_index(drop=True)
    if table[["pp512 t/s", "tg128 t/s"]].isna().all().all():  # no speed measured for any of them: no empty columns
        table = table.drop(columns=["pp512 t/s", "tg128 t/s", "speed settings"])
    first = ["device", "machine_id", "model", "quant", "size GiB"]
    return table[first + [c for c in table.columns if c not in first]]


def _add_quality(table: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    if quality.empty:
        return table
    quality = quality.assign(_config=list(zip(quality["reference"], quality["text_sha256"], quality["ctx"])))
    configs = list(dict.fromkeys(quality["_config"]))
    by_reference: dict[str, int] = {}
    for reference, _, _ in configs:
        by_reference[reference] = by_reference.get(reference, 0) + 1
    for config in configs:
        reference, text_sha, ctx = config
        label = f"vs {reference}" + (f" (ctx {ctx}, text {text_sha[:8]})" if by_reference[reference] > 1 else "")
        rows = _latest(quality[quality["_config"] == config], ["machine_id", "model"])
        rows = rows[["machine_id", "model", "kld_mean", "same_top"]].assign(same_top=rows["same_top"] * 100)
        table = table.merge(
            rows.rename(columns={"kld_mean": f"KLD {label}", "same_top": f"same top % {label}"}),
            on=["machine_id", "model"],
            how="left",
        )
    return table


def _add_fits(table: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    if fits.empty:
        return table
    limits = pd.to_numeric(fits["memory_limit_bytes"], errors="coerce")
    for limit in sorted(set(limits.dropna())) + [None]:
        rows = fits[limits.isna()] if limit is None else fits[limits == limit]
        if rows.empty:
            continue
        name = "largest ctx" if limit is None else f"largest ctx within {limit / GIB:.1f} GiB"
        rows = _latest(rows, ["machine_id", "model"])[["machine_id", "model", "ctx_max"]].rename(columns={"ctx_max": name})
        table = table.merge(rows, on=["machine_id", "model"], how="left")
    return table


def quants_cell(column: str, value) -> str:
    """One cell as text: rates to one decimal, sizes to two, divergences to four significant figures, contexts as whole
    tokens; a cell with nothing measured is empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if column.startswith("largest ctx"):
        return f"{int(value):,}"
    if column.startswith("KLD"):
        return f"{value:.4g}"
    if column == "size GiB":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def numeric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.endswith("t/s") or c.startswith(("KLD", "same top", "largest")) or c == "size GiB"]


def quants_markdown(table: pd.DataFrame) -> str:
    rows = ([quants_cell(c, v) for c, v in zip(table.columns, row)] for row in table.itertuples(index=False))
    return markdown_table([str(c) for c in table.columns], rows, right=numeric_columns(table))
