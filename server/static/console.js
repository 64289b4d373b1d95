// Strata web console: one page, no build step, no libraries.
//
// Rules this file keeps:
// - Log data is never parsed as HTML: every piece of it goes into the page through text nodes.
// - Only a page of hits is rendered at a time (load more appends one more page; live tail keeps a bounded
//   table), so a search over millions of logs never freezes the tab.
// - The search (query, filters, time range, time zone, live) lives in the URL, so it can be shared.
"use strict";

const PAGE_SIZE = 100;
const MAX_LIVE_ROWS = 500; // live tail keeps the table this long; older rows drop off the bottom
const LIVE_ROWS_PER_FRAME = 200; // a burst of new logs is drawn over several frames
const CONTEXT_SIZE = 5; // surrounding logs shown on each side of a hit
const TARGET_BUCKETS = 80;
const LEVELS = ["fatal", "error", "warn", "info", "debug"];
// Stacking order of the histogram, bottom first: the levels a person looks for sit on the axis.
const STACK_ORDER = ["fatal", "error", "warn", "info", "debug"];
const LEVEL_COLOURS = {
  fatal: "#7b1fa2", error: "#d32f2f", warn: "#f59e0b", info: "#2e7d32", debug: "#90a4ae", other: "#5c6bc0",
};
// URL parameter -> field of the text filters in the sidebar.
const TEXT_FILTERS = [
  ["message", "message"], ["resourceId", "resourceId"], ["traceId", "traceId"], ["spanId", "spanId"],
  ["commit", "commit"], ["parentResourceId", "metadata.parentResourceId"],
];
const QUICK_RANGES = { "15m": 15 * 60e3, "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const INTERVALS = [
  [1e3, "1s"], [2e3, "2s"], [5e3, "5s"], [10e3, "10s"], [15e3, "15s"], [30e3, "30s"],
  [60e3, "1m"], [120e3, "2m"], [300e3, "5m"], [600e3, "10m"], [900e3, "15m"], [1800e3, "30m"],
  [3600e3, "1h"], [7200e3, "2h"], [10800e3, "3h"], [21600e3, "6h"], [43200e3, "12h"],
  [86400e3, "1d"], [2 * 86400e3, "2d"], [7 * 86400e3, "7d"], [30 * 86400e3, "30d"],
];
const WORD = "\\p{L}\\p{N}\\p{M}_"; // the engine's \w: tokens are runs of these

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------------
// State and the URL

const state = {
  q: "", levels: [], filters: {}, from: "", to: "", tz: "utc", live: false,
};

function readUrl() {
  const p = new URLSearchParams(location.search);
  state.q = p.get("q") || "";
  state.levels = (p.get("level") || "").split(",").filter((l) => LEVELS.includes(l));
  state.filters = {};
  for (const [param] of TEXT_FILTERS) state.filters[param] = p.get(param) || "";
  state.from = p.get("from") || "";
  state.to = p.get("to") || "";
  state.tz = p.get("tz") === "local" ? "local" : "utc";
  state.live = p.get("live") === "1";
}

function urlSearch() {
  const p = new URLSearchParams();
  if (state.q) p.set("q", state.q);
  if (state.levels.length) p.set("level", state.levels.join(","));
  for (const [param] of TEXT_FILTERS) if (state.filters[param]) p.set(param, state.filters[param]);
  if (state.from) p.set("from", state.from);
  if (state.to) p.set("to", state.to);
  if (state.tz === "local") p.set("tz", "local");
  if (state.live) p.set("live", "1");
  const text = p.toString();
  return text ? "?" + text : location.pathname;
}

function writeUrl(push) {
  const target = urlSearch();
  const current = location.search || location.pathname;
  if (target === current) return;
  if (push) history.pushState(null, "", target);
  else history.replaceState(null, "", target);
}

function fillForm() {
  $("query").value = state.q;
  for (const box of document.querySelectorAll('input[name="level"]')) box.checked = state.levels.includes(box.value);
  for (const [param] of TEXT_FILTERS) $("f-" + param).value = state.filters[param] || "";
  $("f-from").value = state.from;
  $("f-to").value = state.to;
  showTimeZone();
  showLive();
  markQuickRange();
}

function readForm() {
  state.q = $("query").value;
  state.levels = [...document.querySelectorAll('input[name="level"]:checked')].map((b) => b.value);
  for (const [param] of TEXT_FILTERS) state.filters[param] = $("f-" + param).value.trim();
  state.from = $("f-from").value.trim();
  state.to = $("f-to").value.trim();
}

// ---------------------------------------------------------------------------------------------------
// Query text: the user's query combined with the filters

