// otel-scoring dashboard: trends, runs and cohort comparisons over the dashboard's JSON API.
// Plain DOM and SVG, no dependencies; every value from the store is set as text, never as HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const main = document.getElementById("view");

// Each page draws into a container of its own: a page still loading when the next one starts
// (a quick second click) fills a container no longer on screen, never the new page.
function fresh() {
  const container = h("div");
  main.replaceChildren(container);
  return container;
}
const BUCKETS = [["1m", "1 minute"], ["5m", "5 minutes"], ["15m", "15 minutes"], ["1h", "1 hour"], ["6h", "6 hours"], ["1d", "1 day"], ["7d", "1 week"]];
const LABEL_COLORS = ["#3a5bd9", "#e07b24", "#2e9d6b", "#c2417a", "#8a63d2", "#b8a02a", "#3aa6c4", "#7a7f8a"];
let overview = null;

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function s(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e6) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 0.001 || abs >= 1e6)) return value.toExponential(2);
  return value.toFixed(digits).replace(/\.?0+$/, "") || "0";
}
const pct = (value) => `${(100 * value).toFixed(value >= 0.1 ? 0 : 1)}%`;
const time = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "–");
const shortTime = (iso) => (iso ? iso.slice(5, 16).replace("T", " ") : "");

async function api(endpoint, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) if (value !== "" && value !== null && value !== undefined) query.set(key, value);
  const response = await fetch(`api/${endpoint}?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function route() {
  const hash = location.hash.replace(/^#\/?/, "") || "trends";
  const [path, query] = hash.split("?");
  return { parts: path.split("/"), params: Object.fromEntries(new URLSearchParams(query || "")) };
}

function go(path, params) {
  const query = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v !== "" && v !== undefined && v !== null));
  location.hash = `#/${path}${[...query].length ? "?" + query : ""}`;
}

function select(name, options, current, attrs) {
  return h("select", { name, ...attrs }, options.map(([value, label]) => h("option", { value, selected: value === current }, label)));
}

function empty(title, hint) {
  return h("div", { class: "empty", "data-testid": "empty" }, h("h2", {}, title), h("p", { class: "muted" }, hint));
}

function failure(error) {
  return h("div", { class: "error", role: "alert" }, error.message || String(error));
}

function noScores() {
  return empty("No scores in this store yet", "Send OTLP traces with scores to `otel-scoring serve`, or fill a store with `otel-scoring demo --db PATH` and open it with `otel-scoring ui --db PATH`.");
}

// --- Trends -----------------------------------------------------------------------------------

async function showTrends(params) {
  const view = fresh();
  const filters = h("form", { class: "filters", onsubmit: (event) => { event.preventDefault(); go("trends", Object.fromEntries(new FormData(event.target))); } },
    h("label", {}, "Score", select("name", [["", "All scores"], ...overview.names.map((n) => [n, n])], params.name || "")),
    h("label", {}, "Service", select("service", [["", "All services"], ...overview.services.map((n) => [n, n])], params.service || "")),
    h("label", {}, "From (UTC)", h("input", { type: "datetime-local", name: "since", value: params.since || "" })),
    h("label", {}, "Until (UTC)", h("input", { type: "datetime-local", name: "until", value: params.until || "" })),
    h("label", {}, "Bucket", select("bucket", BUCKETS, params.bucket || "1h")),
    h("button", { class: "primary", type: "submit" }, "Apply"));
  view.replaceChildren(h("h1", {}, "Score trends"), filters);
  if (!overview.scores) return view.append(noScores());
  let answer;
  try {
    answer = await api("trends", { bucket: params.bucket || "1h", name: params.name, service: params.service, since: params.since, until: params.until });
  } catch (error) { return view.append(failure(error)); }
  if (!answer.series.length) return view.append(empty("No scores match these filters", "Widen the time range or pick another service."));
  view.append(h("div", { class: "grid" }, answer.series.map(trendCard)));
}

