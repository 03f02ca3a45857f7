"""The site's data (harness/site/build.py writes it as assets/data.js and the pages): the leaderboard rows, the buying
rows, each machine's page data and the devices with depth curves, from a results Tree; every figure keeps its test's
name and its source."""

from __future__ import annotations

import math

import pandas as pd

from harness.aggregate.compare import shape_rank
from harness.aggregate.tree import Tree
from harness.catalogue.hardware import vendor_of
from harness.catalogue.models import load_catalog


def _number(value) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return round(float(value), 3)


def _vendor(row: pd.Series) -> str:
    return vendor_of(f"{row['device']} {row['gpu'] or ''} {row['cpu']}")


KEYS = ["model", "machine_id", "backend"]


def _rates(runs: pd.DataFrame, prompt: bool, preferred: str) -> pd.DataFrame:
    """Per (model, machine, backend): the median rate of the preferred test at depth 0 (pp512 / tg128), else of another;
    over the stable runs where there are any (`left_out` busy or unstable ones), else over the noisy ones (`noisy`)."""
    columns = ["test", "median_ts", "noisy", "left_out"]
    depth0 = runs[(runs["n_depth"] == 0) & ((runs["n_gen"] == 0) if prompt else (runs["n_prompt"] == 0))]
    if depth0.empty:
        return pd.DataFrame(columns=[*KEYS, *columns]).set_index(KEYS)
    depth0 = depth0.assign(noisy=depth0["unstable"].eq(True))
    has_stable = depth0.groupby([*KEYS, "test"])["noisy"].transform(lambda noisy: not noisy.all())
    left_out = (depth0["noisy"] & has_stable).groupby([depth0[k] for k in [*KEYS, "test"]]).sum().rename("left_out")
    used = depth0[~depth0["noisy"] | ~has_stable]
    rates = used.groupby([*KEYS, "test"]).agg(median_ts=("median_ts", "median"), noisy=("noisy", "all")).join(left_out)
    rates = rates.reset_index()
    rates = rates.assign(other=rates["test"] != preferred).sort_values([*KEYS, "other", "test"])
    return rates.drop_duplicates(KEYS).set_index(KEYS)[columns]


def _all_rates(runs: pd.DataFrame) -> dict[tuple, list]:
    """Per (model, machine, backend): every test it ran at depth 0 as [test, median t/s, from busy or unstable runs only],
    over the stable runs where there are any (as `_rates`), in shape order: the leaderboard's test selector picks from
    these, one named test per column."""
    depth0 = runs[runs["n_depth"] == 0]
    if depth0.empty:
        return {}
    depth0 = depth0.assign(noisy=depth0["unstable"].eq(True))
    has_stable = depth0.groupby([*KEYS, "test"])["noisy"].transform(lambda noisy: not noisy.all())
    used = depth0[~depth0["noisy"] | ~has_stable]
    rates = used.groupby([*KEYS, "test"]).agg(median_ts=("median_ts", "median"), noisy=("noisy", "all")).reset_index()
    rates = rates.assign(order=shape_rank(rates["test"])).sort_values([*KEYS, "order"], kind="stable")
    found: dict[tuple, list] = {}
    for model, machine, backend, test, median, noisy in rates[[*KEYS, "test", "median_ts", "noisy"]].itertuples(index=False):
        found.setdefault((model, machine, backend), []).append([test, _number(median), bool(noisy)])
    return found


def test_kinds(runs: pd.DataFrame) -> list[list]:
    """Every test at depth 0 in shape order with its kind: "pp" (prompt processing, no tokens generated), "tg"
    (generation, no prompt) or "other": the leaderboard's two test selectors offer the pp and the tg ones."""
    depth0 = runs[runs["n_depth"] == 0].drop_duplicates("test")
    if depth0.empty:
        return []
    kind = (depth0["n_gen"] == 0).map({True: "pp", False: ""}) + (depth0["n_prompt"] == 0).map({True: "tg", False: ""})
    depth0 = depth0.assign(kind=kind.replace({"": "other", "pptg": "other"}), order=shape_rank(depth0["test"]))
    return [[t, k] for t, k in depth0.sort_values(["order", "test"], kind="stable")[["test", "kind"]].itertuples(index=False)]


CANONICAL = ("pp512", "tg128")  # llama-bench's default tests: the leaderboard's columns wherever a model has them


