// meek-harness report: sortable, filterable tables from window.MEEK_DATA. Every value is written with textContent,
// never as HTML, so a string from a result file can only ever show as text.
"use strict";

const DATA = window.MEEK_DATA || { rows: [] };

function text(tag, value, className) {
  const node = document.createElement(tag);
  node.textContent = value === null || value === undefined ? "" : String(value);
  if (className) node.className = className;
  return node;
}

function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
}

const ROW_LIMIT = 500; // rows drawn at once: thousands of results stay quick; filters narrow the rest

// columns: [{key, label, numeric, badge, sort (the key it sorts by, when not key), value(row) -> display, link(row) -> href}]
function sortableTable(table, columns, initialKey, initialDescending) {
  let sortKey = initialKey;
  let descending = initialDescending;
  let rows = [];

  function compare(a, b) {
    const x = a[sortKey], y = b[sortKey];
    const missingX = x === null || x === undefined, missingY = y === null || y === undefined;
    if (missingX || missingY) return missingX === missingY ? 0 : missingX ? 1 : -1; // missing values last
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  }

  function render() {
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const column of columns) {
      const th = text("th", column.label, column.numeric ? "num" : "");
      const key = column.sort || column.key;
      th.dataset.key = column.key;
      th.setAttribute("aria-sort", key === sortKey ? (descending ? "descending" : "ascending") : "none");
      th.addEventListener("click", () => {
        descending = key === sortKey ? !descending : Boolean(column.numeric);
        sortKey = key;
        render();
      });
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of [...rows].sort(compare).slice(0, ROW_LIMIT)) {
      const tr = body.insertRow();
      for (const column of columns) {
        const shown = column.value ? column.value(row) : column.numeric ? formatNumber(row[column.key]) : row[column.key];
        const td = text("td", "", column.numeric ? "num" : "");
        if (column.link && column.link(row)) {
          const a = text("a", shown);
          a.href = column.link(row);
          td.appendChild(a);
        } else if (column.badge && shown) {
          td.appendChild(text("span", shown, "badge badge-" + String(shown).replace(/[^a-z]/g, "")));
        } else {
          td.textContent = shown === null || shown === undefined ? "" : String(shown);
        }
        tr.appendChild(td);
      }
    }
  }

  return { setRows(newRows) { rows = newRows; render(); } };
}

function fillSelect(select, values, keepFirst) {
  const first = keepFirst ? select.options[0] : null;
  select.replaceChildren(...(first ? [first] : []));
  for (const value of values) select.appendChild(Object.assign(text("option", value), { value }));
}

const unique = (values) => [...new Set(values.filter((v) => v !== null && v !== undefined))].sort();
const machineLink = (prefix) => (row) => prefix + "machines/" + encodeURIComponent(row.machine) + ".html";
const MEMORY_BUCKETS = [8, 12, 16, 24, 32, 64, 128];
function memoryBucket(gb) {
  if (gb === null || gb === undefined) return "system RAM";
  const bucket = MEMORY_BUCKETS.find((b) => gb <= b);
  return bucket ? "up to " + bucket + " GB" : "more than 128 GB";
}