function trendCard(series) {
  const numeric = series.buckets.filter((b) => b.mean !== null);
  const last = numeric[numeric.length - 1];
  const card = h("section", { class: "card", "data-testid": "trend", "data-name": series.name },
    h("div", { class: "card-head" }, h("h2", {}, series.name), h("span", { class: "badge" }, series.data_type.toLowerCase()),
      h("span", { class: "muted" }, `${series.count} score${series.count === 1 ? "" : "s"} · ${series.buckets.length} bucket${series.buckets.length === 1 ? "" : "s"}`)));
  if (series.labels.length) {
    card.append(sharesChart(series.labels));
  } else if (last) {
    card.append(h("div", { class: "figures" },
      figure("mean", fmt(last.mean), "latest bucket"), figure("p50", fmt(last.p50)), figure("p90", fmt(last.p90)), figure("count", last.count)));
    card.append(lineChart(series.buckets));
    card.append(h("div", { class: "legend" }, legendItem("var(--accent)", "mean"), legendItem("var(--accent)", "p50 (dashed)"), legendItem("var(--cand)", "p90 (dotted)"), legendItem("var(--line)", "count")));
  } else {
    card.append(h("p", { class: "muted" }, "No numeric values: these scores carry labels only."));
  }
  return card;
}

function figure(label, value, title) {
  return h("div", { class: "figure", title: title || null, "data-figure": label }, h("b", {}, value), h("span", {}, label));
}

function legendItem(color, label) {
  const swatch = h("span", { class: "swatch" });
  swatch.style.background = color;
  return h("span", {}, swatch, label);
}

function lineChart(buckets) {
  const W = 560, H = 200, L = 44, R = 12, T = 10, B = 34;
  const values = buckets.flatMap((b) => [b.mean, b.p50, b.p90]).filter((v) => v !== null);
  let lo = Math.min(...values), hi = Math.max(...values);
  if (lo === hi) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.08; lo -= pad; hi += pad;
  const maxCount = Math.max(...buckets.map((b) => b.count));
  const x = (i) => L + (buckets.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (buckets.length - 1));
  const y = (v) => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "mean, p50 and p90 per bucket" });
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    svg.append(s("line", { class: "grid-line", x1: L, x2: W - R, y1: y(v), y2: y(v) }), s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, fmt(v, 2)));
  }
  const barWidth = Math.max(2, Math.min(24, ((W - L - R) / buckets.length) * 0.6));
  buckets.forEach((b, i) => {
    const height = ((H - T - B) * 0.3 * b.count) / maxCount;
    svg.append(s("rect", { class: "count", x: x(i) - barWidth / 2, y: H - B - height, width: barWidth, height }, s("title", {}, `${time(b.start)}: ${b.count} scores`)));
  });
  for (const key of ["p90", "p50", "mean"]) {
    const points = buckets.map((b, i) => (b[key] === null ? null : `${x(i)},${y(b[key])}`)).filter(Boolean);
    if (points.length > 1) svg.append(s("polyline", { class: key, points: points.join(" ") }));
    else if (key !== "mean") buckets.forEach((b, i) => { if (b[key] !== null) svg.append(s("line", { class: key, x1: x(i) - 14, x2: x(i) + 14, y1: y(b[key]), y2: y(b[key]) })); });
  }
  buckets.forEach((b, i) => {
    if (b.mean !== null) svg.append(s("circle", { class: "dot", cx: x(i), cy: y(b.mean), r: buckets.length > 60 ? 1.5 : 3.5 },
      s("title", {}, `${time(b.start)} · mean ${fmt(b.mean)} · p50 ${fmt(b.p50)} · p90 ${fmt(b.p90)} · ${b.count} scores`)));
  });
  const ticks = Math.min(buckets.length, 5);
  for (let k = 0; k < ticks; k++) {
    const i = ticks === 1 ? 0 : Math.round((k * (buckets.length - 1)) / (ticks - 1));
    svg.append(s("text", { x: x(i), y: H - B + 16, "text-anchor": "middle" }, shortTime(buckets[i].start)));
  }
  return svg;
}