def default_model(rows: list[dict]) -> str | None:
    """The model the leaderboard and the buying view open on: the catalogue model with the most devices measured in the
    canonical tests (pp512, tg128), else with the most devices measured at all; ties go to the most machines, then the
    id. The most-measured model in any test (a 1B model, LocalScore's averages only) would open on empty pp512/tg128
    columns."""

    def pick(canonical: bool) -> str | None:
        devices: dict[str, set] = {}
        machines: dict[str, set] = {}
        for row in rows:
            if row["tier"] == "unlisted" or not any(not canonical or t[0] in CANONICAL for t in row["tests"]):
                continue
            devices.setdefault(row["model"], set()).add(row["device_key"])
            machines.setdefault(row["model"], set()).add(row["machine"])
        ranked = sorted(devices, key=lambda m: (-len(devices[m]), -len(machines[m]), m))
        return ranked[0] if ranked else None

    return pick(True) or pick(False) or (rows[0]["model"] if rows else None)


def _noise_text(row: pd.Series) -> str:
    """A leaderboard row's mark: which of its figures come from busy or unstable runs only, or left such runs out."""
    parts = []
    for prefix in ("pp", "tg"):
        test = row[f"{prefix}_test"]
        if pd.isna(test):
            continue
        if row[f"{prefix}_noisy"] == True:  # noqa: E712  (a missing value after the join is not a mark)
            parts.append(f"{test}: busy or unstable, rerun on a quieter machine")
        elif row[f"{prefix}_left_out"] > 0:
            parts.append(f"{test}: {int(row[f'{prefix}_left_out'])} busy or unstable run(s) left out")
    return "; ".join(parts)


def leaderboard(tree: Tree) -> list[dict]:
    """One row per (model, machine, backend): medians over files, per-dollar and per-watt, primary scores."""
    tiers = {m.id: m.tier for m in load_catalog().models}
    runs = tree.runs if not tree.runs.empty else tree.runs.assign(device_memory_gb=pd.Series(dtype=float))
    base = runs.groupby(KEYS).agg(
        label=("model_label", "first"),
        quant=("quant", "first"),
        device=("device", "first"),
        gpu=("gpu", "first"),
        cpu=("cpu", "first"),
        memory_gb=("device_memory_gb", "first"),
        price_usd=("price_usd", "first"),
        power_w=("power_w", "first"),
        files=("file", "nunique"),
        ttft_ms=("ttft_ms", "median"),
        rss=("peak_rss_bytes", "max"),
        gpu_bytes=("peak_gpu_bytes", "max"),
        source=("source", "first"),
        split=("split", "first"),
    )
    pp, tg = _rates(runs, True, "pp512"), _rates(runs, False, "tg128")
    base = base.join(pp.add_prefix("pp_")).join(tg.add_prefix("tg_"))
    every_test = _all_rates(runs)
    runtimes = runs.groupby(KEYS)["runtime"].agg(lambda r: ", ".join(sorted({str(v) for v in r.dropna()})))
    device_ids = runs.groupby(KEYS)["device_id"].first()
    scores = tree.scores[tree.scores["primary"]] if not tree.scores.empty else tree.scores
    by_pair: dict[tuple, dict] = {}
    for score in scores.itertuples():
        label = f"{score.task} ({score.metric}, {score.shots}-shot{', subset' if score.subset else ''})"
        by_pair.setdefault((score.model, score.machine_id), {})[label] = _number(score.value * 100)
    serves = _serves(tree)
    rows = []
    for (model, machine, backend), row in base.iterrows():
        tg_rate = _number(row["tg_median_ts"])
        memory = max(v for v in (row["rss"], row["gpu_bytes"], -1) if pd.notna(v))
        rows.append(
            {
                "model": model,
                "label": row["label"],
                "quant": row["quant"],
                "tier": tiers.get(model, "unlisted"),
                "machine": machine,
                "device": row["device"],
                # one leaderboard row per device: the hardware table's id, else the device's own name
                "device_key": device_ids[(model, machine, backend)]
                if pd.notna(device_ids[(model, machine, backend)])
                else f"name:{row['device']}",
                "runtime": runtimes[(model, machine, backend)],
                "tests": every_test.get((model, machine, backend), []),
                "vendor": _vendor(row),
                "memory_gb": _number(row["memory_gb"]),
                "backend": backend,
                "pp_test": row["pp_test"] if pd.notna(row["pp_test"]) else None,
                "pp": _number(row["pp_median_ts"]),
                "tg_test": row["tg_test"] if pd.notna(row["tg_test"]) else None,
                "tg": tg_rate,
                "ttft_ms": _number(row["ttft_ms"]),
                "pp_noisy": bool(row["pp_noisy"] == True),  # noqa: E712  (NaN where the run has no pp test)
                "tg_noisy": bool(row["tg_noisy"] == True),  # noqa: E712
                "noise": _noise_text(row),
                "peak_memory_gb": _number(memory / 1e9) if memory >= 0 else None,
                "tg_per_1000usd": _number(tg_rate / row["price_usd"] * 1000) if tg_rate and pd.notna(row["price_usd"]) else None,
                "tg_per_watt": _number(tg_rate / row["power_w"]) if tg_rate and pd.notna(row["power_w"]) else None,
                "price_usd": _number(row["price_usd"]),
                "files": int(row["files"]),
                "scores": by_pair.get((model, machine), {}),
                "serves": serves.pop((model, machine), ""),
                "split": row["split"] or "",
                "provenance": "imported" if str(row["source"]).startswith("imported") else "measured",
                "source": str(row["source"]).removeprefix("imported: "),
            }
        )
    for (model, machine), text in serves.items():  # serving points without a single-stream run
        rows.append(
            {
                "model": model,
                "label": model,
                "quant": None,
                "tier": tiers.get(model, "unlisted"),
                "machine": machine,
                "device": None,
                "device_key": f"name:{machine}",
                "runtime": "",
                "tests": [],
                "vendor": None,
                "memory_gb": None,
                "backend": None,
                "pp_test": None,
                "pp": None,
                "tg_test": None,
                "tg": None,
                "pp_noisy": False,
                "tg_noisy": False,
                "noise": "",
                "ttft_ms": None,
                "peak_memory_gb": None,
                "tg_per_1000usd": None,
                "tg_per_watt": None,
                "price_usd": None,
                "files": 0,
                "scores": {},
                "serves": text,
                "split": "",
                "provenance": "measured",
                "source": "measured",
            }
        )
    return rows


