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

// Two significant digits below 10 (0.12, 1.5), else one decimal, else none: a small figure never reads 0.0
function formatFine(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return Math.abs(value) >= 10 ? value.toFixed(1) : value.toPrecision(2);
}

// A view's state (model, tests, filters, sort) lives in the URL: the query string or the hash (the hash wins), so every
// view can be linked and a reload restores it. Changes are written to the hash, without a new history entry.
function readState() {
  const state = new URLSearchParams(location.search);
  for (const [key, value] of new URLSearchParams(location.hash.slice(1))) state.set(key, value);
  return state;
}
function writeState(values) {
  const state = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== "" && value !== null && value !== undefined && value !== false) state.set(key, String(value));
  const hash = state.toString() ? "#" + state.toString() : "";
  try { history.replaceState(null, "", location.pathname + location.search + hash); } catch (error) { location.hash = hash; }
}

// columns: [{key, label, numeric, badge, sort (the key it sorts by, when not key), value(row) -> display, link(row) -> href,
// title(row) -> hover text}]; options: {onSort(key, descending), details(row) -> element shown under a row on click,
// rowKey(row) -> the key that keeps a row open across redraws}
function sortableTable(table, columns, initialKey, initialDescending, options = {}) {
  let sortKey = initialKey;
  let descending = initialDescending;
  let rows = [];
  const open = new Set();

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
      const th = text("th", column.label, (column.numeric ? "num " : "") + (column.className || ""));
      const key = column.sort || column.key;
      th.dataset.key = column.key;
      if (column.headTitle) th.title = column.headTitle;
      th.setAttribute("aria-sort", key === sortKey ? (descending ? "descending" : "ascending") : "none");
      th.addEventListener("click", () => {
        descending = key === sortKey ? !descending : Boolean(column.numeric);
        sortKey = key;
        if (options.onSort) options.onSort(sortKey, descending);
        render();
      });
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of [...rows].sort(compare).slice(0, ROW_LIMIT)) {
      const tr = body.insertRow();
      for (const column of columns) {
        const shown = column.value ? column.value(row) : column.numeric ? formatNumber(row[column.key]) : row[column.key];
        const td = text("td", "", (column.numeric ? "num " : "") + (column.className || ""));
        if (column.link && column.link(row)) {
          const a = text("a", shown);
          a.href = column.link(row);
          td.appendChild(a);
        } else if (column.badge && shown) {
          td.appendChild(text("span", shown, "badge badge-" + String(shown).replace(/[^a-z]/g, "")));
          if (column.after && column.after(row)) td.appendChild(text("span", " " + column.after(row)));
        } else {
          td.textContent = shown === null || shown === undefined ? "" : String(shown);
        }
        const title = column.title ? column.title(row) : null;
        if (title) td.title = title;
        tr.appendChild(td);
      }
      if (options.details) {
        const key = options.rowKey(row);
        tr.className = "expandable" + (open.has(key) ? " open" : "");
        tr.addEventListener("click", (event) => {
          if (event.target.closest("a")) return;
          if (open.has(key)) open.delete(key); else open.add(key);
          render();
        });
        if (open.has(key)) {
          const detail = body.insertRow();
          detail.className = "detail";
          const cell = detail.insertCell();
          cell.colSpan = columns.length;
          cell.appendChild(options.details(row));
        }
      }
    }
  }

  return { setRows(newRows) { rows = newRows; render(); }, sort: () => [sortKey, descending] };
}

function fillSelect(select, values, keepFirst) {
  const first = keepFirst ? select.options[0] : null;
  select.replaceChildren(...(first ? [first] : []));
  for (const value of values) {
    const [id, label] = Array.isArray(value) ? value : [value, value];
    select.appendChild(Object.assign(text("option", label), { value: id }));
  }
}