function sharesChart(rows) {
  const labels = [...new Set(rows.flatMap((r) => Object.keys(r.shares)))].sort();
  const fixed = { true: "#2e9d6b", false: "#c62828" };  // a boolean's pass and fail read at a glance
  const color = (label) => fixed[label] || LABEL_COLORS[labels.indexOf(label) % LABEL_COLORS.length];
  const total = rows.reduce((sum, r) => sum + r.count, 0);
  const overall = Object.fromEntries(labels.map((label) => [label, rows.reduce((sum, r) => sum + (r.shares[label] || 0) * r.count, 0) / total]));
  const W = 560, H = 170, L = 44, R = 12, T = 8, B = 30;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "label shares per bucket" });
  const step = (W - L - R) / rows.length;
  const barWidth = Math.max(2, Math.min(60, step * 0.7));
  for (const share of [0, 0.5, 1]) {
    const yy = T + (H - T - B) * (1 - share);
    svg.append(s("line", { class: "grid-line", x1: L, x2: W - R, y1: yy, y2: yy }), s("text", { x: L - 6, y: yy + 4, "text-anchor": "end" }, pct(share)));
  }
  rows.forEach((r, i) => {
    let top = H - B;
    for (const label of labels) {
      const height = (H - T - B) * (r.shares[label] || 0);
      top -= height;
      svg.append(s("rect", { x: L + step * i + (step - barWidth) / 2, y: top, width: barWidth, height, fill: color(label) }, s("title", {}, `${time(r.start)} · ${label}: ${pct(r.shares[label] || 0)} of ${r.count}`)));
    }
  });
  const ticks = Math.min(rows.length, 5);
  for (let k = 0; k < ticks; k++) {
    const i = ticks === 1 ? 0 : Math.round((k * (rows.length - 1)) / (ticks - 1));
    svg.append(s("text", { x: L + step * i + step / 2, y: H - B + 16, "text-anchor": "middle" }, shortTime(rows[i].start)));
  }
  return h("div", {}, h("div", { class: "figures" }, labels.map((label) => figure(label, pct(overall[label]), "share over the time range"))), svg,
    h("div", { class: "legend" }, labels.map((label) => legendItem(color(label), label))));
}

// --- Runs -------------------------------------------------------------------------------------

async function showRuns(params) {
  const view = fresh();
  const offset = Number(params.offset || 0);
  const search = h("form", { class: "filters", onsubmit: (event) => { event.preventDefault(); go("runs", { q: new FormData(event.target).get("q") }); } },
    h("label", {}, "Search runs", h("input", { type: "search", name: "q", value: params.q || "", size: 48, placeholder: "trace id, run name, service, metadata value or score name" })),
    h("button", { class: "primary", type: "submit" }, "Search"));
  view.replaceChildren(h("h1", {}, "Runs"), search);
  if (!overview.scores && !overview.metadata_updates) return view.append(noScores());
  let answer;
  try { answer = await api("runs", { q: params.q, offset, limit: 50 }); } catch (error) { return view.append(failure(error)); }
  if (!answer.runs.length) return view.append(empty("No runs match", "Search by the start of a trace id, a run or service name, a metadata value or a score name."));
  const rows = answer.runs.map((run) => h("tr", { class: "link", "data-testid": "run-row", "data-trace": run.trace_id, onclick: () => go(`run/${run.trace_id}`) },
    h("td", { class: "mono" }, run.trace_id.slice(0, 16) + "…"),
    h("td", {}, run.name || h("span", { class: "muted" }, "–")),
    h("td", {}, run.service_name || "–"),
    h("td", { class: "mono" }, time(run.last)),
    h("td", {}, h("div", { class: "chips" }, run.scores.map((score) => h("span", { class: "chip" }, `${score.name} `, h("b", {}, score.label !== null ? score.label : fmt(score.value)), score.late ? h("span", { class: "badge late" }, "late") : null))))));
  const pager = h("div", { class: "pager muted" }, `${answer.offset + 1}–${answer.offset + answer.runs.length} of ${answer.total} runs`,
    answer.offset > 0 ? h("button", { onclick: () => go("runs", { q: params.q, offset: Math.max(0, offset - 50) }) }, "Newer") : null,
    answer.offset + answer.runs.length < answer.total ? h("button", { onclick: () => go("runs", { q: params.q, offset: offset + 50 }) }, "Older") : null);
  view.append(h("div", { class: "card" }, h("table", {}, h("thead", {}, h("tr", {}, ["Trace", "Run", "Service", "Last record", "Scores"].map((t) => h("th", {}, t)))), h("tbody", {}, rows)), pager));
}

