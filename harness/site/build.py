"""The site's pages (`meek report`, and `meek serve` live): a results tree as a static site that opens from disk (no server, no CDN, no internet).

Pages: the leaderboard (sortable, filterable), one page per machine, a side-by-side of two machines, the frontier
chart with machine classes, and the buying view. Data (harness/site/data.py) goes to assets/data.js as JSON; the pages' script writes every
value with textContent, and the pages rendered here pass every string through html.escape: a model name carrying
HTML or script shows as text.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from harness.aggregate.compare import shape_rank
from harness.aggregate.tree import Tree, load_tree
from harness.files import make_folder, write_inside
from harness.site.compare_page import COMPARE_BODY, comparison
from harness.site.data import buying_rows, default_model, depth_devices, leaderboard, machines, test_kinds

ASSETS = Path(__file__).parent / "assets"
PAGES = [
    ("index.html", "Leaderboard"),
    ("compare.html", "Compare two machines"),
    ("buying.html", "Buying guide"),
    ("frontier.html", "Frontier"),
]


def build_site(paths: Iterable[Path], out_dir: Path, frontier_benchmarks: tuple[str, ...] = ("gpqa_diamond", "mmlu")) -> Tree:
    """Validate and load the results under paths, then write the site into out_dir."""
    tree = load_tree(paths)
    write_site(tree, out_dir, frontier_benchmarks)
    return tree


EMPTY_REPORT = "No results yet: run meek bench (or put result files in the results folder), then meek report again."
REPORT_SOURCE = "Built by <code>meek report</code> from validated result files."


def write_site(
    tree: Tree,
    out_dir: Path,
    frontier_benchmarks: tuple[str, ...] = ("gpqa_diamond", "mmlu"),
    *,
    source: str | None = None,
    empty: str = EMPTY_REPORT,
) -> None:
    """Write the whole site into out_dir (created; pages of an earlier build are replaced). The tree is not changed.
    Every file goes through write_inside: a symbolic link planted in out_dir (index.html, assets/, machines/) is refused
    in one line, never written through. `source`: where the data comes from, for every page's footer (`meek serve` names
    its record, its count and the build's time; plain text); `empty`: what every page says when the tree holds nothing."""
    footer = f"{html.escape(source)}." if source else REPORT_SOURCE
    notice = f'<p class="empty" id="empty">{html.escape(empty)}</p>\n' if tree.runs.empty and tree.serving.empty else ""
    runs = tree.runs.assign(device_memory_gb=tree.runs["device_id"].map(_device_memory())) if not tree.runs.empty else tree.runs
    tree = dataclasses.replace(tree, runs=runs)
    make_folder(out_dir)
    for asset in sorted(ASSETS.iterdir()):
        if asset.is_file():
            write_inside(out_dir, f"assets/{asset.name}", asset.read_bytes())
    rows = leaderboard(tree) if not (tree.runs.empty and tree.serving.empty) else []
    deep = depth_devices(tree.runs) if not tree.runs.empty else {}
    buying = buying_rows(tree.runs) if not tree.runs.empty else []
    compared = comparison(tree.runs) if not tree.runs.empty else {}
    data = {
        "rows": rows,
        "tests": test_kinds(tree.runs) if not tree.runs.empty else [],
        "defaultModel": default_model(rows),
        "rejected": len(tree.rejected),
        "buying": buying,
        "devicePages": sorted(deep),
        "compare": compared,
    }
    write_inside(out_dir, "assets/data.js", "window.MEEK_DATA = " + json.dumps(_finite(data), allow_nan=False) + ";\n")
    machine_pages = machines(tree) if not tree.runs.empty else {}
    for name, title in PAGES:
        body = _frontier_body(out_dir, frontier_benchmarks) if name == "frontier.html" else STATIC_BODIES[name]
        _write_page(out_dir, name, title, name.removesuffix(".html"), notice + body, depth=0, footer=footer)
    make_folder(out_dir / "devices", below=out_dir)
    for device_id, device_runs in deep.items():
        name = str(device_runs["device"].iloc[0])
        _write_page(
            out_dir,
            f"devices/{device_id}.html",
            f"Device {name}",
            "device",
            _device_body(device_id, device_runs, out_dir),
            depth=1,
            footer=footer,
        )
    make_folder(out_dir / "machines", below=out_dir)
    for machine_id, page in machine_pages.items():
        # the page name is the machine id itself: the schema keeps ids to [a-z0-9-], at most 80, no dash at either end,
        # so two machines never share a page and the leaderboard's links (the id, URL-encoded) always resolve
        _write_page(
            out_dir,
            f"machines/{machine_id}.html",
            f"Machine {machine_id}",
            "machine",
            _machine_body(machine_id, page) + _quants_body(tree, machine_id),
            depth=1,
            footer=footer,
        )


