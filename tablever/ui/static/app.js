// tablever ui: the page. Plain JavaScript and SVG, no libraries, nothing from the network.
"use strict";

const ROW_H = 64, GAP_H = 32, LANE_X = 22, R = 7;
const state = { tables: [], table: null, graph: null, selected: null, other: null, key: "" };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function api(path) {
  const r = await fetch(path, { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => ({ error: r.statusText }));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

function showError(err) {
  const box = document.getElementById("error");
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : "";
}

const enc = encodeURIComponent;
const tpath = (rest) => `/api/tables/${enc(state.table)}${rest}`;

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

function fmtTime(iso) { return iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", " UTC"); }

function cellText(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function rowsTable(columns, rows, testid) {
  const head = el("tr", {}, columns.map((c) => el("th", {}, c)));
  const body = rows.map((r) => el("tr", {}, columns.map((c, i) => {
    const v = cellText(Array.isArray(r) ? r[i] : r[c]);
    return v === null ? el("td", { class: "null" }, "null") : el("td", {}, v);
  })));
  return el("div", { class: "scroll" }, el("table", { class: "grid", "data-testid": testid }, el("thead", {}, head), el("tbody", {}, body)));
}

function metricsText(metrics) {
  return Object.entries(metrics || {}).map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(4) : cellText(v)}`).join(" ");
}

// --- the version graph ------------------------------------------------------------

function layout(graph) {
  // Rows top to bottom: newest first; a gap row where expired versions were.
  const items = [];
  const gapBefore = new Map(graph.gaps.map((g) => [g.before, g]));
  let y = 0;
  for (const v of graph.versions) {
    items.push({ kind: "version", v, y });
    y += ROW_H;
    const gap = gapBefore.get(v.version);
    if (gap) { items.push({ kind: "gap", gap, y }); y += GAP_H; }
  }
  return { items, height: y };
}

function renderGraph() {
  const box = document.getElementById("graph");
  box.replaceChildren();
  const graph = state.graph;
  const { items, height } = layout(graph);
  const centre = new Map();
  for (const it of items) if (it.kind === "version") centre.set(it.v.version, it.y + ROW_H / 2);
  const lanes = svg("svg", { class: "lanes", width: 60, height, "aria-hidden": "true" });
  lanes.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#7c3aed" }))));
  for (const it of items) {
    if (it.kind === "gap") {
      lanes.append(svg("line", { x1: LANE_X, y1: it.y - ROW_H / 2, x2: LANE_X, y2: it.y + GAP_H, stroke: "#9aa3ad", "stroke-dasharray": "3 4", "stroke-width": 2 }));
      continue;
    }
    const v = it.v, cy = it.y + ROW_H / 2;
    if (v.parent_version !== null && centre.has(v.parent_version)) {
      lanes.append(svg("line", { x1: LANE_X, y1: cy, x2: LANE_X, y2: centre.get(v.parent_version), stroke: "#9aa3ad", "stroke-width": 2 }));
    }
    if (v.restored_version !== null && centre.has(v.restored_version)) {
      const ty = centre.get(v.restored_version);
      const bend = 26 + Math.min(24, (ty - cy) / ROW_H * 4);
      lanes.append(svg("path", { d: `M ${LANE_X + R} ${cy} C ${LANE_X + bend} ${cy}, ${LANE_X + bend} ${ty}, ${LANE_X + R + 1} ${ty}`, fill: "none", stroke: "#7c3aed", "stroke-width": 1.5, "stroke-dasharray": "4 3", "marker-end": "url(#arrow)" },
        svg("title", {}, `restores version ${v.restored_version}`)));
    }
  }
  for (const it of items) {
    if (it.kind !== "version") continue;
    const v = it.v, cy = it.y + ROW_H / 2;
    const colour = v.operation === "restore" ? "#7c3aed" : v.deleted_rows && !v.added_rows ? "#b91c1c" : v.added_rows && !v.deleted_rows ? "#15803d" : "#2563eb";
    lanes.append(svg("circle", { cx: LANE_X, cy, r: R, fill: "#fff", stroke: colour, "stroke-width": 3, "data-version": v.version }));
  }
  box.append(lanes);
  for (const it of items) {
    if (it.kind === "gap") {
      const g = it.gap;
      box.append(el("div", { class: "gaprow", "data-testid": "gap" },
        `${g.versions} expired version${g.versions === 1 ? "" : "s"}` + (g.after === null ? ` (0–${g.before - 1})` : ` (${g.after + 1}–${g.before - 1})`)));
      continue;
    }
    const v = it.v;
    const badges = [
      ...v.tags.map((t) => el("span", { class: "tag", title: `tag ${t}` }, t)),
      ...v.runs.map((r) => el("span", { class: "run", title: `run ${r.run_id}${r.model ? " · " + r.model : ""}` }, `${r.run_id} ${metricsText(r.metrics)}`)),
    ];
    const row = el("div", {
      class: "vrow", role: "option", id: `v-${v.version}`, "data-version": v.version, "aria-selected": "false",
      onclick: (e) => (e.shiftKey ? pickOther(v.version) : select(v.version)),
    },
      el("div", { class: "l1" },
        el("span", { class: "v" }, `v${v.version}`), el("span", {}, v.operation),
        el("span", {}, el("span", { class: "add" }, `+${v.added_rows}`), "/", el("span", { class: "del" }, `−${v.deleted_rows}`)),
        el("span", { class: "muted" }, `${v.num_rows} rows`), el("span", { class: "muted id" }, v.short_id),
        v.restored_version !== null ? el("span", { class: "muted" }, `↩ v${v.restored_version}`) : null),
      el("div", { class: "msg", title: v.message }, v.message || el("span", { class: "muted" }, "(no message)")),
      el("div", { class: "badges" }, badges));
    box.append(row);
  }
  markRows();
}

function markRows() {
  for (const row of document.querySelectorAll(".vrow")) {
    const n = Number(row.dataset.version);
    row.classList.toggle("selected", n === state.selected);
    row.classList.toggle("other", n === state.other && n !== state.selected);
    row.setAttribute("aria-selected", String(n === state.selected));
  }
  const sel = document.getElementById(`v-${state.selected}`);
  if (sel) sel.scrollIntoView({ block: "nearest" });
}

// --- the chart of rows and bytes --------------------------------------------------

function renderChart() {
  const box = document.getElementById("chart");
  const vs = [...state.graph.versions].reverse();
  box.replaceChildren();
  if (vs.length < 1) return;
  const W = 400, H = 120, P = 8;
  const maxRows = Math.max(1, ...vs.map((v) => v.num_rows)), maxBytes = Math.max(1, ...vs.map((v) => v.total_bytes));
  const x = (i) => (vs.length === 1 ? W / 2 : P + (i * (W - 2 * P)) / (vs.length - 1));
  const y = (val, max) => H - P - (val / max) * (H - 2 * P);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "rows and bytes per version" });
  const line = (key, max, colour) => svg("polyline", { points: vs.map((v, i) => `${x(i)},${y(v[key], max)}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2, "vector-effect": "non-scaling-stroke" });
  chart.append(line("total_bytes", maxBytes, "#d97706"), line("num_rows", maxRows, "#2563eb"));
  vs.forEach((v, i) => {
    const dot = svg("circle", { cx: x(i), cy: y(v.num_rows, maxRows), r: v.version === state.selected ? 4 : 2.5, fill: v.version === state.selected ? "#111" : "#2563eb" },
      svg("title", {}, `v${v.version}: ${v.num_rows} rows, ${fmtBytes(v.total_bytes)}`));
    dot.style.cursor = "pointer";
    dot.addEventListener("click", () => select(v.version));
    chart.append(dot);
  });
  box.append(chart, el("div", { class: "legend" },
    el("span", { class: "rows" }, `■ rows (max ${maxRows})`), "  ",
    el("span", { class: "bytes" }, `■ bytes (max ${fmtBytes(maxBytes)})`), "  ",
    el("span", { class: "muted" }, `v${vs[0].version} → v${vs[vs.length - 1].version}`)));
}

// --- the detail panel -------------------------------------------------------------

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter((p) => p).map(([k, v, testid]) => [el("dt", {}, k), el("dd", { "data-testid": testid || null }, v)]));
}