function quote(value) {
  return '"' + String(value).replace(/[\\"]/g, (c) => "\\" + c) + '"';
}

// A filter value is a phrase (quoted), or a prefix when it is one word ending in * (`server-12*`).
function fieldClause(field, value) {
  value = value.trim();
  if (!value) return "";
  if (/^[\p{L}\p{N}_.\-]+\*$/u.test(value)) return `${field}:${value}`;
  return `${field}:${quote(value)}`;
}

// -> {text, offset}: `offset` is where the user's query starts in `text` (to place its syntax errors),
// or -1 when the text holds no user query.
function buildQuery() {
  const parts = [];
  if (state.levels.length === 1) parts.push(`level:${state.levels[0]}`);
  else if (state.levels.length > 1) parts.push("(" + state.levels.map((l) => `level:${l}`).join(" OR ") + ")");
  for (const [param, field] of TEXT_FILTERS) {
    const clause = fieldClause(field, state.filters[param] || "");
    if (clause) parts.push(clause);
  }
  const user = state.q.trim();
  if (!parts.length) return { text: user ? state.q : "*", offset: user ? 0 : -1 };
  if (!user || user === "*") return { text: parts.join(" AND "), offset: -1 };
  // Parentheses keep the user's ORs inside: `a OR b` AND filters, not `a OR (b AND filters)`.
  return { text: `(${state.q}) AND ${parts.join(" AND ")}`, offset: 1 };
}

// ---------------------------------------------------------------------------------------------------
// Times

// A log's time as epoch milliseconds (RFC 3339 text or an epoch number in s/ms/µs/ns), or null.
function toMs(value) {
  if (typeof value === "number" && isFinite(value)) {
    const m = Math.abs(value);
    return m < 1e11 ? value * 1e3 : m < 1e14 ? value : m < 1e17 ? value / 1e3 : value / 1e6;
  }
  if (typeof value !== "string") return null;
  let text = value.trim().replace(/^(\d{4}-\d{2}-\d{2})[ t]/, "$1T").replace(/(\.\d{3})\d+/, "$1");
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) text += "T00:00:00";
  // The engine reads a time without an offset as UTC; JavaScript would read it as local time.
  if (!/(?:[zZ]|[+-]\d{2}:?\d{2})$/.test(text)) text += "Z";
  const ms = Date.parse(text);
  return isNaN(ms) ? null : ms;
}

// A time typed in the From/To boxes -> epoch ms; null when empty; NaN when unreadable. Without an offset
// it is read in the zone the console shows (UTC or local), which the label next to the boxes names.
function parseTypedTime(text, nowMs) {
  text = text.trim();
  if (!text) return null;
  const rel = /^now(?:\s*([+-])\s*(\d+)\s*([smhdw]))?$/.exec(text);
  if (rel) {
    if (!rel[1]) return nowMs;
    const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[rel[3]];
    return nowMs + (rel[1] === "+" ? 1 : -1) * Number(rel[2]) * unit;
  }
  if (/^\d+(\.\d+)?$/.test(text)) return toMs(Number(text));
  let iso = text.replace(/^(\d{4}-\d{2}-\d{2})[ t]/, "$1T").replace(/(\.\d{3})\d+/, "$1");
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) iso += "T00:00:00";
  if (!/(?:[zZ]|[+-]\d{2}:?\d{2})$/.test(iso) && state.tz === "utc") iso += "Z";
  const ms = Date.parse(iso);
  return isNaN(ms) ? NaN : ms;
}

function isoMs(ms) {
  return new Date(ms).toISOString();
}

const pad = (n, w = 2) => String(n).padStart(w, "0");

