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

// columns: [{key, label, numeric, badge, value(row) -> display, link(row) -> href}]
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
      th.dataset.key = column.key;
      th.setAttribute("aria-sort", column.key === sortKey ? (descending ? "descending" : "ascending") : "none");
      th.addEventListener("click", () => {
        descending = column.key === sortKey ? !descending : Boolean(column.numeric);
        sortKey = column.key;
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
    { key: "backend", label: "backend" }, { key: "split", label: "split across (RPC)" }, { key: "pp", label: "pp t/s", numeric: true }, { key: "tg", label: "tg t/s", numeric: true },
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

function comparePage() {
  const machines = unique(DATA.rows.map((r) => r.machine));
  const a = document.getElementById("c-a"), b = document.getElementById("c-b");
  fillSelect(a, machines, false);
  fillSelect(b, machines, false);
  if (machines.length > 1) b.value = machines[1];
  const table = sortableTable(document.getElementById("comparison"), [
    { key: "label", label: "model" }, { key: "backendA", label: "backend A" }, { key: "backendB", label: "backend B" },
    { key: "ppA", label: "pp t/s A", numeric: true }, { key: "ppB", label: "pp t/s B", numeric: true },
    { key: "tgA", label: "tg t/s A", numeric: true }, { key: "tgB", label: "tg t/s B", numeric: true },
    { key: "ratio", label: "tg B / A", numeric: true, value: (r) => (r.ratio ? r.ratio.toFixed(2) + "x" : "") },
  ], "label", false);
  function apply() {
    const byModel = {};
    for (const row of DATA.rows) {
      if (row.machine !== a.value && row.machine !== b.value) continue;
      const entry = (byModel[row.model] = byModel[row.model] || { label: row.label });
      const side = row.machine === a.value ? "A" : "B";
      if (entry["tg" + side] === undefined || (row.tg || 0) > entry["tg" + side]) {
        Object.assign(entry, { ["pp" + side]: row.pp, ["tg" + side]: row.tg, ["backend" + side]: row.backend });
      }
    }
    const rows = Object.values(byModel).filter((r) => r.tgA !== undefined && r.tgB !== undefined);
    for (const row of rows) row.ratio = row.tgA && row.tgB ? row.tgB / row.tgA : null;
    table.setRows(rows);
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
    { key: "device", label: "device" }, { key: "provenance", label: "kind", badge: true },
    { key: "memory_gb", label: "memory GB", numeric: true }, { key: "price_usd", label: "launch price $", numeric: true },
    { key: "tg", label: "tg t/s", numeric: true }, { key: "range", label: "range" },
    { key: "tg_per_1000usd", label: "tg t/s per $1000", numeric: true }, { key: "tg_per_watt", label: "tg t/s per W", numeric: true },
    { key: "basis", label: "basis" },
  ], "tg", true);
  function apply() {
    const shown = rows.filter((r) => r.model === select.value && (!show.value || r.provenance === show.value));
    table.setRows(shown);
    const measured = shown.filter((r) => r.provenance === "measured").length;
    document.getElementById("b-count").textContent = shown.length + " devices: " + measured + " measured, " + (shown.length - measured) + " predicted";
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