function provenanceText(p) {
  const parts = [];
  if (p.git_commit) parts.push(`git ${String(p.git_commit).slice(0, 12)}${p.git_dirty ? " (dirty)" : ""}`);
  for (const [k, label] of [["host", "host"], ["user", "user"], ["python", "python"], ["tablever_version", "tablever"]]) if (p[k]) parts.push(`${label} ${p[k]}`);
  for (const [k, v] of Object.entries(p)) if (!["git_commit", "git_dirty", "host", "user", "python", "tablever_version", "inputs"].includes(k)) parts.push(`${k} ${cellText(v)}`);
  return parts.join(" · ") || "—";
}

function schemaTable(d) {
  const added = new Set(d.schema_changes.added || []);
  const retyped = new Map((d.schema_changes.retyped || []).map((r) => [r.column, r]));
  const rows = d.schema.map((f) => el("tr", { class: added.has(f.name) ? "added-col" : null },
    el("td", {}, f.name), el("td", {}, f.type), el("td", {}, f.nullable ? "yes" : "no"),
    el("td", {}, added.has(f.name) ? "added" : retyped.has(f.name) ? `was ${retyped.get(f.name).from}` : "")));
  const dropped = d.schema_changes.dropped || [];
  return [el("div", { class: "scroll" }, el("table", { class: "grid", "data-testid": "schema" },
    el("thead", {}, el("tr", {}, el("th", {}, "column"), el("th", {}, "type"), el("th", {}, "nullable"), el("th", {}, "change"))),
    el("tbody", {}, rows))),
  dropped.length ? el("p", { class: "del" }, `dropped: ${dropped.join(", ")}`) : null];
}