def _finite(value):
    """The data with every NaN or infinity (a missing figure in some file) as null: JSON has no NaN."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _device_memory() -> dict[str, float | None]:
    from harness.catalogue.hardware import load_hardware

    return {d.id: d.memory_gb for d in load_hardware()}


def _write_page(out_dir: Path, relative: str, title: str, page: str, body: str, depth: int, footer: str) -> None:
    up = "../" * depth
    nav = " ".join(f'<a href="{up}{name}">{html.escape(label)}</a>' for name, label in PAGES)
    write_inside(
        out_dir,
        relative,
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · meek-harness</title><link rel="stylesheet" href="{up}assets/style.css"></head>
<body data-page="{page}"><header><strong>meek-harness</strong> <nav>{nav}</nav></header>
<main><h1>{html.escape(title)}</h1>
{body}
</main>
<footer><span id="source">{footer}</span> Frontier data: Epoch AI, "Data on AI Benchmarking"
(CC BY 4.0). Prices are launch prices; power is the device's rated power.</footer>
<script src="{up}assets/data.js"></script><script src="{up}assets/app.js"></script></body></html>
""",
    )


STATIC_BODIES = {
    "index.html": """<p>How fast each device runs one model: one row per device, the median over its machines (click a row
for them), in named llama-bench tests (pp512: prompt processing, tg128: generation, t/s), with where each number comes
from. Choose another model, or another test for either column, below; every view's choices are in its address, to link.
A <b>!</b> after a rate marks a figure from busy or unstable runs only: rerun on a quieter machine before trusting it.</p>
<form id="filters" class="filters">
<label>Model <select id="f-model"></select></label>
<label><input id="f-outside" type="checkbox"> show models outside the catalogue</label>
<label>pp column <select id="f-pp"><option value="">none</option></select></label>
<label>tg column <select id="f-tg"><option value="">none</option></select></label>
<label>Vendor <select id="f-vendor"><option value="">all</option></select></label>
<label>Device memory <select id="f-memory"><option value="">any</option></select></label>
<label>Source <select id="f-provenance"><option value="">all</option></select></label>
<label>Search <input id="f-search" type="search" placeholder="device, machine, backend"></label>
</form>
<p id="count" class="count"></p>
<div class="scroll"><table id="leaderboard"></table></div>""",
    "compare.html": COMPARE_BODY,
    "buying.html": """<p>Every device that holds the model, by generation speed (llama-bench's tg128 at depth 0, on the
llama.cpp backend named), per $1000 of launch price and per watt of rated power, over the whole record: <b>measured</b>
where that test ran on that device with a llama.cpp build, <b>converted</b> from another tool's figure (LocalScore,
Ollama) or backend through a transfer learned from devices measured both ways, else <b>predicted</b> by
<code>meek advise</code>; hover a badge for its basis and range.</p>
<form class="filters" id="b-filters"><label>Model <select id="b-model"></select></label>
<label>Budget <select id="b-budget"><option value="">any</option><option value="500">up to $500</option>
<option value="1000">up to $1000</option><option value="2000">up to $2000</option><option value="3000">up to $3000</option>
<option value="5000">up to $5000</option><option value="10000">up to $10000</option></select></label>
<label>Memory <select id="b-memory"><option value="">any</option><option value="16">16 GB or more</option>
<option value="24">24 GB or more</option><option value="32">32 GB or more</option><option value="64">64 GB or more</option>
<option value="128">128 GB or more</option></select></label>
<label>Show <select id="b-provenance"><option value="">all kinds</option><option>measured</option><option>converted</option>
<option>predicted</option></select></label></form>
<p id="b-count" class="count"></p>
<div class="scroll"><table id="buying"></table></div>
<h2>Device pages</h2><p>Devices whose record holds speed at context depth: <span id="device-pages"></span></p>""",
}