function leaderboardPage() {
  const rows = DATA.rows.map((row) => ({ ...row, memory: memoryBucket(row.memory_gb), scoreText: Object.entries(row.scores || {}).map(([k, v]) => k + " " + formatNumber(v)).join("; ") }));
  const columns = [
    { key: "label", label: "model" }, { key: "quant", label: "quant" }, { key: "tier", label: "tier" },
    { key: "device", label: "device" }, { key: "machine", label: "machine", link: machineLink("") },
    { key: "vendor", label: "vendor" }, { key: "memory", label: "memory" },
    { key: "provenance", label: "kind", badge: true }, { key: "source", label: "source" },
    { key: "backend", label: "backend" }, { key: "split", label: "split across (RPC)" }, { key: "pp", label: "pp t/s", numeric: true, value: (r) => formatNumber(r.pp) + (r.pp_noisy ? " !" : "") },
    { key: "tg", label: "tg t/s", numeric: true, value: (r) => formatNumber(r.tg) + (r.tg_noisy ? " !" : "") },
    { key: "noise", label: "! busy or unstable" },
    { key: "ttft_ms", label: "TTFT ms", numeric: true }, { key: "peak_memory_gb", label: "peak GB", numeric: true },
    { key: "tg_per_1000usd", label: "tg t/s per $1000", numeric: true }, { key: "tg_per_watt", label: "tg t/s per W", numeric: true },
    { key: "serves", label: "serves (streams at >= 10 t/s)" },
    { key: "scoreText", label: "scores (%)" }, { key: "files", label: "files", numeric: true },
  ];
  const table = sortableTable(document.getElementById("leaderboard"), columns, "tg", true);
  const filters = { model: "label", tier: "tier", vendor: "vendor", memory: "memory", provenance: "provenance" };
  for (const [id, key] of Object.entries(filters)) fillSelect(document.getElementById("f-" + id), unique(rows.map((r) => r[key])), true);
  const search = document.getElementById("f-search");
  function apply() {
    const needle = search.value.trim().toLowerCase();
    const shown = rows.filter((row) => Object.entries(filters).every(([id, key]) => {
      const wanted = document.getElementById("f-" + id).value;
      return !wanted || row[key] === wanted;
    }) && (!needle || [row.label, row.device, row.machine, row.model].join(" ").toLowerCase().includes(needle)));
    table.setRows(shown);
    document.getElementById("count").textContent = shown.length + " of " + rows.length + " rows" +
      (shown.length > ROW_LIMIT ? " (the first " + ROW_LIMIT + " in this order are drawn: filter or sort to see others)" : "") +
      (DATA.rejected ? " (" + DATA.rejected + " result files failed validation and are left out)" : "");
  }
  document.getElementById("filters").addEventListener("input", apply);
  document.getElementById("filters").addEventListener("change", apply);
  document.getElementById("filters").addEventListener("submit", (event) => event.preventDefault());
  apply();
}