function formatTime(ms, withMs = true) {
  if (ms == null || isNaN(ms)) return "—";
  const d = new Date(ms);
  let text;
  if (state.tz === "utc") {
    text = d.toISOString().replace("T", " ").replace("Z", "");
  } else {
    text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  return withMs ? text : text.slice(0, 19);
}

function zoneLabel() {
  if (state.tz === "utc") return "UTC";
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
  const off = -new Date().getTimezoneOffset();
  const sign = off >= 0 ? "+" : "−";
  return `${name}, UTC${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

function showTimeZone() {
  $("tz-utc").setAttribute("aria-pressed", String(state.tz === "utc"));
  $("tz-local").setAttribute("aria-pressed", String(state.tz === "local"));
  $("time-header").textContent = `Time (${zoneLabel()})`;
  for (const th of document.querySelectorAll(".context-time")) th.textContent = `Time (${zoneLabel()})`;
  $("time-zone-note").textContent = `in ${zoneLabel()}`;
  $("time-zone-note").title = `Times typed without an offset are read in ${zoneLabel()}`;
  for (const cell of document.querySelectorAll("td.c-time[data-ms]")) {
    cell.textContent = formatTime(Number(cell.dataset.ms));
  }
}

function hitTime(hit) {
  return hit && typeof hit === "object" ? toMs(hit.timestamp) : null;
}

// The search's time range, resolved now: {startMs, endMs} (either may be null), or {error}.
function resolveRange() {
  const now = Date.now();
  const startMs = parseTypedTime(state.from, now);
  const endMs = parseTypedTime(state.to, now);
  if (Number.isNaN(startMs)) return { error: `Cannot read the From time "${state.from}".` };
  if (Number.isNaN(endMs)) return { error: `Cannot read the To time "${state.to}".` };
  if (startMs != null && endMs != null && startMs > endMs) return { error: "From is after To." };
  return { startMs, endMs };
}

// ---------------------------------------------------------------------------------------------------
// The HTTP API

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `the server answered ${status}`);
    this.status = status;
    this.column = body && typeof body.column === "number" ? body.column : null;
  }
}

async function api(path, params, signal) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== "") query.set(k, v);
  const url = path + (query.toString() ? "?" + query : "");
  const resp = await fetch(url, { signal, headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await resp.json();
  } catch (_) {
    body = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

// ---------------------------------------------------------------------------------------------------
// Building DOM (text only)

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function levelClass(level) {
  const l = String(level || "").toLowerCase();
  if (LEVELS.includes(l)) return "lvl lvl-" + l;
  if (l === "warning") return "lvl lvl-warn";
  if (l === "critical" || l === "panic") return "lvl lvl-fatal";
  return "lvl";
}

function levelKey(level) {
  const l = String(level || "").toLowerCase();
  if (l === "warning") return "warn";
  if (l === "critical" || l === "panic") return "fatal";
  return LEVELS.includes(l) ? l : "other";
}

function cellText(value) {
  if (value == null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

// Highlighting: the server names the words and phrases the query matched; each becomes a regex over
// tokens (a phrase's words separated by any non-word run, `*`/`?` as in the query language).
function makeHighlighter(terms) {
  const sources = [];
  for (const term of terms || []) {
    const text = typeof term === "string" ? term : term && (term.text || term.term || term.value);
    if (!text) continue;
    const tokens = String(text).split(new RegExp(`[^${WORD}*?]+`, "u")).filter((t) => /[^*?]/.test(t));
    if (!tokens.length) continue;
    const words = tokens.map((t) => t.split("").map((c) =>
      c === "*" ? `[${WORD}]*` : c === "?" ? `[${WORD}]` : c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(""));
    sources.push(words.join(`[^${WORD}]+`));
  }
  if (!sources.length) return null;
  sources.sort((a, b) => b.length - a.length);
  return new RegExp(`(?<![${WORD}])(?:${sources.join("|")})(?![${WORD}])`, "giu");
}

function appendHighlighted(parent, text, re) {
  if (!re || !text) {
    parent.append(text);
    return parent;
  }
  re.lastIndex = 0;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) parent.append(text.slice(last, m.index));
    parent.append(el("mark", { text: m[0] }));
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(text.slice(last));
  return parent;
}

function messageOf(hit) {
  if (hit && typeof hit === "object" && "message" in hit) return cellText(hit.message);
  const rest = {};
  for (const [k, v] of Object.entries(hit || {})) if (!["timestamp", "level", "resourceId"].includes(k)) rest[k] = v;
  return JSON.stringify(rest);
}

// One table row for a hit; a click expands it to the whole JSON.
function hitRow(hit, re, { anchor = false } = {}) {
  const ms = hitTime(hit);
  const tr = el("tr", { class: anchor ? "hit anchor" : "hit", tabindex: "0" },
    el("td", { class: "c-time", "data-ms": ms == null ? null : String(ms), text: formatTime(ms) }),
    // The level is not highlighted: its colour already says it, and a mark on a badge is unreadable.
    el("td", { class: "c-level" }, el("span", { class: levelClass(hit.level), text: cellText(hit.level) })),
    el("td", { class: "c-res" }, appendHighlighted(el("span"), cellText(hit.resourceId), re)),
    el("td", { class: "c-msg" }, appendHighlighted(el("span"), messageOf(hit), re)));
  const toggle = (ev) => {
    if (ev.target.closest("a, button")) return;
    toggleDetail(tr, hit, re);
  };
  tr.addEventListener("click", toggle);
  tr.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      toggleDetail(tr, hit, re);
    }
  });
  return tr;
}

function toggleDetail(tr, hit, re) {
  const next = tr.nextElementSibling;
  if (next && next.classList.contains("detail")) {
    next.remove();
    tr.classList.remove("open");
    return;
  }
  tr.classList.add("open");
  const json = JSON.stringify(hit, null, 2);
  const actions = el("div", { class: "detail-actions" },
    el("button", { type: "button", class: "context-button", text: "Surrounding logs", onclick: () => openContext(hit) }),
    el("button", { type: "button", text: "Copy JSON", onclick: (ev) => copyText(json, ev.target) }));
  const pre = appendHighlighted(el("pre", { class: "json" }), json, re);
  tr.after(el("tr", { class: "detail" }, el("td", { colspan: "4" }, actions, pre)));
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch (_) {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy JSON"; }, 1500);
}

// ---------------------------------------------------------------------------------------------------
// Search

let generation = 0; // the newest search; answers of older ones are dropped
let controller = null;
let current = null; // {built, range, nextCursor, highlighter, total}

function setSearchState(value) {
  document.body.dataset.searchState = value;
  if (value !== "loading") document.body.dataset.searches = String(Number(document.body.dataset.searches || 0) + 1);
}

function clearQueryError() {
  $("query-error").hidden = true;
  $("query").removeAttribute("aria-invalid");
}

function showQueryError(err, built) {
  let text = built.text;
  let column = err.column;
  let message = err.message;
  if (column != null && built.offset >= 0) {
    const userColumn = column - built.offset;
    if (userColumn >= 1 && userColumn <= state.q.length + 1) {
      text = state.q;
      column = userColumn;
      message = message.replace(/column \d+/, `column ${column}`);
      const input = $("query");
      input.focus();
      input.setSelectionRange(column - 1, Math.min(column, state.q.length));
    }
  }
  if (text !== state.q) message += " (in the query built from the filters)";
  $("query-error-caret").textContent = column != null ? `${text}\n${" ".repeat(Math.max(column - 1, 0))}^` : text;
  $("query-error-message").textContent = message;
  $("query-error").hidden = false;
  $("query").setAttribute("aria-invalid", "true");
}

function setStatus(text) {
  $("status").textContent = text || "";
}

function clearResults() {
  $("hits-body").replaceChildren();
  $("more").hidden = true;
  $("empty").hidden = true;
  $("total").textContent = "";
  $("took").textContent = "";
  histogram.data = null;
  drawHistogram();
  $("histogram").closest("figure").hidden = true;
}

async function runSearch({ push = true } = {}) {
  readForm();
  markQuickRange();
  const range = resolveRange();
  $("time-error").hidden = !range.error;
  if (range.error) {
    $("time-error").textContent = range.error;
    return;
  }
  writeUrl(push);
  const built = buildQuery();
  if (controller) controller.abort();
  controller = new AbortController();
  const signal = controller.signal;
  const gen = ++generation;
  clearQueryError();
  setStatus("Searching…");
  setSearchState("loading");
  const params = {
    q: built.text, limit: PAGE_SIZE,
    start: range.startMs == null ? null : isoMs(range.startMs),
    end: range.endMs == null ? null : isoMs(range.endMs),
  };
  let page;
  try {
    page = await api("/api/v1/search", params, signal);
  } catch (err) {
    if (signal.aborted || gen !== generation) return;
    clearResults();
    if (err instanceof ApiError && err.status === 400) showQueryError(err, built);
    setStatus(err instanceof ApiError && err.status === 400 ? "" : `Search failed: ${err.message}`);
    setSearchState("error");
    return;
  }
  if (gen !== generation) return;
  current = {
    built, range, params, nextCursor: page.next_cursor, total: page.total,
    highlighter: makeHighlighter(page.highlight),
  };
  renderPage(page, false);
  $("histogram").closest("figure").hidden = false;
  $("took").textContent = `in ${Number(page.took_ms || 0).toFixed(1)} ms`;
  setStatus("");
  setSearchState("done");
  loadHistogram(gen, signal, page).catch((err) => {
    if (!signal.aborted) setStatus(`Histogram failed: ${err.message}`);
  });
  refreshFieldValues();
  if (state.live) startLive();
}

function renderPage(page, append) {
  const body = $("hits-body");
  const frag = document.createDocumentFragment();
  for (const hit of page.hits || []) frag.append(hitRow(hit, current.highlighter));
  if (append) body.append(frag);
  else body.replaceChildren(frag);
  const shown = body.querySelectorAll("tr.hit").length;
  $("total").textContent = `${Number(page.total).toLocaleString("en-US")} ${page.total === 1 ? "match" : "matches"}`;
  $("total").dataset.total = String(page.total);
  $("empty").hidden = shown > 0;
  $("more").hidden = !page.next_cursor;
  $("more").textContent = `Load more (showing ${shown.toLocaleString("en-US")})`;
}

async function loadMore() {
  if (!current || !current.nextCursor) return;
  const gen = generation;
  const button = $("more");
  button.disabled = true;
  setSearchState("loading");
  try {
    const page = await api("/api/v1/search", { ...current.params, cursor: current.nextCursor }, controller.signal);
    if (gen !== generation) return;
    current.nextCursor = page.next_cursor;
    renderPage({ ...page, total: current.total }, true);
    setSearchState("done");
  } catch (err) {
    if (gen === generation) {
      setStatus(`Loading more failed: ${err.message}`);
      setSearchState("error");
    }
  } finally {
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------------
// Histogram: stacked by level, drag to zoom

const histogram = { data: null, drag: null, hover: null };

function pickInterval(spanMs) {
  for (const [ms, label] of INTERVALS) if (spanMs / ms <= TARGET_BUCKETS) return [ms, label];
  return INTERVALS[INTERVALS.length - 1];
}

async function loadHistogram(gen, signal, page) {
  if (!page.total) {
    histogram.data = null;
    drawHistogram();
    return;
  }
  const { built, range } = current;
  let { startMs, endMs } = range;
  if (endMs == null) endMs = startMs != null ? Date.now() : hitTime(page.hits[0]);
  if (startMs == null) {
    // Range "all": the oldest match bounds the chart.
    const oldest = await api("/api/v1/search", {
      q: built.text, limit: 1, order: "oldest", end: endMs == null ? null : isoMs(endMs),
    }, signal);
    startMs = hitTime(oldest.hits && oldest.hits[0]);
  }
  if (gen !== generation) return;
  if (startMs == null || endMs == null) {
    histogram.data = null;
    drawHistogram();
    return;
  }
  if (endMs <= startMs) endMs = startMs + 1000;
  const [intervalMs, label] = pickInterval(endMs - startMs);
  const data = await api("/api/v1/histogram", {
    q: built.text, start: isoMs(startMs), end: isoMs(endMs), interval: label, by: "level",
  }, signal);
  if (gen !== generation) return;
  histogram.data = normalizeHistogram(data, startMs, endMs, intervalMs);
  drawHistogram();
}

// -> {start, end, interval, buckets: [{t, total, levels: {level: n}}], levels: [names]}
function normalizeHistogram(data, startMs, endMs, intervalMs) {
  const interval = data.interval_ns ? data.interval_ns / 1e6 : intervalMs;
  const series = data.series || null;
  const levelsSeen = new Set();
  const buckets = (data.buckets || []).map((b, i) => {
    const t = b.start_ns != null ? b.start_ns / 1e6 : toMs(b.start);
    const levels = {};
    if (series) {
      for (const [name, counts] of Object.entries(series)) {
        const n = counts[i] || 0;
        if (!n) continue;
        const key = levelKey(name);
        levels[key] = (levels[key] || 0) + n;
        levelsSeen.add(key);
      }
    } else if (b.count) {
      levels.other = b.count;
      levelsSeen.add("other");
    }
    return { t, total: b.count, levels };
  }).filter((b) => b.t != null);
  const first = buckets.length ? Math.min(startMs, buckets[0].t) : startMs;
  const last = buckets.length ? Math.max(endMs, buckets[buckets.length - 1].t + interval) : endMs;
  const order = [...STACK_ORDER, "other"].filter((l) => levelsSeen.has(l));
  return { start: first, end: last, interval, buckets, levels: order };
}

const PLOT = { left: 52, right: 8, top: 8, bottom: 22 };

function plotGeometry(canvas) {
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  return { w, h, x0: PLOT.left, x1: w - PLOT.right, y0: PLOT.top, y1: h - PLOT.bottom };
}

function drawHistogram() {
  const canvas = $("histogram");
  const dpr = window.devicePixelRatio || 1;
  const g = plotGeometry(canvas);
  if (canvas.width !== Math.round(g.w * dpr) || canvas.height !== Math.round(g.h * dpr)) {
    canvas.width = Math.round(g.w * dpr);
    canvas.height = Math.round(g.h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, g.w, g.h);
  const data = histogram.data;
  drawLegend(data);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#6b7280";
  if (!data || !data.buckets.length) {
    ctx.fillText(current && current.total === 0 ? "No matches in this range" : "", g.x0, g.y0 + 20);
    return;
  }
  const max = Math.max(1, ...data.buckets.map((b) => b.total));
  const xOf = (t) => g.x0 + ((t - data.start) / (data.end - data.start)) * (g.x1 - g.x0);
  const yOf = (n) => g.y1 - (n / max) * (g.y1 - g.y0);
  // axes and y labels
  ctx.strokeStyle = "#e5e7eb";
  ctx.beginPath();
  for (const n of [max / 2, max]) {
    ctx.moveTo(g.x0, Math.round(yOf(n)) + 0.5);
    ctx.lineTo(g.x1, Math.round(yOf(n)) + 0.5);
  }
  ctx.stroke();
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.fillText("0", g.x0 - 6, g.y1);
  ctx.fillText(compactNumber(max), g.x0 - 6, yOf(max));
  // bars
  for (const b of data.buckets) {
    const xa = xOf(b.t);
    const xb = xOf(b.t + data.interval);
    const width = Math.max(1, xb - xa - (xb - xa > 4 ? 1 : 0));
    let base = 0;
    for (const level of data.levels) {
      const n = b.levels[level] || 0;
      if (!n) continue;
      ctx.fillStyle = LEVEL_COLOURS[level];
      ctx.fillRect(xa, yOf(base + n), width, yOf(base) - yOf(base + n));
      base += n;
    }
  }
  // x labels
  ctx.fillStyle = "#6b7280";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const span = data.end - data.start;
  const ticks = Math.max(2, Math.floor((g.x1 - g.x0) / 140));
  for (let i = 0; i <= ticks; i++) {
    const t = data.start + (span * i) / ticks;
    const text = span > 3 * 86400e3 ? formatTime(t).slice(0, 10) : span > 86400e3 ? formatTime(t).slice(5, 16)
      : span > 120e3 ? formatTime(t).slice(11, 16) : formatTime(t).slice(11, 19);
    ctx.textAlign = i === 0 ? "left" : i === ticks ? "right" : "center";
    ctx.fillText(text, xOf(t), g.y1 + 6);
  }
  // drag selection
  if (histogram.drag && Math.abs(histogram.drag.x1 - histogram.drag.x0) > 2) {
    const a = Math.min(histogram.drag.x0, histogram.drag.x1);
    const b = Math.max(histogram.drag.x0, histogram.drag.x1);
    ctx.fillStyle = "rgba(37, 99, 235, 0.15)";
    ctx.fillRect(a, g.y0, b - a, g.y1 - g.y0);
    ctx.strokeStyle = "rgba(37, 99, 235, 0.8)";
    ctx.strokeRect(a + 0.5, g.y0 + 0.5, b - a - 1, g.y1 - g.y0 - 1);
  }
}

function compactNumber(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(n >= 1e7 ? 0 : 1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
  return String(Math.round(n));
}

function drawLegend(data) {
  const legend = $("histogram-legend");
  legend.replaceChildren();
  if (!data) return;
  const sums = {};
  for (const b of data.buckets) for (const [l, n] of Object.entries(b.levels)) sums[l] = (sums[l] || 0) + n;
  for (const level of data.levels) {
    legend.append(el("span", { class: "legend-item" },
      el("i", { class: "swatch", style: `background:${LEVEL_COLOURS[level]}` }),
      `${level} ${Number(sums[level] || 0).toLocaleString("en-US")}`));
  }
  legend.append(el("span", { class: "muted", text: `· ${INTERVALS.find(([ms]) => ms === data.interval)?.[1] || Math.round(data.interval / 1000) + "s"} buckets · drag to zoom` }));
}

function timeAtX(x) {
  const data = histogram.data;
  const g = plotGeometry($("histogram"));
  const f = Math.min(Math.max((x - g.x0) / (g.x1 - g.x0), 0), 1);
  return data.start + f * (data.end - data.start);
}

function bucketAtX(x) {
  const data = histogram.data;
  if (!data) return null;
  const t = timeAtX(x);
  return data.buckets.find((b) => t >= b.t && t < b.t + data.interval) || null;
}

function canvasX(ev) {
  return ev.clientX - $("histogram").getBoundingClientRect().left;
}

function zoomTo(startMs, endMs) {
  $("f-from").value = isoMs(Math.floor(startMs));
  $("f-to").value = isoMs(Math.ceil(endMs));
  runSearch();
}

function setupHistogram() {
  const canvas = $("histogram");
  canvas.addEventListener("mousedown", (ev) => {
    if (!histogram.data || ev.button !== 0) return;
    ev.preventDefault();
    histogram.drag = { x0: canvasX(ev), x1: canvasX(ev) };
  });
  window.addEventListener("mousemove", (ev) => {
    if (histogram.drag) {
      histogram.drag.x1 = canvasX(ev);
      drawHistogram();
    }
  });
  window.addEventListener("mouseup", (ev) => {
    const drag = histogram.drag;
    if (!drag) return;
    histogram.drag = null;
    drag.x1 = canvasX(ev);
    if (Math.abs(drag.x1 - drag.x0) > 4) {
      const a = timeAtX(Math.min(drag.x0, drag.x1));
      const b = timeAtX(Math.max(drag.x0, drag.x1));
      zoomTo(a, b);
    } else {
      const bucket = bucketAtX(drag.x1);
      if (bucket) zoomTo(bucket.t, bucket.t + histogram.data.interval - 1);
      else drawHistogram();
    }
  });
  canvas.addEventListener("mousemove", (ev) => showTip(ev));
  canvas.addEventListener("mouseleave", () => { $("histogram-tip").hidden = true; });
  new ResizeObserver(() => drawHistogram()).observe(canvas);
}

function showTip(ev) {
  const tip = $("histogram-tip");
  const bucket = histogram.drag ? null : bucketAtX(canvasX(ev));
  if (!bucket) {
    tip.hidden = true;
    return;
  }
  const lines = [el("strong", { text: `${formatTime(bucket.t, false)} +${INTERVALS.find(([ms]) => ms === histogram.data.interval)?.[1] || ""}` }),
    el("div", { text: `${Number(bucket.total).toLocaleString("en-US")} logs` })];
  for (const level of histogram.data.levels) {
    if (bucket.levels[level]) lines.push(el("div", {}, el("i", { class: "swatch", style: `background:${LEVEL_COLOURS[level]}` }), `${level} ${bucket.levels[level].toLocaleString("en-US")}`));
  }
  tip.replaceChildren(...lines);
  tip.hidden = false;
  const x = canvasX(ev);
  tip.style.left = `${Math.min(x + 12, $("histogram").clientWidth - tip.offsetWidth)}px`;
}

// ---------------------------------------------------------------------------------------------------
// Surrounding logs of a hit: the same resourceId, a few before and after it

async function openContext(hit) {
  const dialog = $("context");
  const body = $("context-body");
  const rid = hit.resourceId;
  const ts = hit.timestamp;
  $("context-title").textContent = rid == null ? "Surrounding logs" : `Surrounding logs of resourceId ${cellText(rid)}`;
  body.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted", text: "Loading…" })));
  showTimeZone();
  if (!dialog.open) dialog.showModal();
  if (rid == null || ts == null) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: "This log has no resourceId or timestamp to look around." })));
    return;
  }
  const q = `resourceId:=${quote(cellText(rid))}`;
  // The original timestamp text keeps its full precision; the server reads it like a query time.
  const at = typeof ts === "number" ? String(ts) : ts;
  const n = 2 * CONTEXT_SIZE + 1; // extra, for logs that share the hit's timestamp
  try {
    const [before, after] = await Promise.all([
      api("/api/v1/search", { q, end: at, order: "newest", limit: n }),
      api("/api/v1/search", { q, start: at, order: "oldest", limit: n }),
    ]);
    const seen = new Set();
    const logs = [];
    for (const log of [...before.hits.reverse(), ...after.hits]) {
      const key = JSON.stringify(log);
      if (seen.has(key)) continue;
      seen.add(key);
      logs.push(log);
    }
    const key = JSON.stringify(hit);
    let i = logs.findIndex((log) => JSON.stringify(log) === key);
    if (i < 0) i = Math.min(CONTEXT_SIZE, logs.length);
    const shown = logs.slice(Math.max(0, i - CONTEXT_SIZE), i + CONTEXT_SIZE + 1);
    const frag = document.createDocumentFragment();
    for (const log of shown) frag.append(hitRow(log, null, { anchor: JSON.stringify(log) === key }));
    body.replaceChildren(frag);
    const anchor = body.querySelector("tr.anchor");
    if (anchor) anchor.scrollIntoView({ block: "center" });
  } catch (err) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", text: `Could not load the surrounding logs: ${err.message}` })));
  }
}

// ---------------------------------------------------------------------------------------------------
// Field sidebar: names with counts; a click shows top values; a value click adds a filter

const expandedFields = new Set();

async function loadFields() {
  const list = $("field-list");
  let data;
  try {
    data = await api("/api/v1/fields");
  } catch (err) {
    list.replaceChildren(el("li", { class: "muted", text: `Fields unavailable: ${err.message}` }));
    return;
  }
  const fields = (data.fields || []).slice().sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  list.replaceChildren(...fields.slice(0, 60).map((f) => {
    const values = el("ul", { class: "values", hidden: true });
    const li = el("li", { class: "field", "data-field": f.name },
      el("button", { type: "button", class: "field-name", "aria-expanded": "false",
        onclick: () => toggleField(f.name, li) },
        el("span", { text: f.name }), el("span", { class: "count", text: compactNumber(f.count) })),
      values);
    return li;
  }));
}

function toggleField(name, li) {
  const button = li.querySelector(".field-name");
  const values = li.querySelector(".values");
  if (expandedFields.has(name)) {
    expandedFields.delete(name);
    values.hidden = true;
    button.setAttribute("aria-expanded", "false");
    return;
  }
  expandedFields.add(name);
  values.hidden = false;
  button.setAttribute("aria-expanded", "true");
  loadValues(name, li);
}

function refreshFieldValues() {
  for (const li of document.querySelectorAll("#field-list li.field")) {
    if (expandedFields.has(li.dataset.field)) loadValues(li.dataset.field, li);
  }
}

async function loadValues(name, li) {
  const values = li.querySelector(".values");
  if (!current) return;
  const gen = generation;
  values.replaceChildren(el("li", { class: "muted", text: "Loading…" }));
  let data;
  try {
    data = await api(`/api/v1/fields/${encodeURIComponent(name)}/values`, {
      q: current.built.text, start: current.params.start, end: current.params.end, top: 10,
    });
  } catch (err) {
    values.replaceChildren(el("li", { class: "muted", text: `Failed: ${err.message}` }));
    return;
  }
  if (gen !== generation) return;
  const rows = data.values || [];
  if (!rows.length) {
    values.replaceChildren(el("li", { class: "muted", text: "No values in these matches" }));
    return;
  }
  const top = Math.max(...rows.map((v) => v.count), 1);
  values.replaceChildren(...rows.map((v) => el("li", {},
    el("button", { type: "button", class: "value", title: `Add ${name} = ${cellText(v.value)} as a filter`,
      onclick: () => addFilter(name, v.value) },
      el("span", { class: "bar", style: `width:${Math.round((v.count / top) * 100)}%` }),
      el("span", { class: "value-text", text: cellText(v.value) }),
      el("span", { class: "count", text: Number(v.count).toLocaleString("en-US") })))));
}

function addFilter(name, value) {
  const text = cellText(value);
  const level = levelKey(text);
  const filter = TEXT_FILTERS.find(([, field]) => field.toLowerCase() === name.toLowerCase());
  if (name.toLowerCase() === "level" && LEVELS.includes(level) && text.toLowerCase() === level) {
    document.querySelector(`input[name="level"][value="${level}"]`).checked = true;
  } else if (filter) {
    $("f-" + filter[0]).value = text;
  } else {
    const q = $("query").value.trim();
    $("query").value = (q && q !== "*" ? q + " AND " : "") + `${name}:${quote(text)}`;
  }
  runSearch();
}

// ---------------------------------------------------------------------------------------------------
// Live tail

let liveSource = null;
let liveQueue = [];
let liveCount = 0;
let liveFrame = 0;

function showLive() {
  $("live").setAttribute("aria-pressed", String(state.live));
  $("live-status").hidden = !state.live;
}

function setLiveStatus(text) {
  $("live-status").textContent = text;
}

function startLive() {
  stopLive();
  const built = buildQuery();
  liveCount = 0;
  setLiveStatus("Live: connecting…");
  liveSource = new EventSource("/api/v1/tail?" + new URLSearchParams({ q: built.text }));
  liveSource.onopen = () => setLiveStatus(liveCount ? `Live: ${liveCount} new` : "Live: waiting for new logs");
  liveSource.onerror = () => setLiveStatus("Live: reconnecting…");
  const receive = (ev) => {
    let payload;
    try {
      payload = JSON.parse(ev.data);
    } catch (_) {
      return;
    }
    const logs = Array.isArray(payload) ? payload : payload && Array.isArray(payload.hits) ? payload.hits : [payload];
    for (const log of logs) if (log && typeof log === "object") liveQueue.push(log);
    if (!liveFrame) liveFrame = requestAnimationFrame(flushLive);
  };
  liveSource.onmessage = receive;
  liveSource.addEventListener("log", receive);
}

function stopLive() {
  if (liveSource) liveSource.close();
  liveSource = null;
  liveQueue = [];
  if (liveFrame) cancelAnimationFrame(liveFrame);
  liveFrame = 0;
}

function flushLive() {
  liveFrame = 0;
  const batch = liveQueue.splice(0, LIVE_ROWS_PER_FRAME);
  if (!batch.length) return;
  const body = $("hits-body");
  const frag = document.createDocumentFragment();
  const re = current ? current.highlighter : null;
  for (let i = batch.length - 1; i >= 0; i--) {
    const row = hitRow(batch[i], re);
    row.classList.add("live-new");
    frag.append(row);
  }
  body.prepend(frag);
  let rows = body.querySelectorAll("tr.hit").length;
  while (rows > MAX_LIVE_ROWS && body.lastElementChild) {
    if (body.lastElementChild.classList.contains("hit")) rows--;
    body.lastElementChild.remove();
  }
  liveCount += batch.length;
  $("empty").hidden = true;
  setLiveStatus(`Live: ${liveCount.toLocaleString("en-US")} new`);
  if (liveQueue.length) liveFrame = requestAnimationFrame(flushLive);
}

// ---------------------------------------------------------------------------------------------------
// Wiring

function markQuickRange() {
  for (const button of document.querySelectorAll(".quick button")) {
    const r = button.dataset.range;
    const active = r === "all" ? !$("f-from").value.trim() && !$("f-to").value.trim()
      : $("f-from").value.trim() === `now-${r}` && !$("f-to").value.trim();
    button.setAttribute("aria-pressed", String(active));
  }
}

function setup() {
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    runSearch();
  });
  $("filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    runSearch();
  });
  for (const box of document.querySelectorAll('input[name="level"]')) box.addEventListener("change", () => runSearch());
  for (const button of document.querySelectorAll(".quick button")) {
    button.addEventListener("click", () => {
      const r = button.dataset.range;
      $("f-from").value = r === "all" ? "" : `now-${r}`;
      $("f-to").value = "";
      runSearch();
    });
  }
  $("clear-filters").addEventListener("click", () => {
    for (const box of document.querySelectorAll('input[name="level"]')) box.checked = false;
    for (const [param] of TEXT_FILTERS) $("f-" + param).value = "";
    $("f-from").value = "";
    $("f-to").value = "";
    runSearch();
  });
  $("more").addEventListener("click", loadMore);
  $("tz-utc").addEventListener("click", () => setTimeZone("utc"));
  $("tz-local").addEventListener("click", () => setTimeZone("local"));
  $("live").addEventListener("click", () => {
    state.live = !state.live;
    showLive();
    writeUrl(false);
    if (state.live) startLive();
    else stopLive();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "/" && !ev.target.closest("input, textarea")) {
      ev.preventDefault();
      $("query").focus();
    }
  });
  window.addEventListener("popstate", () => {
    readUrl();
    fillForm();
    runSearch({ push: false });
  });
  setupHistogram();
}

function setTimeZone(tz) {
  state.tz = tz;
  showTimeZone();
  drawHistogram();
  writeUrl(false);
}

document.addEventListener("DOMContentLoaded", () => {
  setup();
  readUrl();
  fillForm();
  loadFields();
  runSearch({ push: false });
});