function inputsSection(inputs) {
  if (!inputs.length) return el("p", { class: "muted" }, "Derived from no recorded table version.");
  return el("ul", { "data-testid": "inputs" }, inputs.map((i) => el("li", { "data-input": `${i.table || i.location}@${i.version}` },
    i.table && state.tables.includes(i.table)
      ? el("a", { href: `#${enc(i.table)}/${i.version}`, onclick: (e) => { e.preventDefault(); loadTable(i.table, i.version); } }, `${i.table} v${i.version}`)
      : `${i.location} v${i.version}`,
    " ", el("span", { class: "id" }, i.short_id))));
}

function runsSection(runs) {
  if (!runs.length) return el("p", { class: "muted" }, "No runs linked to this version.");
  return el("div", { class: "scroll" }, el("table", { class: "grid", "data-testid": "runs" },
    el("thead", {}, el("tr", {}, ["run", "model", "metrics", "params", "artifacts", "linked (UTC)"].map((h) => el("th", {}, h)))),
    el("tbody", {}, runs.map((r) => el("tr", { "data-run": r.run_id },
      el("td", {}, r.mlflow_url ? el("a", { href: r.mlflow_url, target: "_blank", rel: "noopener noreferrer", title: "the run in MLflow" }, r.run_id) : r.run_id), el("td", {}, r.model || ""), el("td", { "data-testid": "metrics" }, metricsText(r.metrics)),
      el("td", {}, metricsText(r.params)), el("td", {}, r.artifact_uri || ""), el("td", {}, fmtTime(r.created_at)))))));
}