FRONTIER_COLUMNS = {  # the months-behind table, short headers in reading order: it fits a 1366 px window
    "machine_class": "machine class",
    "usable GB": "usable GB",
    "best open model that fits": "best open model that fits",
    "kind": "score kind",
    "score": "score",
    "released": "released",
    "frontier first there": "frontier first there",
    "months behind at release": "months behind at release",
    "months behind today": "months behind today",
    "lag at release, mean (Epoch)": "lag at release, mean (Epoch)",
    "lag by year": "lag by year",
    "trend": "trend",
}


def _frontier_body(out_dir: Path, benchmarks: tuple[str, ...]) -> str:
    """The frontier page: the headline benchmark (`meek gap`'s, GPQA Diamond) first, whatever order the caller names."""
    from harness.frontier.epoch import DEFAULT_KINDS, load_frontier
    from harness.frontier.gap import HEADLINE_BENCHMARK, MACHINE_CLASSES, gap_rows, gap_table
    from harness.plots.frontier import BENCHMARK_NAMES, frontier_figure
    from harness.plots.style import save

    frame = load_frontier()
    frame = frame[frame["kind"].isin(DEFAULT_KINDS)]
    parts = [
        (
            "<p>Score against release date: the frontier (any model), the best open-weight model, and the best open model "
            "each machine class holds whole (Q4_K_M, 8k context). Months behind: today minus the date the frontier first "
            "reached that score.</p>"
        )
    ]
    for benchmark in sorted(benchmarks, key=lambda b: b != HEADLINE_BENCHMARK):
        name = BENCHMARK_NAMES.get(benchmark, benchmark)
        lead = " (the headline, as in <code>meek gap</code>)" if benchmark == HEADLINE_BENCHMARK else ""
        save(frontier_figure(frame, benchmark, ["24gb-gpu", "128gb-unified"]), out_dir, f"assets/frontier-{benchmark}")
        table = gap_rows(gap_table(frame, benchmark, MACHINE_CLASSES)).drop(columns=["benchmark", "rows used"])
        table = table[[c for c in FRONTIER_COLUMNS if c in table.columns]].rename(columns=FRONTIER_COLUMNS)
        parts.append(
            f'<h2 class="benchmark" data-benchmark="{html.escape(benchmark)}">{html.escape(name)}{lead}</h2>'
            f'<img src="assets/frontier-{html.escape(benchmark)}.svg" alt="{html.escape(name)} frontier chart" class="figure">'
        )
        parts.append(f'<div class="fit">{_html_table(table)}</div>')
    return "\n".join(parts)


DEPTH_MODELS = 4  # models drawn on a device page: those measured at the most depths


def _device_body(device_id: str, runs: pd.DataFrame, out_dir: Path) -> str:
    """A device's depth curves: pp and tg against context depth for the models measured at the most depths, one line
    per runtime (the setup of that runtime measured at the most depths, named); then every depth point with its source."""
    from harness.plots.performance import depth_figure
    from harness.plots.style import save

    depths = runs.groupby("model")["n_depth"].nunique().sort_values(ascending=False, kind="stable")
    chosen = list(depths[depths >= 3].index[:DEPTH_MODELS])
    lines = []
    for (_, _), group in runs[runs["model"].isin(chosen)].groupby(["model", "runtime"], dropna=False):
        setup = group.groupby("machine_id")["n_depth"].nunique().idxmax()
        lines.append(group[group["machine_id"] == setup])
    parts = [
        f"<p>{html.escape(str(runs['device'].iloc[0]))}: {runs['file'].nunique()} result files from "
        f"{runs['machine_id'].nunique()} setups (builds, toolboxes, runtimes). Every number here is imported or "
        "measured, never predicted; each row names its source.</p>"
    ]
    if lines:
        shown = pd.concat(lines)
        setup_names = shown["source"].str.removeprefix("imported: ").str.split(", ").str[:2].str.join(", ")
        shown = shown.assign(device=setup_names, backend=shown["runtime"].fillna("unknown"), settings="")
        figure = depth_figure(shown, "record: " + "; ".join(sorted(set(shown["source"].str.removeprefix("imported: "))))[:220])
        save(figure, out_dir, f"assets/depth-{device_id}")
        parts.append(f'<img src="../assets/depth-{html.escape(device_id)}.svg" alt="depth curves" class="figure">')
    points = runs[runs["n_depth"] > 0]
    table = (
        points.groupby(["model_label", "test", "runtime", "source"], dropna=False)["median_ts"]
        .median()
        .reset_index()
        .rename(columns={"model_label": "model", "median_ts": "t/s"})
    )
    table = table.assign(order=shape_rank(table["test"])).sort_values(["model", "order"], kind="stable").drop(columns="order")
    parts.append(f'<h2>Every point at depth</h2><div class="scroll">{_html_table(table)}</div>')
    return "\n".join(parts)


