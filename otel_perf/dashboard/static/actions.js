// What to do first: the ranked recommendations and the open findings behind them.
import { empty, h, nsTime, severityPill, table } from "./dom.js";

const MAX_RECOMMENDATIONS = 8;
const MAX_FINDINGS = 12;
//: finding kinds listed as open findings (episodes and per-window verdicts a person acts on)
export const OPEN_KINDS = [
  "n_plus_one", "slow_query", "bottleneck_identified", "regression_detected", "anomaly_detected",
  "burn_rate_alert", "slo_violation", "capacity_forecast",
];
const KIND_LABEL = {
  n_plus_one: "N+1", slow_query: "slow query", bottleneck_identified: "bottleneck",
  regression_detected: "regression", anomaly_detected: "anomaly", burn_rate_alert: "burn rate",
  slo_violation: "SLO", capacity_forecast: "capacity",
};
const RANK = { critical: 0, warning: 1, info: 2 };

export function renderRecommendations(body) {
  const items = body.recommendations ?? [];
  if (!items.length) {
    return [empty("Nothing to act on. Recommendations come from findings: bottlenecks and slow queries "
      + "after the first traces are analysed (about a minute of traffic), SLO burn, anomalies, "
      + "regressions and capacity once they have history.")];
  }
  return [table(["#", "severity", "action", "service", "impact"], items.slice(0, MAX_RECOMMENDATIONS).map((r) => [
    String(r.rank), severityPill(r.severity),
    h("span", {}, h("strong", { text: r.action ?? "" }), h("br"), h("span", { class: "muted small", text: r.finding?.summary ?? r.subject ?? "" })),
    r.service ?? "", r.impact?.text ?? "",
  ]), "recommendations-table"),
  items.length > MAX_RECOMMENDATIONS ? h("p", { class: "muted small", text: `${items.length - MAX_RECOMMENDATIONS} more: otel-perf recommendations` }) : null];
}

/** The newest version of each finding (by key), without resolved ones, most urgent first. */
export function openFindings(findings) {
  const newest = new Map();
  for (const f of findings) {
    const key = `${f.kind}\u001f${f.service}\u001f${f.subject}\u001f${f.source}`;
    const seen = newest.get(key);
    if (!seen || Number(f.time_ns) >= Number(seen.time_ns)) newest.set(key, f);
  }
  return [...newest.values()]
    .filter((f) => f.state !== "resolved" && OPEN_KINDS.includes(f.kind))
    .sort((a, b) => (RANK[a.severity] ?? 3) - (RANK[b.severity] ?? 3) || Number(b.time_ns) - Number(a.time_ns));
}

export function renderOpenFindings(body) {
  const open = openFindings(body.findings ?? []);
  if (!open.length) {
    return [empty("No open findings. Bottlenecks, N+1 patterns and slow queries appear once traces are "
      + "analysed (about a minute of traffic); anomalies after the detector's warm-up; regressions "
      + "when a baseline or a new version has enough requests.")];
  }
  const perKind = new Map();
  for (const f of open) perKind.set(f.kind, (perKind.get(f.kind) ?? 0) + 1);
  const counts = [...perKind].map(([kind, n]) => `${n} ${KIND_LABEL[kind] ?? kind}`).join(" · ");
  return [
    counts ? h("p", { class: "muted small", "data-testid": "finding-counts", text: counts }) : null,
    table(["severity", "kind", "service", "finding", "since"], open.slice(0, MAX_FINDINGS).map((f) => [
      severityPill(f.severity), KIND_LABEL[f.kind] ?? f.kind, f.service,
      findingDetails(f), nsTime(f.time_ns),
    ]), "findings-table"),
  ];
}

// the summary, with every attribute the finding carries one click away (an anomaly's
// expected band and model, a query's fingerprint, a regression's test)
function findingDetails(f) {
  const attributes = Object.entries(f.attributes ?? {});
  return h("details", { class: "finding" },
    h("summary", { text: f.summary ?? f.subject }),
    h("dl", { class: "attributes" }, attributes.flatMap(([k, v]) => [
      h("dt", { text: k }), h("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }),
    ])));
}