async function select(version) {
  if (version === null || version === undefined) return;
  state.selected = version;
  if (state.other === version) state.other = null;
  markRows();
  renderChart();
  history.replaceState(null, "", `#${enc(state.table)}/${version}`);
  const panel = document.getElementById("detail");
  let d;
  try {
    d = await api(tpath(`/versions/${version}?rows=10`));
  } catch (err) { showError(err); return; }
  if (state.selected !== version) return;
  showError(null);
  if (!state.key && d.schema.some((f) => f.name === "id")) state.key = "id";
  const others = state.graph.versions.filter((v) => v.version !== version);
  const otherSelect = el("select", { id: "other-select", "aria-label": "other side of the diff", onchange: (e) => pickOther(e.target.value === "" ? null : Number(e.target.value)) },
    el("option", { value: "" }, "—"), others.map((v) => el("option", { value: v.version, selected: v.version === state.other }, `v${v.version} ${v.tags.length ? "(" + v.tags.join(", ") + ") " : ""}${v.message.slice(0, 40)}`)));
  const keyInput = el("input", { id: "diff-key", value: state.key, size: 12, placeholder: "key columns", "aria-label": "key columns", onchange: (e) => { state.key = e.target.value.trim(); loadDiffs(d); } });
  panel.replaceChildren(el("div", { "data-testid": "detail", "data-version": d.version },
    el("h3", {}, `${d.table} · version ${d.version} `, d.tags.map((t) => el("span", { class: "tag" }, t))),
    kv([
      ["short id", el("span", { class: "id" }, d.short_id), "short-id"],
      ["id", el("span", { class: "id" }, d.id), "id"],
      ["fingerprint", el("span", { class: "id" }, d.fingerprint), "fingerprint"],
      ["content hash", el("span", { class: "id" }, d.content_hash), "content-hash"],
      ["time", fmtTime(d.timestamp), "time"],
      ["operation", d.operation, "operation"],
      ["message", d.message || "", "message"],
      ["author", d.author || ""],
      ["rows", el("span", {}, `${d.num_rows} total · `, el("span", { class: "add" }, `+${d.added_rows} added`), " · ", el("span", { class: "del" }, `−${d.deleted_rows} removed`)), "rows"],
      ["files", `${d.num_files} (${fmtBytes(d.total_bytes)})`],
      ["parent", d.parent_version !== null ? `v${d.parent_version}` : d.parent_id ? `${d.parent_id.slice(0, 12)} (expired)` : "none"],
      ["provenance", provenanceText(d.provenance), "provenance"],
      Object.keys(d.properties).length ? ["properties", metricsText(d.properties)] : null,
    ]),
    el("h3", {}, "Schema"), schemaTable(d),
    el("h3", {}, "Derived from"), inputsSection(d.inputs || []),
    el("h3", {}, "Runs"), runsSection(d.runs),
    el("h3", {}, `First rows (${d.head.length} of ${d.num_rows})`), rowsTable(d.head_columns, d.head, "head"),
    el("h3", {}, "Diff"),
    el("div", { class: "diff-bar" }, el("label", {}, "key ", keyInput), el("label", {}, "other side ", otherSelect)),
    el("div", { id: "diff-parent", "data-testid": "diff-parent" }),
    el("div", { id: "diff-other", "data-testid": "diff-other" })));
  loadDiffs(d);
}

function diffView(body, title, testid) {
  const s = body.summary;
  const counts = el("div", { class: "counts", "data-testid": testid },
    Object.entries(s).map(([k, v]) => el("span", { "data-count": k }, el("b", {}, String(v)), ` ${k}`)));
  const parts = [el("h3", {}, title), counts];
  const sc = body.schema_changes || {};
  for (const [k, v] of Object.entries(sc)) if (v && (!Array.isArray(v) || v.length)) parts.push(el("p", {}, `${k.replace("_", " ")}: ${cellText(v)}`));
  if (body.updated && body.updated.length) {
    const keys = body.on;
    parts.push(el("div", { class: "scroll" }, el("table", { class: "grid", "data-testid": `${testid}-updated` },
      el("thead", {}, el("tr", {}, keys.map((k) => el("th", {}, k)), el("th", {}, "column"), el("th", {}, "before"), el("th", {}, "after"))),
      el("tbody", {}, body.updated.flatMap((u) => u.changes.map((c) => el("tr", {},
        keys.map((k) => el("td", {}, cellText(u.key[k]))), el("td", {}, c.column), el("td", { class: "del" }, cellText(c.before) ?? "null"), el("td", { class: "add" }, cellText(c.after) ?? "null"))))))));
  }
  for (const kind of body.on ? ["inserted", "deleted"] : ["added", "removed"]) {
    const rows = body[kind];
    if (rows && rows.length) {
      parts.push(el("p", { class: "muted" }, `${kind}: first ${rows.length}`), rowsTable(Object.keys(rows[0]), rows, `${testid}-${kind}`));
    }
  }
  return parts;
}

async function loadDiff(targetId, a, b, title, testid) {
  const box = document.getElementById(targetId);
  if (!box) return;
  if (a === null) { box.replaceChildren(); return; }
  box.replaceChildren(el("p", { class: "muted" }, "computing the diff…"));
  const q = `?a=${a}&b=${b}&sample=5${state.key ? "&on=" + enc(state.key) : ""}`;
  try {
    const body = await api(tpath(`/diff${q}`));
    box.replaceChildren(...diffView(body, title, testid));
  } catch (err) {
    box.replaceChildren(el("p", { class: "del" }, String(err.message || err)));
  }
}

