// Capacity: every recorded resource at once (usage with its unit, right-sizing, when its
// forecast starts), then the forecast charts of the resources that have one.
import { lineChart } from "./chart.js";
import { amount, duration, empty, figure, h, pct, table } from "./dom.js";

export function renderCapacity(dashboard, forecasts) {
  const resources = Object.values(dashboard.resources ?? {});
  if (!resources.length) {
    return [empty("No usage recorded yet. CPU and memory arrive with host, container or k8s metrics "
      + "(the embedded config's hostmetrics receiver samples every 10 s) and request rates with span "
      + "metrics each minute; a resource is listed with its first sample. Forecasts start once a "
      + "resource has 6 h of history (min_history).")];
  }
  const out = [table(["resource", "kind", "current", "p90", "history", "right-size target", "forecast"],
    resources.map((r) => [
      h("code", { text: r.name }), r.kind, amount(r.current, r.unit), amount(r.p90, r.unit),
      duration((r.history_days ?? 0) * 86400), sizing(r.rightsizing), forecastState(r),
    ]), "capacity-usage")];
  const charted = resources.filter((r) => forecasts.get(r.name)?.points?.length);
  if (!charted.length) {
    const soonest = Math.min(...resources.map((r) => r.forecast_in_s ?? Infinity));
    out.push(empty(Number.isFinite(soonest)
      ? `No forecasts yet: they need ${duration(resources[0].min_history_s ?? 21600)} of history; the first starts in about ${duration(soonest)} of telemetry.`
      : "No forecasts yet: each resource is forecast once it has min_history of usage."));
  }
  if (charted.length) out.push(h("div", { class: "capacity-charts" }, charted.map((r) => forecastCard(r, forecasts.get(r.name)))));
  return out;
}

function sizing(rec) {
  if (!rec) return "–";
  const text = rec.text ?? {};
  const absolute = rec.absolute?.text?.target;
  return `${text.target ?? "–"}${absolute ? ` (${absolute})` : ""}${rec.status && rec.status !== "unknown" ? ` · ${rec.status}` : ""}`;
}

function forecastState(r) {
  if (!r.forecast) {
    return r.forecast_in_s > 0 ? `starts in ${duration(r.forecast_in_s)} (needs ${duration(r.min_history_s)} of history)` : (r.reason || "not yet");
  }
  const crossing = (r.thresholds ?? []).find((t) => t.crosses);
  return crossing ? `crosses ${crossing.label} ${crossing.at?.slice(0, 16).replace("T", " ") ?? ""}` : `trend ${r.trend}, no threshold crossed`;
}

function forecastCard(r, fc) {
  const fmt = (v) => amount(v, r.unit);
  const thresholds = (r.thresholds ?? []).map((t) => ({ y: t.threshold, label: `threshold ${t.label}`, cls: "bad" }));
  const crossing = (r.thresholds ?? []).find((t) => t.crosses);
  const chart = lineChart({
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
  return h("article", { class: "card capacity", "data-testid": "capacity-card", "data-resource": r.name },
    h("header", {}, h("h3", { text: r.name }), h("span", { class: "muted", text: `${r.kind} · trend ${r.trend}` })),
    h("div", { class: "figures" },
      figure("current", fmt(r.current)),
      figure("p90", fmt(r.p90)),
      figure("method", r.forecast?.method ?? "–"),
      figure(crossing ? `crosses ${crossing.label}` : "threshold", crossing ? `${crossing.at ?? crossing.earliest}` : "not within the forecast", crossing ? "warn" : "ok"),
    ),
    chart,
    h("p", { class: "muted small", text: `grey: recorded usage; blue: forecast mean with its ${pct(r.forecast?.level ?? 0.9, 0)} interval; dot: current usage` }),
  );
}