def _machine_body(machine_id: str, page: dict) -> str:
    facts = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in page["facts"].items())
    runs = page["runs"]
    peak = runs["median_ts"].max() or 1
    bars = "".join(
        f'<div class="bar-row"><span class="bar-label" title="{html.escape(label)}">{html.escape(label)}</span>'
        f'<span class="bar" style="width:{max(1, 60 * value / peak):.1f}%"></span>'
        f'<span class="bar-value">{value:.1f} t/s</span></div>'
        for label, value in zip(_bar_labels(runs), runs["median_ts"])
    )
    runs = runs.assign(
        noisy=runs["unstable"].eq(True).map({True: "! busy or unstable", False: ""}),
        other_cpu=pd.to_numeric(runs["other_cpu_share"], errors="coerce") * 100,
    )
    table = (
        runs[
            [
                "model_label",
                "quant",
                "test",
                "backend",
                "settings",
                "median_ts",
                "stddev_ts",
                "n_samples",
                "noisy",
                "other_cpu",
                "ttft_ms",
                "created_utc",
            ]
        ]
        .rename(columns={"noisy": "mark", "other_cpu": "other CPU %"})
        .rename(
            columns={
                "model_label": "model",
                "median_ts": "t/s (median)",
                "stddev_ts": "stddev",
                "n_samples": "samples",
                "ttft_ms": "TTFT ms",
                "created_utc": "run (UTC)",
            }
        )
    )
    return (
        f'<table class="facts">{facts}</table><h2>Speed</h2><div class="bars">{bars}</div><h2>Every run</h2>'
        f'<div class="scroll">{_html_table(table)}</div>'
    )


def _quants_body(tree: Tree, machine_id: str) -> str:
    """The machine's quants of each model family it measured a quality or fits block for: speed, size, KL divergence
    and largest context side by side (harness/aggregate/quants.py); nothing when it has none."""
    from harness.aggregate.quants import family, quants_table

    measured = pd.concat([tree.quality[["machine_id", "model"]], tree.fits[["machine_id", "model"]]])
    models = sorted(set(measured.loc[measured["machine_id"] == machine_id, "model"]))
    parts, shown = [], set()
    for model in models:
        if model in shown:
            continue
        table = quants_table(tree, model, machine_id=machine_id)
        if table.empty:
            continue
        shown |= family(tree, model) | {model}
        parts.append(f'<div class="scroll">{_html_quants(table.drop(columns=["device", "machine_id"]))}</div>')
    if not parts:
        return ""
    lead = "<p>Each quant's speed, size, what it costs against its reference (meek quality) and the largest context that ran (meek fit).</p>"
    return "<h2>Quants</h2>" + lead + "".join(parts)


def _html_quants(frame: pd.DataFrame) -> str:
    from harness.aggregate.quants import quants_cell

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(quants_cell(str(c), v))}</td>" for c, v in zip(frame.columns, row)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar_labels(runs: pd.DataFrame) -> list[str]:
    """Each speed bar's label: model and test, then what tells two bars of the same model and test apart (backend,
    settings, then the run's date, then its file where those are the same too). Plain lists: 491 machine pages stay quick."""
    from collections import Counter

    setups = [
        f"{backend} {settings}".strip() if isinstance(settings, str) else str(backend)
        for backend, settings in zip(runs["backend"], runs["settings"])
    ]
    dates = [f"{c:%Y-%m-%d %H:%M}" if isinstance(c, pd.Timestamp) and pd.notna(c) else "" for c in runs["created_utc"]]
    labels = [f"{model} · {test}" for model, test in zip(runs["model_label"], runs["test"])]
    files = [Path(str(file)).stem for file in runs["file"]]  # two files of one setup and minute: the file names them
    for extra in (setups, dates, files):
        counts = Counter(labels)
        labels = [f"{label} · {more}" if counts[label] > 1 and more else label for label, more in zip(labels, extra)]
    return labels


def _html_table(frame: pd.DataFrame) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.1f}"
        if isinstance(value, pd.Timestamp):
            return "" if pd.isna(value) else f"{value:%Y-%m-%d %H:%M}"
        return html.escape(str(value)) if value is not None else ""

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
