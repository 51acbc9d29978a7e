// One renderer per section: API JSON in, DOM nodes out (nothing here fetches).
import { barChart, lineChart, rangeGauge, shortTime, stackBar } from "./chart.js";

export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

export const pct = (v, digits = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(digits)} %` : "–");
export const ms = (v) => (Number.isFinite(v) ? `${v >= 100 ? v.toFixed(0) : v.toPrecision(3)} ms` : "–");
const num = (v, digits = 3) => (Number.isFinite(v) ? Number(v).toPrecision(digits) : "–");
const nsTime = (ns) => (ns ? shortTime(Number(ns) / 1e6) : "–");

function table(headers, rows, testid) {
  return h(
    "table",
    { "data-testid": testid },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { text: x })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node ? h("td", {}, c) : h("td", { text: c })))))),
  );
}

const empty = (text) => h("p", { class: "muted empty", text });

// -- SLOs -------------------------------------------------------------------------------
export function renderSLO(body) {
  const objectives = body.objectives ?? [];
  if (!objectives.length) return [empty("No objectives evaluated yet.")];
  return objectives.map(sloCard);
}

function sloCard(o) {
  const budget = o.budget ?? {};
  const remaining = budget.error_budget_remaining;
  const state = budget.exhausted ? "bad" : remaining < 0.25 ? "warn" : "ok";
  const firing = Object.entries(o.alerts ?? {}).filter(([, a]) => a.firing).map(([s]) => s);
  const what = o.kind === "latency" ? `${o.kind} ≤ ${o.threshold_ms} ms` : o.kind;
  const history = (o.budget_history ?? []).map((p) => ({ t: p.time_ns / 1e6, y: p.error_budget_remaining }));
  const chart = history.length
    ? lineChart({
        testid: "slo-chart",
        title: `${o.name} error budget remaining`,
        lines: [{ points: history, cls: state }],
        thresholds: [{ y: 0, label: "budget exhausted", cls: "bad" }],
        formatY: (v) => pct(v, 0),
        height: 170,
      })
    : empty("No events in the window yet.");
  return h(
    "article",
    { class: `card slo ${state}`, "data-testid": "slo-card", "data-objective": o.name },
    h("header", {},
      h("h3", { text: o.name }),
      h("span", { class: "muted", text: `${o.service}${o.operation ? ` · ${o.operation}` : ""} · ${what} · ${o.window}` }),
      ...firing.map((s) => h("span", { class: "pill bad", text: `${s} firing` })),
      o.breached ? h("span", { class: "pill warn", text: "breached" }) : null,
    ),
    h("div", { class: "figures" },
      figure("target", pct(o.target, 2)),
      figure("SLI", pct(budget.sli, 2)),
      figure("budget remaining", pct(remaining), state, "budget-remaining"),
      figure("burn rate", num(budget.burn_rate), null),
      figure("events", `${budget.good ?? 0} good / ${budget.total ?? 0}`),
    ),
    h("div", { class: "split" },
      h("div", {}, h("h4", { text: "error budget burn-down (window to date)" }), chart),
      h("div", {}, h("h4", { text: "burn rate per alert window" }), burnBars(o.rules ?? [])),
    ),
    budget.status ? h("p", { class: "muted", text: budget.status }) : null,
  );
}

function figure(label, value, cls = null, testid = null) {
  return h("div", { class: `figure ${cls ?? ""}` },
    h("span", { class: "label", text: label }),
    h("span", { class: "value", text: value, "data-testid": testid }));
}

function burnBars(rules) {
  if (!rules.length) return empty("No burn-rate rules.");
  const rows = rules.flatMap((r) => ["long", "short"].map((side) => ({
    label: `${r.severity} ${r[side].window} (alert at ${r.threshold}×)`,
    value: r[side].burn_rate,
    text: `${num(r[side].burn_rate)}×`,
    cls: r[side].burn_rate >= r.threshold ? "bad" : "ok",
  })));
  return barChart(rows, { testid: "burn-chart", labelWidth: 220 });
}

// -- RED --------------------------------------------------------------------------------
export function renderRED(body) {
  const rows = body.red ?? [];
  if (!rows.length) return [empty("No span metrics yet.")];
  const sorted = [...rows].sort((a, b) => a.service.localeCompare(b.service) || b.rate_per_s - a.rate_per_s);
  return [table(
    ["service", "operation", "rate /s", "errors", "p50", "p95", "p99"],
    sorted.slice(0, 40).map((r) => [
      r.service, r.operation, num(r.rate_per_s), pct(r.error_ratio, 2), ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms),
    ]),
    "red-table",
  )];
}

// -- bottlenecks ------------------------------------------------------------------------
export function renderBottlenecks(body) {
  const ranking = (body.ranking ?? []).slice(0, 8);
  if (!ranking.length) return [empty("No traces analysed yet.")];
  const out = [barChart(ranking.map((r) => ({
    label: `${r.service} · ${r.operation}`,
    value: r.critical_path_share,
    text: `${pct(r.critical_path_share)} · self ${ms(r.self_time_ms)}`,
  })), { testid: "bottleneck-chart", max: 1 })];
  const slow = (body.slow_requests ?? [])[0];
  if (slow && slow.critical_path?.length) {
    out.push(h("h4", { text: `Critical path of the slowest ${slow.service} ${slow.route} (${ms(slow.worst_ms)}; trace ${(slow.exemplar_trace_ids ?? [])[0] ?? "–"})` }));
    out.push(stackBar(slow.critical_path.map((s) => ({
      label: `${s.service} · ${s.operation}`, share: s.share, text: `${ms(s.ms)} (${pct(s.share)})`,
    })), { testid: "critical-path" }));
    out.push(h("ol", { class: "legend" }, slow.critical_path.map((s, i) => h("li", {},
      h("span", { class: `swatch seg${i % 6}` }), `${s.service} · ${s.operation} — ${ms(s.ms)} (${pct(s.share)})`))));
  } else if (ranking[0].exemplar_trace_ids?.length) {
    out.push(h("p", { class: "muted", text: `Exemplar traces of the top operation: ${ranking[0].exemplar_trace_ids.join(", ")}` }));
  }
  const queries = (body.slow_queries ?? []).slice(0, 5);
  if (queries.length) {
    out.push(h("h4", { text: "Slow queries" }));
    out.push(table(["service", "query", "count", "p50", "p95"],
      queries.map((q) => [q.service, h("code", { text: q.fingerprint }), String(q.count), ms(q.p50_ms), ms(q.p95_ms)]), "slow-queries"));
  }
  return out;
}

// -- anomalies --------------------------------------------------------------------------
export function renderAnomalies(body) {
  const open = Object.values(body.processors ?? {}).flatMap((p) => p.open_episodes ?? []);
  if (!open.length) return [empty("No open anomalies.")];
  return open.slice(0, 10).map((a) => {
    // the processor's ring buffer: each scored point with the band it was judged against
    const history = (a.history ?? []).map((p) => ({ ...p, t: p.t * 1000 }));
    const chart = history.length
      ? lineChart({
          testid: "anomaly-chart",
          title: `${a.series}: value and expected band`,
          lines: [{ points: history.map((p) => ({ t: p.t, y: p.value })), cls: "value" }],
          band: history.map((p) => ({ t: p.t, lo: p.lower, hi: p.upper })),
          marker: { t: history[history.length - 1].t, y: history[history.length - 1].value },
          height: 160,
        })
      : empty("No scored points kept yet.");
    return h("article", { class: "card anomaly", "data-testid": "anomaly-card", "data-series": a.series },
      h("header", {}, h("h3", { text: a.series }),
        h("span", { class: "pill bad", text: `${a.episode?.direction ?? ""} since ${nsTime(a.episode?.start_ns)}` })),
      h("p", {}, `value ${num(a.value, 4)}, expected ${num(a.expected_low, 4)} – ${num(a.expected_high, 4)}, peak score ${num(a.episode?.max_score, 4)}`),
      chart,
      h("p", { class: "muted small", text: `last ${history.length} scored points (line), the expected band each was judged against (shaded), the latest value (dot)` }),
      rangeGauge({ lo: a.expected_low, hi: a.expected_high, value: a.value, testid: "anomaly-gauge" }),
    );
  });
}

// -- capacity ---------------------------------------------------------------------------
export function renderCapacity(dashboard, forecasts) {
  const resources = Object.values(dashboard.resources ?? {});
  if (!resources.length) return [empty("No usage recorded yet.")];
  const cards = [];
  for (const r of resources) {
    const fc = forecasts.get(r.name);
    const fmt = r.unit === "1" ? (v) => pct(v, 0) : (v) => num(v, 3);
    const thresholds = (r.thresholds ?? []).map((t) => ({ y: t.threshold, label: `threshold ${t.label}`, cls: "bad" }));
    const crossing = (r.thresholds ?? []).find((t) => t.crosses);
    let chart = empty(r.reason || "Not forecast yet.");
    if (fc?.points?.length) {
      chart = lineChart({
        testid: "forecast-chart",
        title: `${r.name} forecast`,
        lines: [
          { points: (fc.history ?? []).map((p) => ({ t: p.t * 1000, y: p.mean })), cls: "usage" },
          { points: fc.points.map((p) => ({ t: p.t * 1000, y: p.mean })), cls: "forecast" },
        ],
        band: fc.points.map((p) => ({ t: p.t * 1000, lo: p.lower, hi: p.upper })),
        thresholds,
        marker: Number.isFinite(r.current) ? { t: fc.points[0].t * 1000, y: r.current } : null,
        formatY: fmt,
        height: 180,
      });
    }
    cards.push(h("article", { class: "card capacity", "data-testid": "capacity-card", "data-resource": r.name },
      h("header", {}, h("h3", { text: r.name }), h("span", { class: "muted", text: `${r.kind} · trend ${r.trend}` })),
      h("div", { class: "figures" },
        figure("current", fmt(r.current)),
        figure("p90", fmt(r.p90)),
        figure("history", `${num(r.history_days, 2)} d`),
        figure("method", r.forecast?.method ?? "–"),
        figure(crossing ? `crosses ${crossing.label}` : "threshold", crossing ? `${crossing.at ?? crossing.earliest}` : "not within the forecast", crossing ? "warn" : "ok"),
      ),
      chart,
      fc?.points?.length ? h("p", { class: "muted small", text: `grey: recorded usage; blue: forecast mean with its ${pct(r.forecast?.level ?? 0.9, 0)} interval; dot: current usage` }) : null,
    ));
  }
  return cards;
}

// -- regressions --------------------------------------------------------------------------
export function renderRegression(body) {
  const out = [];
  const comparisons = body.version_comparisons ?? [];
  const verdicts = (body.baselines ?? []).filter((b) => b.last_run);
  const points = body.change_points ?? [];
  if (comparisons.length) {
    out.push(h("h4", { text: "Version comparisons" }));
    out.push(table(["service", "operation", "versions", "verdict", "shift"], comparisons.map((c) => [
      c.service, c.operation, `${c.old_version} → ${c.new_version}`, c.outcome, pct(c.verdict?.relative_shift),
    ]), "version-table"));
  }
  if (verdicts.length) {
    out.push(h("h4", { text: "Baseline tests" }));
    out.push(table(["baseline", "verdict", "shift", "p-value"], verdicts.map((b) => [
      b.name, b.last_run.outcome, pct(b.last_run.verdict?.relative_shift), num(b.last_run.verdict?.p_value),
    ]), "verdict-table"));
  }
  if (points.length) {
    out.push(h("h4", { text: "Change points (p95)" }));
    out.push(table(["series", "at", "before", "after"], points.slice(-10).reverse().map((p) => [
      p.series, shortTime(p.time_s * 1000), ms(p.before_ms), ms(p.after_ms),
    ]), "changepoint-table"));
  }
  if (!out.length) out.push(empty(`No verdicts yet; ${(body.baselines ?? []).length} baselines.`));
  return out;
}

// -- recommendations and caches (shown when the API has them) ---------------------------
export function renderRecommendations(body) {
  const items = body.recommendations ?? [];
  if (!items.length) return [empty("No recommendations: nothing to act on.")];
  return [table(["#", "severity", "action", "service", "impact"], items.slice(0, 10).map((r) => [
    String(r.rank), h("span", { class: `pill ${{ critical: "bad", warning: "warn" }[r.severity] ?? ""}`, text: r.severity }),
    h("span", {}, h("strong", { text: r.action ?? "" }), h("br"), h("span", { class: "muted small", text: r.finding?.summary ?? r.subject ?? "" })),
    r.service ?? "", r.impact?.text ?? "",
  ]), "recommendations-table")];
}

export function renderCache(body) {
  const caches = body.caches ?? [];
  if (!caches.length) return [empty("No cache telemetry yet.")];
  return [table(["service", "cache", "hit ratio", "requests"], caches.slice(0, 30).map((c) => [
    c.service ?? "", c.cache ?? c.name ?? "", pct(c.hit_ratio), String(c.requests ?? c.total ?? ""),
  ]), "cache-table")];
}