const unique = (values) => [...new Set(values.filter((v) => v !== null && v !== undefined && v !== ""))].sort();
const machineLink = (prefix) => (row) => prefix + "machines/" + encodeURIComponent(row.machine) + ".html";
const MEMORY_BUCKETS = [8, 12, 16, 24, 32, 64, 128];
function memoryBucket(gb) {
  if (gb === null || gb === undefined) return "system RAM";
  const bucket = MEMORY_BUCKETS.find((b) => gb <= b);
  return bucket ? "up to " + bucket + " GB" : "more than 128 GB";
}
function median(values) {
  const sorted = values.filter((v) => v !== null && v !== undefined).sort((x, y) => x - y);
  if (!sorted.length) return null;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
const figureOf = (row, test) => (row.tests || []).find((t) => t[0] === test) || null;

// The leaderboard: one model at a time (the URL's, else DATA.defaultModel), one row per device (the median over its
// machines, which a click on the row lists), one named test per speed column (pp512 and tg128 where the model has them;
// the test selectors offer every other test, each in its own column, never mixed). Models outside the catalogue's tiers
// are offered only when "show models outside the catalogue" is ticked.
function leaderboardPage() {
  const all = DATA.rows || [];
  const kinds = new Map(DATA.tests || []);
  const state = readState();
  const get = (id) => document.getElementById("f-" + id);
  const tierOf = new Map(all.map((r) => [r.model, r.tier]));
  get("outside").checked = state.get("all") === "1" || tierOf.get(state.get("model")) === "unlisted";
  const counts = new Map();
  for (const row of all) {
    if (!counts.has(row.model)) counts.set(row.model, { label: row.label, tier: row.tier, devices: new Set() });
    if ((row.tests || []).length) counts.get(row.model).devices.add(row.device_key);
  }
  function fillModels() {
    const models = [...counts.entries()].filter(([id, m]) => get("outside").checked || m.tier !== "unlisted")
      .sort((x, y) => y[1].devices.size - x[1].devices.size || String(x[1].label).localeCompare(String(y[1].label)));
    fillSelect(get("model"), models.map(([id, m]) => [id, m.label + " (" + m.tier + ", " + m.devices.size + " devices)"]), false);
  }
  fillModels();
  const wantedModel = state.get("model");
  get("model").value = counts.has(wantedModel) ? wantedModel : DATA.defaultModel || "";
  if (!get("model").value && get("model").options.length) get("model").selectedIndex = 0;
  for (const [id, key] of [["vendor", "vendor"], ["provenance", "provenance"]]) fillSelect(get(id), unique(all.map((r) => r[key])), true);
  fillSelect(get("memory"), unique(all.map((r) => memoryBucket(r.memory_gb))), true);
  for (const id of ["vendor", "provenance", "memory"]) get(id).value = state.get(id) || "";
  get("search").value = state.get("q") || "";

  function fillTests(model, wanted) {
    const ran = new Map();
    for (const row of all) if (row.model === model) for (const [test] of row.tests || []) ran.set(test, (ran.get(test) || 0) + 1);
    const pick = (kind, canonical, select, want) => {
      const tests = [...kinds.keys()].filter((t) => ran.has(t) && (kinds.get(t) === kind || kinds.get(t) === "other"));
      fillSelect(select, tests.map((t) => [t, t + " (" + ran.get(t) + " machines)"]), true);
      const best = tests.includes(canonical) ? canonical : [...tests].sort((x, y) => ran.get(y) - ran.get(x))[0] || "";
      select.value = want === "none" ? "" : want && tests.includes(want) ? want : best;
    };
    pick("pp", "pp512", get("pp"), wanted ? wanted.get("pp") : null);
    pick("tg", "tg128", get("tg"), wanted ? wanted.get("tg") : null);
  }
  fillTests(get("model").value, state);

  const speed = (prefix) => ({
    key: prefix, numeric: true, className: "speed", label: "",
    value: (r) => formatNumber(r[prefix]) + (r[prefix + "Noisy"] ? " !" : ""),
    title: (r) => (r[prefix] === null ? "" : r[prefix + "Test"] + ": median over " + r[prefix + "Count"] + " machine(s)" + (r[prefix + "Noisy"] ? "; from busy or unstable runs only" : "")),
  });
  const ppColumn = speed("pp"), tgColumn = speed("tg");
  const columns = [
    { key: "device", label: "device", value: (r) => (r.machines.length > 1 ? "▸ " : "▹ ") + r.device + " (" + r.machines.length + ")", className: "device", title: () => "click for its machines" },
    { key: "backend", label: "backend", className: "clip", title: (r) => r.backend },
    { key: "memory_gb", label: "memory GB", numeric: true },
    { key: "price_usd", label: "price $", numeric: true },
    ppColumn, tgColumn,
    { key: "provenance", label: "source", badge: true, className: "clip source", after: (r) => r.source, title: (r) => r.sources },
  ];
  const machineColumns = (test) => [
    ["machine", (m) => m.machine], ["backend", (m) => m.backend + (m.runtime ? " (" + m.runtime + ")" : "")],
    [get("pp").value + " t/s", (m) => { const f = figureOf(m, get("pp").value); return f ? formatNumber(f[1]) + (f[2] ? " !" : "") : ""; }],
    [get("tg").value + " t/s", (m) => { const f = figureOf(m, get("tg").value); return f ? formatNumber(f[1]) + (f[2] ? " !" : "") : ""; }],
    ["other tests", (m) => (m.tests || []).filter((t) => t[0] !== get("pp").value && t[0] !== get("tg").value).map((t) => t[0] + " " + formatNumber(t[1])).join("; ")],
    ["source", (m) => m.provenance + ": " + m.source], ["files", (m) => m.files],
    ["notes", (m) => [m.noise, m.serves, Object.entries(m.scores || {}).map(([k, v]) => k + " " + formatNumber(v) + "%").join("; ")].filter(Boolean).join("; ")],
  ];
  function details(row) {
    const inner = document.createElement("table");
    inner.className = "machines";
    const head = inner.createTHead().insertRow();
    const cols = machineColumns();
    for (const [label] of cols) head.appendChild(text("th", label));
    for (const machine of row.machines) {
      const tr = inner.insertRow();
      cols.forEach(([label, value], index) => {
        const td = tr.insertCell();
        if (index === 0) {
          const a = text("a", machine.machine);
          a.href = machineLink("")(machine);
          td.appendChild(a);
        } else td.textContent = String(value(machine) ?? "");
      });
    }
    return inner;
  }
  const initialSort = state.get("sort") || "tg";
  const table = sortableTable(document.getElementById("leaderboard"), columns, initialSort, state.has("sort") ? state.get("desc") === "1" : true, {
    details, rowKey: (r) => r.key, onSort: () => apply(),
  });

  function deviceRows(model, pp, tg) {
    const needle = get("search").value.trim().toLowerCase();
    const groups = new Map();
    for (const row of all) {
      if (row.model !== model) continue;
      if (get("vendor").value && row.vendor !== get("vendor").value) continue;
      if (get("provenance").value && row.provenance !== get("provenance").value) continue;
      if (get("memory").value && memoryBucket(row.memory_gb) !== get("memory").value) continue;
      if (needle && ![row.device, row.machine, row.backend, row.runtime, row.source].join(" ").toLowerCase().includes(needle)) continue;
      if (!groups.has(row.device_key)) groups.set(row.device_key, []);
      groups.get(row.device_key).push(row);
    }
    const shown = [], other = [];
    for (const [key, machines] of groups) {
      const first = machines[0];
      const entry = { key, device: first.device || first.machine, machines, memory_gb: first.memory_gb, price_usd: first.price_usd };
      for (const [prefix, test] of [["pp", pp], ["tg", tg]]) {
        const found = test ? machines.map((m) => figureOf(m, test)).filter(Boolean) : [];
        entry[prefix] = median(found.map((f) => f[1]));
        entry[prefix + "Test"] = test;
        entry[prefix + "Count"] = found.length;
        entry[prefix + "Noisy"] = found.length > 0 && found.every((f) => f[2]);
      }
      entry.backend = unique(machines.map((m) => m.runtime || m.backend)).join(", ");
      const provenances = unique(machines.map((m) => m.provenance));
      entry.provenance = provenances.join(" + ");
      const sources = unique(machines.map((m) => m.source));
      entry.source = unique(sources.map((source) => source.split(", ")[0])).join("; ");
      entry.sources = sources.join("\n");
      (entry.pp === null && entry.tg === null ? other : shown).push(entry);
    }
    return [shown, other];
  }

  function apply() {
    const model = get("model").value, pp = get("pp").value, tg = get("tg").value;
    ppColumn.label = pp ? pp + " t/s" : "(no pp test)";
    tgColumn.label = tg ? tg + " t/s" : "(no tg test)";
    ppColumn.headTitle = pp ? "prompt processing: " + pp + ", t/s, median over the device's machines" : "";
    tgColumn.headTitle = tg ? "generation: " + tg + ", t/s, median over the device's machines" : "";
    const [shown, other] = deviceRows(model, pp, tg);
    table.setRows(shown);
    const [sortKey, descending] = table.sort();
    writeState({
      model: model === DATA.defaultModel ? "" : model, pp: pp === "pp512" ? "" : pp || "none", tg: tg === "tg128" ? "" : tg || "none",
      all: get("outside").checked ? "1" : "", vendor: get("vendor").value, provenance: get("provenance").value,
      memory: get("memory").value, q: get("search").value.trim(), sort: sortKey === "tg" && descending ? "" : sortKey, desc: sortKey === "tg" && descending ? "" : descending ? "1" : "0",
    });
    const label = (counts.get(model) || { label: model }).label;
    const otherTests = unique(other.flatMap((d) => d.machines.flatMap((m) => (m.tests || []).map((t) => t[0]))));
    document.getElementById("count").textContent = shown.length + " device(s) ran " + label + " in " + [pp, tg].filter(Boolean).join(" or ") +
      " (the median over each device's machines; click a device for its machines)" +
      (other.length ? "; " + other.length + " more device(s) ran it only in other tests (" + otherTests.join(", ") + "): choose them above" : "") +
      (DATA.rejected ? "; " + DATA.rejected + " result files failed validation and are left out" : "");
  }
  get("model").addEventListener("change", () => { fillTests(get("model").value, null); apply(); });
  get("outside").addEventListener("change", () => { const model = get("model").value; fillModels(); get("model").value = model; if (!get("model").value) { get("model").value = DATA.defaultModel; fillTests(get("model").value, null); } apply(); });
  for (const id of ["pp", "tg", "vendor", "provenance", "memory"]) get(id).addEventListener("change", apply);
  get("search").addEventListener("input", apply);
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
  const state = readState(), known = new Set(sides.map((s) => s.id));
  if (known.has(state.get("a"))) a.value = state.get("a");
  if (known.has(state.get("b"))) b.value = state.get("b");
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
    writeState({ a: a.value, b: b.value });
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

// The buying view: one model (the URL's, else the leaderboard's default), every device that holds it, with budget and
// memory filters; each figure badged measured, converted or predicted, its basis and range on hover.
function buyingPage() {
  const get = (id) => document.getElementById("b-" + id);
  const rows = DATA.buying || [];
  const state = readState();
  const models = unique(rows.map((r) => r.model));
  fillSelect(get("model"), models, false);
  get("model").value = models.includes(state.get("model")) ? state.get("model") : models.includes(DATA.defaultModel) ? DATA.defaultModel : models[0] || "";
  for (const id of ["provenance", "budget", "memory"]) get(id).value = state.get(id) || "";
  const table = sortableTable(document.getElementById("buying"), [
    { key: "device", label: "device", className: "clip" }, { key: "backend", label: "backend" },
    { key: "tg", label: "tg128 t/s", numeric: true, title: (r) => r.range ? "range " + r.range : "" },
    { key: "provenance", label: "tg128 is", badge: true, title: (r) => "basis: " + (r.basis || "") + (r.range ? "; range " + r.range : "") },
    { key: "pp", label: "pp512 t/s", numeric: true, title: (r) => "pp512 is " + (r.pp_kind || "unknown") },
    { key: "memory_gb", label: "memory GB", numeric: true }, { key: "margin_gib", label: "margin GiB", numeric: true },
    { key: "price_usd", label: "price $", numeric: true, headTitle: "launch price" },
    { key: "tg_per_1000usd", label: "tg128 t/s per $1000", numeric: true, value: (r) => formatFine(r.tg_per_1000usd) },
    { key: "tg_per_watt", label: "tg128 t/s per W", numeric: true, value: (r) => formatFine(r.tg_per_watt) },
  ], state.get("sort") || "tg", state.has("sort") ? state.get("desc") === "1" : true, { onSort: () => apply() });
  function apply() {
    const budget = Number(get("budget").value) || null, memory = Number(get("memory").value) || null;
    const shown = rows.filter((r) => r.model === get("model").value && (!get("provenance").value || r.provenance === get("provenance").value) &&
      (!budget || (r.price_usd !== null && r.price_usd <= budget)) && (!memory || (r.memory_gb !== null && r.memory_gb >= memory)));
    table.setRows(shown);
    const [sortKey, descending] = table.sort();
    writeState({ model: get("model").value === DATA.defaultModel ? "" : get("model").value, provenance: get("provenance").value,
      budget: get("budget").value, memory: get("memory").value, sort: sortKey === "tg" && descending ? "" : sortKey, desc: sortKey === "tg" && descending ? "" : descending ? "1" : "0" });
    const count = (kind) => shown.filter((r) => r.provenance === kind).length;
    get("count").textContent = shown.length + " devices: " + count("measured") + " measured, " +
      count("converted") + " converted, " + count("predicted") + " predicted (llama-bench tg128 at depth 0; hover a badge for its basis)";
  }
  get("filters").addEventListener("change", apply);
  const pages = document.getElementById("device-pages");
  for (const id of DATA.devicePages || []) {
    const link = text("a", id);
    link.href = "devices/" + encodeURIComponent(id) + ".html";
    pages.append(link, document.createTextNode(" "));
  }
  apply();
}

// a linked view opened in the same tab changes the hash only: draw that view (the page's own changes use replaceState,
// which fires no hashchange)
window.addEventListener("hashchange", () => location.reload());
const PAGES = { index: leaderboardPage, compare: comparePage, buying: buyingPage };
(PAGES[document.body.dataset.page] || (() => {}))();