def _serves(tree: Tree) -> dict[tuple[str, str], str]:
    """(model, machine) -> "serves N streams at >= X t/s" per mode, from its serving points."""
    from harness.aggregate.compare import serving_table

    if tree.serving.empty:
        return {}
    table = serving_table(tree.serving)
    return {
        key: "; ".join(f"{r['mode']}: {r['serves']}" for _, r in group.iterrows())
        for key, group in table.groupby(["model", "machine_id"])
    }


def buying_rows(runs: pd.DataFrame) -> list[dict]:
    """`meek advise` over the whole record, for the buying view: every device that holds each catalogue model the record
    measured, at its canonical tg128 (measured, converted or predicted, backend, range and basis named)."""
    from harness.aggregate.advise import Record, advise

    catalog = load_catalog()
    record = Record(runs)
    rows = []
    for model_id in sorted(set(runs["model"]) & {m.id for m in catalog.models}):
        model = catalog.get(model_id)
        assert model is not None
        table, _, _ = advise(runs, model, None, None, record=record)
        for row in table.to_dict("records"):
            rows.append(
                {
                    "model": model_id,
                    "device": row["device"],
                    "kind": row["kind"],
                    "memory_gb": _number(row["memory_gb"]),
                    "price_usd": _number(row["price_usd"]),
                    "backend": row["backend"],
                    "tg": _number(row["tg128 t/s"]),
                    "range": row["tg128 range"],
                    "basis": row["basis"],
                    "provenance": row["tg128 is"],
                    "pp": _number(row["pp512 t/s"]),
                    "pp_kind": row["pp512 is"],
                    "margin_gib": _number(row["margin GiB"]),
                    "tg_per_1000usd": _number(row["t/s per $1000"]),
                    "tg_per_watt": _number(row["t/s per W"]),
                }
            )
    return rows


def depth_devices(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Devices whose record holds tests at several context depths (DGX Spark, Strix Halo): their runs, for a page each."""
    deep = runs[runs["n_depth"] > 0].dropna(subset=["device_id"])
    return {device: runs[runs["device_id"] == device] for device in sorted(set(deep["device_id"]))}


def machines(tree: Tree) -> dict[str, dict]:
    """Per machine: its fingerprint facts and every run, for its own page."""
    pages = {}
    for machine_id, group in tree.runs.groupby("machine_id", sort=True):
        first = group.iloc[0]
        pages[machine_id] = {
            "facts": {
                "device": first["device"],
                "cpu": first["cpu"],
                "gpu": first["gpu"] if isinstance(first["gpu"], str) and first["gpu"] else "none",
                "backend(s)": ", ".join(sorted(set(group["backend"]))),
                "llama.cpp build(s)": ", ".join(sorted({str(b) for b in group["build"].dropna()})) or "unknown",
                "result files": str(group["file"].nunique()),
            },
            "runs": group.assign(order=shape_rank(group["test"])).sort_values(["model", "order"], kind="stable"),
        }
    return pages