async function showRun(traceId) {
  const view = fresh();
  view.replaceChildren(h("p", { class: "muted" }, "Loading run…"));
  let run;
  try { run = await api("run", { trace: traceId }); } catch (error) { return view.replaceChildren(h("h1", {}, "Run"), failure(error)); }
  const copy = h("button", { "data-testid": "copy", onclick: async () => {
    try { await navigator.clipboard.writeText(run.trace_id); copy.textContent = "Copied"; } catch (_) { window.getSelection().selectAllChildren(idNode); copy.textContent = "Selected: press Ctrl+C"; }
  } }, "Copy trace id");
  const idNode = h("code", { class: "mono", "data-testid": "trace-id" }, run.trace_id);
  const head = h("div", { class: "run-head" }, h("h1", { style: null }, run.name || "Run"), idNode, copy,
    run.jaeger_url ? h("a", { href: run.jaeger_url, target: "_blank", rel: "noopener noreferrer", "data-testid": "jaeger" }, "Open in Jaeger ↗") : null,
    h("a", { href: "#/runs" }, "← all runs"));
  const facts = h("dl", { class: "kv" }, h("dt", {}, "service"), h("dd", {}, run.service_name || "–"), h("dt", {}, "first record"), h("dd", {}, time(run.first)), h("dt", {}, "last record"), h("dd", {}, time(run.last)),
    Object.keys(run.resource || {}).sort().filter((k) => k !== "service.name").flatMap((k) => [h("dt", {}, k), h("dd", {}, String(run.resource[k]))]));
  const scores = run.scores.length ? h("table", { "data-testid": "scores" }, h("thead", {}, h("tr", {}, ["Score", "Value", "Scope", "On", "Comment", "Time"].map((t) => h("th", {}, t)))),
    h("tbody", {}, run.scores.map((score) => h("tr", { "data-testid": "score-row", "data-name": score.name },
      h("td", {}, score.name), h("td", { class: "num" }, score.label !== null ? score.label : fmt(score.value)),
      h("td", {}, h("span", { class: "badge" }, score.scope), score.late ? [" ", h("span", { class: "badge late", title: "scored after its span or run had ended (carried by a carrier span)" }, "late")] : null),
      h("td", { class: "mono" }, score.span_name || (score.late ? "(carrier span)" : "–")),
      h("td", {}, score.comment || ""), h("td", { class: "mono" }, time(score.timestamp)))))) : h("p", { class: "muted" }, "No scores on this run.");
  const sections = run.metadata.length ? run.metadata.map((section) => h("div", { class: "section", "data-testid": "metadata-section", "data-kind": section.kind },
    h("h3", {}, section.title),
    section.entries.map((entry) => h("div", { class: "entry" },
      h("div", { class: "entry-head" }, h("span", { class: "badge" }, section.kind), h("span", { class: "badge" }, `${entry.scope} scope`), entry.span_name ? h("span", { class: "mono" }, entry.span_name) : null, h("span", { class: "mono" }, time(entry.timestamp))),
      h("dl", { class: "kv" }, entry.values.flatMap(([key, value]) => [h("dt", {}, key), h("dd", {}, typeof value === "string" ? value : JSON.stringify(value))])))))) : [h("p", { class: "muted" }, "No metadata on this run.")];
  view.replaceChildren(head, h("div", { class: "grid" }, h("section", { class: "card" }, h("h2", {}, "Scores"), scores), h("section", { class: "card" }, h("h2", {}, "Run"), facts)),
    h("section", { class: "card", style: null }, h("h2", {}, "Metadata"), sections));
}

// --- Compare ----------------------------------------------------------------------------------