// Two sides (devices, or machines the hardware table does not know) from DATA.compare, which build.py writes from
// harness/aggregate/compare.py's side_figures: each side's fastest figure per model and test, tests in depth order.
// A row pairs the same test name only; every other test is listed apart, by name, with no ratio.
function comparePage() {
  const data = DATA.compare || {};
  const sides = data.sides || [], models = data.models || [];
  const figures = new Map(Object.entries(data.figures || {}).map(([side, list]) => [side, new Map(list)]));
  const a = document.getElementById("c-a"), b = document.getElementById("c-b");
  const kinds = { device: "devices", machine: "machines not in the hardware table", split: "split over RPC" };
  for (const select of [a, b]) {
    for (const [kind, title] of Object.entries(kinds)) {
      const group = Object.assign(document.createElement("optgroup"), { label: title });
      for (const side of sides.filter((s) => s.kind === kind)) group.appendChild(Object.assign(text("option", side.label), { value: side.id }));
      if (group.children.length) select.appendChild(group);
    }
  }
  [a.value, b.value] = data.pair && data.pair.length === 2 ? data.pair : [a.value, b.value];
  const label = (id) => (sides.find((s) => s.id === id) || { label: id }).label;
  const table = sortableTable(document.getElementById("comparison"), [
    { key: "label", label: "model" }, { key: "test", label: "test", sort: "rank" },
    { key: "tpsA", label: "A t/s", numeric: true }, { key: "viaA", label: "A from" },
    { key: "tpsB", label: "B t/s", numeric: true }, { key: "viaB", label: "B from" },
    { key: "ratio", label: "B / A", numeric: true, value: (r) => (r.ratio ? r.ratio.toFixed(2) + "x" : "") },
  ], "rank", false);
  function apply() {
    const mine = figures.get(a.value) || new Map(), theirs = figures.get(b.value) || new Map();
    const rows = [], only = [];
    for (const [model, name] of models) {
      const testsA = mine.get(model) || [], testsB = theirs.get(model) || [];
      const byTest = new Map(testsB.map((f) => [f[0], f]));
      const inA = new Set(testsA.map((f) => f[0]));
      for (const [test, , tps, via] of testsA) {
        const other = byTest.get(test);
        if (other) rows.push({ rank: rows.length, label: name, test, tpsA: tps, viaA: via, tpsB: other[2], viaB: other[3], ratio: tps && other[2] ? other[2] / tps : null });
      }
      const onlyA = testsA.filter((f) => !byTest.has(f[0])).map((f) => f[0]), onlyB = testsB.filter((f) => !inA.has(f[0])).map((f) => f[0]);
      if (onlyA.length || onlyB.length) only.push([name, onlyA, onlyB, testsA.length > 0 && testsB.length > 0]);
    }
    table.setRows(rows);
    const both = only.filter((o) => o[3]), apart = only.filter((o) => !o[3]);
    document.getElementById("c-count").textContent = rows.length + " test(s) both ran, B / A = " + label(b.value) + " / " + label(a.value) +
      "; " + both.length + " model(s) both ran with tests only one of them ran, " + apart.length + " model(s) only one of them ran (below)";
    const item = ([model, onlyA, onlyB]) => {
      const li = text("li", "");
      li.append(text("b", model), document.createTextNode(": " + [[a.value, onlyA], [b.value, onlyB]].filter(([, tests]) => tests.length)
        .map(([side, tests]) => "only " + label(side) + ": " + tests.join(", ")).join("; ")));
      return li;
    };
    const list = document.getElementById("c-only");
    list.replaceChildren(...both.map(item));
    if (!both.length) list.appendChild(text("li", "none: every test of a model both ran is in the table above"));
    const more = document.getElementById("c-apart");
    const count = (side) => apart.filter((o) => (side === "A" ? o[1] : o[2]).length).length;
    more.replaceChildren(text("summary", "Models only one of them ran: " + count("A") + " only " + label(a.value) + ", " + count("B") + " only " + label(b.value)),
      Object.assign(document.createElement("ul"), { className: "only" }));
    more.lastChild.append(...apart.map(item));
  }
  a.addEventListener("change", apply);
  b.addEventListener("change", apply);
  apply();
}

function buyingPage() {
  const select = document.getElementById("b-model"), show = document.getElementById("b-provenance");
  const rows = DATA.buying || [];
  fillSelect(select, unique(rows.map((r) => r.model)), false);
  const table = sortableTable(document.getElementById("buying"), [
    { key: "device", label: "device" }, { key: "backend", label: "backend" },
    { key: "tg", label: "tg128 t/s", numeric: true }, { key: "provenance", label: "tg128 is", badge: true }, { key: "range", label: "range" },
    { key: "pp", label: "pp512 t/s", numeric: true }, { key: "pp_kind", label: "pp512 is" },
    { key: "memory_gb", label: "memory GB", numeric: true }, { key: "margin_gib", label: "margin GiB", numeric: true },
    { key: "price_usd", label: "launch price $", numeric: true },
    { key: "tg_per_1000usd", label: "tg128 per $1000", numeric: true }, { key: "tg_per_watt", label: "tg128 per W", numeric: true },
    { key: "basis", label: "basis" },
  ], "tg", true);
  function apply() {
    const shown = rows.filter((r) => r.model === select.value && (!show.value || r.provenance === show.value));
    table.setRows(shown);
    const count = (kind) => shown.filter((r) => r.provenance === kind).length;
    document.getElementById("b-count").textContent = shown.length + " devices: " + count("measured") + " measured, " +
      count("converted") + " converted, " + count("predicted") + " predicted (llama-bench tg128 at depth 0)";
  }
  document.getElementById("b-filters").addEventListener("change", apply);
  const pages = document.getElementById("device-pages");
  for (const id of DATA.devicePages || []) {
    const link = text("a", id);
    link.href = "devices/" + encodeURIComponent(id) + ".html";
    pages.append(link, document.createTextNode(" "));
  }
  apply();
}

const PAGES = { index: leaderboardPage, compare: comparePage, buying: buyingPage };
(PAGES[document.body.dataset.page] || (() => {}))();