function loadDiffs(d) {
  if (d.parent_version !== null) loadDiff("diff-parent", d.parent_version, d.version, `against its parent: v${d.parent_version} → v${d.version}`, "diff-parent-counts");
  else document.getElementById("diff-parent").replaceChildren(el("p", { class: "muted" }, d.parent_id ? "Its parent expired." : "The first version: no parent."));
  if (state.other !== null) {
    const [a, b] = state.other < d.version ? [state.other, d.version] : [d.version, state.other];
    loadDiff("diff-other", a, b, `v${a} → v${b}`, "diff-other-counts");
  } else document.getElementById("diff-other").replaceChildren();
}

function pickOther(version) {
  state.other = version === state.selected ? null : version;
  markRows();
  const sel = document.getElementById("other-select");
  if (sel) sel.value = state.other === null ? "" : String(state.other);
  const detail = document.querySelector("[data-testid=detail]");
  if (detail && state.other !== null) {
    const v = state.selected;
    const [a, b] = state.other < v ? [state.other, v] : [v, state.other];
    loadDiff("diff-other", a, b, `v${a} → v${b}`, "diff-other-counts");
  } else if (detail) document.getElementById("diff-other").replaceChildren();
}

// --- keyboard, tables, SQL --------------------------------------------------------

function move(step) {
  const vs = state.graph ? state.graph.versions : [];
  if (!vs.length) return;
  const i = vs.findIndex((v) => v.version === state.selected);
  const j = Math.max(0, Math.min(vs.length - 1, (i < 0 ? 0 : i) + step));
  select(vs[j].version);
}

document.addEventListener("keydown", (e) => {
  const t = e.target;
  if (t && (t.tagName === "TEXTAREA" || t.tagName === "INPUT" || t.tagName === "SELECT")) return;
  if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); move(1); }
  else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); move(-1); }
  else if (e.key === "Home") { e.preventDefault(); move(-1e9); }
  else if (e.key === "End") { e.preventDefault(); move(1e9); }
});

async function loadTable(name, version) {
  state.table = name; state.selected = null; state.other = null; state.key = "";
  document.getElementById("table-select").value = name;
  try {
    state.graph = await api(tpath("/graph"));
  } catch (err) { showError(err); return; }
  showError(null);
  document.getElementById("location").textContent = state.graph.location;
  renderGraph();
  const q = document.getElementById("sql-query");
  if (!q.dataset.touched) {
    const vs = state.graph.versions, older = vs.length > 1 ? vs[1].version : vs[0].version;
    q.value = `SELECT count(*) AS rows_now, (SELECT count(*) FROM ${name} VERSION AS OF ${older}) AS rows_at_${older}\nFROM ${name}`;
  }
  const known = state.graph.versions.some((v) => v.version === version);
  await select(known ? version : state.graph.latest);
}

async function runSql() {
  const query = document.getElementById("sql-query").value;
  const status = document.getElementById("sql-status"), out = document.getElementById("sql-result");
  status.textContent = "running…";
  try {
    const body = await api(`/api/sql?q=${enc(query)}`);
    status.textContent = `${body.rows.length} row${body.rows.length === 1 ? "" : "s"}${body.truncated ? ` (only the first ${body.row_limit})` : ""} in ${body.elapsed_ms} ms`;
    out.replaceChildren(rowsTable(body.columns.map((c) => c.name), body.rows, "sql-result"));
  } catch (err) {
    status.textContent = "";
    out.replaceChildren(el("p", { class: "del", "data-testid": "sql-error" }, String(err.message || err)));
  }
}

async function main() {
  document.getElementById("sql-run").addEventListener("click", runSql);
  const q = document.getElementById("sql-query");
  q.addEventListener("input", () => { q.dataset.touched = "1"; });
  q.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); runSql(); } });
  const select_ = document.getElementById("table-select");
  select_.addEventListener("change", () => loadTable(select_.value, null));
  let info;
  try { info = await api("/api/tables"); } catch (err) { showError(err); return; }
  state.tables = info.tables;
  select_.replaceChildren(...info.tables.map((t) => el("option", { value: t }, t)));
  select_.disabled = info.tables.length < 2;
  const [hashTable, hashVersion] = decodeURIComponent(location.hash.slice(1)).split("/");
  const start = info.tables.includes(hashTable) ? hashTable : info.tables[0];
  await loadTable(start, hashVersion !== undefined && hashVersion !== "" ? Number(hashVersion) : null);
  document.getElementById("graph").focus();
}

main();
