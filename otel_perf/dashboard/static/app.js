// The dashboard's loop: which sections the API offers, fetch them with the token, render
// only what changed, poll every N s (paused while the tab is hidden).
import { renderOpenFindings, renderRecommendations } from "./actions.js";
import { renderCapacity } from "./capacity.js";
import { renderIncidents } from "./incidents.js";
import {
  renderAnomalies, renderBottlenecks, renderCache, renderInstrumentation, renderRED, renderRegression,
} from "./sections.js";
import { renderSLO } from "./slo.js";

const TOKEN_KEY = "otel-perf-token";
const MAX_FORECASTS = 6;

class Unauthorized extends Error {}
class Missing extends Error {}

const state = {
  timer: null,
  busy: false,
  paths: null,
  rendered: new Map(), // section id → last JSON text rendered
};

const $ = (id) => document.getElementById(id);

async function getJSON(path, { open = false } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && !open) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401) throw new Unauthorized(path);
  if (response.status === 404) throw new Missing(path);
  const body = await response.json();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}: ${body.error ?? ""}`);
  return body;
}

// section id → {needs: processor type or null, path (as in the OpenAPI document), query,
// render(body) → nodes, load?, hideWhen?}; the page shows them in index.html's order:
// incidents first, then what to do (recommendations, open findings), then SLOs, capacity and the rest
const SECTIONS = [
  { id: "incidents", needs: "incidents", path: "/performance/incidents", render: renderIncidents },
  { id: "recommendations", needs: null, path: "/performance/recommendations", render: renderRecommendations },
  { id: "findings", needs: null, path: "/performance/findings", query: "?limit=500", render: renderOpenFindings },
  { id: "slo", needs: "slo", path: "/performance/slo", render: renderSLO },
  { id: "capacity", needs: "capacity", path: "/performance/capacity/dashboard", load: loadCapacity },
  { id: "red", needs: null, path: "/performance/metrics", render: renderRED, hideWhen: (b) => !b.red },
  { id: "instrumentation", needs: "instrumentation", path: "/performance/metrics", render: renderInstrumentation },
  { id: "bottlenecks", needs: "bottlenecks", path: "/performance/bottlenecks", render: renderBottlenecks },
  { id: "anomalies", needs: "anomaly", path: "/performance/anomalies", render: renderAnomalies },
  { id: "regression", needs: "regression", path: "/performance/regression/analysis", render: renderRegression },
  { id: "cache", needs: "cache", path: "/performance/cache/stats", render: renderCache },
];

async function loadCapacity(section) {
  // every recorded resource is listed; the charts are for those with a forecast
  const dashboard = await getJSON(section.path);
  const wanted = Object.values(dashboard.resources ?? {})
    .filter((r) => r.forecast)
    .sort((a, b) => rank(a) - rank(b))
    .slice(0, MAX_FORECASTS);
  const forecasts = new Map();
  await Promise.all(wanted.map(async (r) => {
    const encoded = r.name.split("/").map(encodeURIComponent).join("/");
    forecasts.set(r.name, await getJSON(`/performance/capacity/forecast/${encoded}?horizon=7d`));
  }));
  const key = JSON.stringify([dashboard.resources, [...forecasts]]);
  return { key, nodes: () => renderCapacity(dashboard, forecasts) };
}

function rank(resource) {
  return { cpu: 0, memory: 1 }[resource.kind] ?? 2;
}

function show(id, nodes, key) {
  const section = $(id);
  section.hidden = false;
  if (state.rendered.get(id) === key) return; // unchanged: leave the DOM alone (no flicker)
  state.rendered.set(id, key);
  section.querySelector(".body").replaceChildren(...nodes().filter((n) => n !== null && n !== undefined));
}

function hide(id) {
  $(id).hidden = true;
  state.rendered.delete(id);
}

async function refreshSection(section, types) {
  if (section.needs && !types.has(section.needs)) return hide(section.id);
  if (!section.needs && state.paths && !state.paths.has(section.path)) return hide(section.id);
  try {
    if (section.load) {
      const { key, nodes } = await section.load(section);
      return show(section.id, nodes, key);
    }
    const body = await getJSON(section.path + (section.query ?? ""));
    if (section.hideWhen?.(body)) return hide(section.id);
    show(section.id, () => section.render(body), JSON.stringify(body));
  } catch (error) {
    if (error instanceof Missing) return hide(section.id);
    throw error;
  }
}

async function refresh() {
  if (state.busy) return;
  state.busy = true;
  try {
    const health = await getJSON("/performance/health", { open: true });
    renderHealth(health);
    if (!state.paths) {
      const doc = await getJSON("/performance/openapi.json", { open: true });
      state.paths = new Set(Object.keys(doc.paths ?? {}));
    }
    const types = new Set((health.processors ?? []).map((id) => id.split("/")[0]));
    for (const section of SECTIONS) await refreshSection(section, types);
    $("error").hidden = true;
    $("token-form").hidden = true;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "true";
  } catch (error) {
    if (error instanceof Unauthorized) {
      askToken(sessionStorage.getItem(TOKEN_KEY) ? "That token was refused." : "");
    } else {
      $("error").textContent = `Could not load: ${error.message}`;
      $("error").hidden = false;
    }
  } finally {
    state.busy = false;
  }
}

function renderHealth(health) {
  const status = $("status");
  status.textContent = health.status;
  status.className = `pill ${{ ok: "ok", degraded: "warn", critical: "bad" }[health.status] ?? ""}`;
  const reasons = (health.reasons ?? []).map((r) => (typeof r === "string" ? r : r.text ?? ""));
  $("reasons").textContent = reasons.slice(0, 3).join(" · ") + (reasons.length > 3 ? ` (+${reasons.length - 3})` : "");
  $("reasons").title = reasons.join("\n");
}

function askToken(message) {
  stop();
  $("token-form").hidden = false;
  $("token-error").textContent = message;
  $("token-input").focus();
}

function interval() {
  return Number($("interval").value);
}

function start() {
  stop();
  if (document.hidden || !$("token-form").hidden) return;
  refresh();
  const seconds = interval();
  if (seconds > 0) state.timer = setInterval(() => { if (!document.hidden) refresh(); }, seconds * 1000);
}

function stop() {
  if (state.timer !== null) clearInterval(state.timer);
  state.timer = null;
}

function setUp() {
  const wanted = new URLSearchParams(location.search).get("refresh");
  if (wanted !== null && [...$("interval").options].some((o) => o.value === wanted)) $("interval").value = wanted;
  $("interval").addEventListener("change", start);
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
    $("token-input").value = "";
    $("token-form").hidden = true;
    state.rendered.clear();
    start();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("token-error").textContent = "Token forgotten.";
  });
  $("token-button").addEventListener("click", () => askToken(""));
  document.addEventListener("visibilitychange", () => (document.hidden ? stop() : start()));
  start();
}

setUp();