async function showCompare(params) {
  const view = fresh();
  view.replaceChildren(h("h1", {}, "Compare two cohorts"));
  if (!overview.scores) return view.append(noScores());
  const name = params.name || overview.names[0];
  const by = params.by || overview.keys.find((k) => k === "service.version") || overview.keys.find((k) => k.startsWith("metadata.")) || overview.keys[0];
  const form = h("form", { class: "filters", "data-testid": "compare-form", onsubmit: (event) => { event.preventDefault(); const data = Object.fromEntries(new FormData(event.target)); data.lower_is_better = data.lower_is_better ? "true" : ""; go("compare", { ...data, run: "1" }); } },
    h("label", {}, "Score", select("name", overview.names.map((n) => [n, n]), name, { onchange: (e) => go("compare", { name: e.target.value, by: e.target.form.elements.namedItem("by").value }) })),
    h("label", {}, "Split by", select("by", overview.keys.map((k) => [k, k]), by, { onchange: (e) => go("compare", { name: e.target.form.elements.namedItem("name").value, by: e.target.value }) })));
  view.append(form);
  let values = [];
  if (by === "time") {
    form.append(h("label", {}, "Baseline window (START/END)", h("input", { name: "baseline", size: 34, value: params.baseline || "", placeholder: "2026-01-01T00:00Z/2026-01-08T00:00Z" })),
      h("label", {}, "Candidate window", h("input", { name: "candidate", size: 34, value: params.candidate || "", placeholder: "2026-01-08T00:00Z/2026-01-15T00:00Z" })));
  } else {
    try { values = (await api("cohorts", { name, by })).values; } catch (error) { return view.append(failure(error)); }
    if (!view.isConnected) return;  // a newer view replaced this one while it waited
    if (values.length < 2) {
      view.append(empty(`“${by}” has ${values.length} value${values.length === 1 ? "" : "s"} among ${name} scores`, "Comparing needs two cohorts: pick another key or score."));
      return;
    }
    const options = values.map((v) => [v.value, `${v.value} (${v.count})`]);
    form.append(h("label", {}, "Baseline", select("baseline", options, params.baseline || values[0].value)), h("label", {}, "Candidate", select("candidate", options, params.candidate || values[1].value)));
  }
  form.append(h("label", { class: "check" }, h("input", { type: "checkbox", name: "lower_is_better", value: "true", checked: params.lower_is_better === "true" }), "lower is better"),
    h("button", { class: "primary", type: "submit", "data-testid": "compare-button" }, "Compare"));
  if (by === "time" && !(params.baseline && params.candidate)) return view.append(h("p", { class: "muted" }, "Enter two time windows and press Compare."));
  let answer;
  try { answer = await api("compare", { name, by, baseline: params.baseline || (values[0] || {}).value, candidate: params.candidate || (values[1] || {}).value, lower_is_better: params.lower_is_better }); }
  catch (error) { return view.append(failure(error)); }
  if (view.isConnected) view.append(comparison(answer));
}

function comparison(answer) {
  const d = answer.difference;
  const level = `${Math.round(answer.confidence * 100)}%`;
  const evidence = d ? `Candidate − baseline mean: ${fmt(d.estimate, 4)} · ${level} CI [${fmt(d.low, 4)}, ${fmt(d.high, 4)}] · p = ${d.p_value.toPrecision(2)} · ${answer.method}`
    : `Each cohort needs at least ${answer.min_scores} numeric ${answer.name} scores.`;
  const verdictBox = h("div", { class: `verdict ${answer.verdict === "degraded" ? "degraded" : answer.verdict === "improved" ? "improved" : ""}`, "data-testid": "verdict", "data-verdict": answer.verdict },
    h("h2", {}, answer.verdict), h("p", { "data-testid": "evidence" }, evidence),
    h("p", {}, `${answer.better} is better; a degradation is flagged when the whole ${level} interval lies on the worse side.`));
  const side = (role) => {
    const c = answer[role];
    return h("section", { class: `card side ${role}`, "data-testid": `side-${role}` },
      h("div", { class: "card-head" }, h("h2", {}, `${role}: ${c.value}`), h("span", { class: "muted" }, `${answer.by}`)),
      h("div", { class: "figures" }, figure("n", c.n), figure("mean", fmt(c.mean, 4)), figure("sd", fmt(c.sd, 4)), figure("min", fmt(c.min)), figure("max", fmt(c.max))),
      Object.keys(c.labels).length ? h("div", { class: "chips" }, Object.entries(c.labels).map(([label, count]) => h("span", { class: "chip" }, `${label} `, h("b", {}, `${count}`)))) : null);
  };
  return h("div", {}, verdictBox, h("div", { class: "sides" }, side("baseline"), side("candidate")),
    h("section", { class: "card" }, h("h2", {}, `Distribution of ${answer.name}`), histogram(answer),
      h("div", { class: "legend" }, legendItem("var(--base)", `baseline (${answer.baseline.value})`), legendItem("var(--cand)", `candidate (${answer.candidate.value})`))));
}

