// One renderer per section: API JSON in, DOM nodes out (nothing here fetches).
import { barChart, lineChart, rangeGauge, shortTime, stackBar } from "./chart.js";
import { duration, empty, h, ms, nsTime, num, pct, table } from "./dom.js";

// -- RED --------------------------------------------------------------------------------
export function renderRED(body) {
  const rows = body.red ?? [];
  if (!rows.length) return [empty("No span metrics yet: RED appears once the first 10-second interval of spans closes.")];
  const sorted = [...rows].sort((a, b) => a.service.localeCompare(b.service) || b.rate_per_s - a.rate_per_s);
  return [table(
    ["service", "operation", "rate /s", "errors", "p50", "p95", "p99"],
    sorted.slice(0, 40).map((r) => [
      r.service, r.operation, num(r.rate_per_s), pct(r.error_ratio, 2), ms(r.p50_ms), ms(r.p95_ms), ms(r.p99_ms),
    ]),
    "red-table",
  )];
}

// -- instrumentation ----------------------------------------------------------------------
const SIGNALS = ["traces", "metrics", "logs"];
const KINDS = ["server", "client", "db", "messaging", "internal"];

export function renderInstrumentation(body) {
  const view = body.instrumentation;
  const services = Object.entries(view?.services ?? {});
  if (!services.length) return [empty("No telemetry received yet: each service is listed with its first span, metric point or log record.")];
  const seen = (entry) => (entry ? String(entry.count) : "–");
  const out = [table(["service", ...SIGNALS, ...KINDS.map((k) => `${k} spans`), "verdict"],
    services.map(([name, row]) => [
      name,
      ...SIGNALS.map((s) => seen(row.signals?.[s])),
      ...KINDS.map((k) => seen(row.spans?.[k])),
      h("span", {},
        h("span", { class: `pill ${{ gap: "warn", ok: "ok" }[row.verdict?.state] ?? ""}`, text: row.verdict?.state ?? "?" }),
        " ", h("span", { class: "small", text: row.verdict?.text ?? "" })),
    ]), "instrumentation-table")];
  const dropped = Object.entries(view.overflowed ?? {}).filter(([, n]) => n > 0);
  if (dropped.length) out.push(h("p", { class: "muted small", text: `past ${view.limit} services, counted only: ${dropped.map(([s, n]) => `${n} ${s}`).join(", ")}` }));
  out.push(h("p", { class: "muted small", text: `"gap": server spans but no client, DB or messaging span for ${duration(view.window_s)} while server time is long — a database driver or HTTP client may not be instrumented.` }));
  return out;
}

// -- bottlenecks ------------------------------------------------------------------------
export function renderBottlenecks(body) {
  const ranking = (body.ranking ?? []).slice(0, 8);
  if (!ranking.length) return [empty("No traces analysed yet: traces are analysed once complete (quiet for a few seconds), every evaluation interval (1 min by default).")];
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
  if (!open.length) return [empty("No open anomalies. Series are scored after the detector's warm-up (warm_up points per series).")];
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
      : empty("No scored points kept yet: the chart fills with each point scored from now on.");
    return h("article", { class: "card anomaly", "data-testid": "anomaly-card", "data-series": a.series },
      h("header", {}, h("h3", { text: a.series }),
        h("span", { class: "pill bad", text: `${a.episode?.direction ?? ""} since ${nsTime(a.episode?.start_ns)}` })),
      h("p", {}, `value ${num(a.value, 4)}, expected ${num(a.expected_low, 4)} – ${num(a.expected_high, 4)}, peak score ${num(a.episode?.max_score, 4)}, judged by ${a.model ?? "?"}`),
      chart,
      h("p", { class: "muted small", text: `last ${history.length} scored points (line), the expected band each was judged against (shaded), the latest value (dot)` }),
      rangeGauge({ lo: a.expected_low, hi: a.expected_high, value: a.value, testid: "anomaly-gauge" }),
    );
  });
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
  if (!out.length) {
    out.push(empty(`No verdicts yet (${(body.baselines ?? []).length} baselines): a version comparison runs when a `
      + "service reports a new service.version with enough requests; change points need a few hours of p95 history."));
  }
  return out;
}

// -- caches -------------------------------------------------------------------------------
export function renderCache(body) {
  const caches = body.caches ?? [];
  if (!caches.length) return [empty("No cache telemetry yet: caches appear with the first cache events from otel_perf.cache or cache spans.")];
  return [table(["service", "cache", "hit ratio", "requests"], caches.slice(0, 30).map((c) => [
    c.service ?? "", c.cache ?? c.name ?? "", pct(c.hit_ratio), String(c.requests ?? c.total ?? ""),
  ]), "cache-table")];
}