function histogram(answer) {
  const W = 900, H = 220, L = 44, R = 12, T = 10, B = 34;
  const { edges, count } = answer.bins;
  const share = (role) => { const n = answer[role].n || 1; return answer[role].histogram.map((c) => c / n); };
  const base = share("baseline"), cand = share("candidate");
  const top = Math.max(0.01, ...base, ...cand);
  const step = (W - L - R) / count, barWidth = step * 0.4;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "share of each cohort per value range" });
  for (let k = 0; k <= 4; k++) svg.append(s("line", { class: "grid-line", x1: L, x2: W - R, y1: y((top * k) / 4), y2: y((top * k) / 4) }), s("text", { x: L - 6, y: y((top * k) / 4) + 4, "text-anchor": "end" }, pct((top * k) / 4)));
  for (let i = 0; i < count; i++) {
    const range = `${fmt(edges[i])} – ${fmt(edges[i + 1])}`;
    svg.append(s("rect", { class: "bar-baseline", x: L + step * i + step * 0.1, y: y(base[i]), width: barWidth, height: H - B - y(base[i]) }, s("title", {}, `baseline ${range}: ${pct(base[i])}`)),
      s("rect", { class: "bar-candidate", x: L + step * i + step * 0.5, y: y(cand[i]), width: barWidth, height: H - B - y(cand[i]) }, s("title", {}, `candidate ${range}: ${pct(cand[i])}`)));
    if (count <= 12 || i % Math.ceil(count / 10) === 0) svg.append(s("text", { x: L + step * i + step / 2, y: H - B + 16, "text-anchor": "middle" }, fmt((edges[i] + edges[i + 1]) / 2, 2)));
  }
  const at = (v) => L + step * ((v - edges[0]) / (edges[count] - edges[0])) * count;
  for (const role of ["baseline", "candidate"]) {
    const mean = answer[role].mean;
    if (mean !== null) svg.append(s("line", { class: `bar-${role}`, x1: at(mean), x2: at(mean), y1: T, y2: H - B, "stroke-width": 2, stroke: role === "baseline" ? "var(--base)" : "var(--cand)", "stroke-dasharray": "4 3" }, s("title", {}, `${role} mean ${fmt(mean, 4)}`)));
  }
  return svg;
}

// --- Shell ------------------------------------------------------------------------------------

let renders = 0;

async function render() {
  const mine = ++renders;
  const { parts, params } = route();
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.tab === (parts[0] === "run" ? "runs" : parts[0]));
  try {
    overview = await api("overview");
  } catch (error) {
    return fresh().replaceChildren(h("h1", {}, "otel-scoring"), failure(error));
  }
  if (mine !== renders) return;  // the address changed while this one loaded: the newer render draws
  document.getElementById("store-summary").textContent = `${overview.scores} scores · ${overview.metadata_updates} metadata updates`;
  if (parts[0] === "runs") return showRuns(params);
  if (parts[0] === "run" && parts[1]) return showRun(parts[1]);
  if (parts[0] === "compare") return showCompare(params);
  return showTrends(params);
}

window.addEventListener("hashchange", render);
render();
