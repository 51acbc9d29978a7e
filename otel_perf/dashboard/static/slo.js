// SLOs as one compact table: a row per objective (budget, burn, alert state) that expands
// to its burn-down and its burn rates on the shared log scale.
import { lineChart, logBars } from "./chart.js";
import { empty, figure, h, num, pct } from "./dom.js";

const expanded = new Set(); // objectives the user opened, kept across refreshes

export function renderSLO(body) {
  const objectives = [...(body.objectives ?? [])].sort((a, b) => urgency(a) - urgency(b) || a.name.localeCompare(b.name));
  if (!objectives.length) {
    return [empty("No objectives evaluated yet: zero-config objectives are suggested per service once its "
      + "server spans arrive, and each objective is evaluated after its first minute of events.")];
  }
  return [
    h("div", { class: "slo-head", "aria-hidden": "true" },
      ["objective", "target", "SLI", "budget left", "burn rate", "alerts"].map((t) => h("span", { text: t }))),
    ...objectives.map(sloRow),
    h("p", { class: "muted small", text: "Click an objective for its error-budget burn-down and burn rate per alert window." }),
  ];
}

function urgency(o) {
  const firing = Object.values(o.alerts ?? {}).some((a) => a.firing);
  const remaining = o.budget?.error_budget_remaining ?? 1;
  return (firing ? 0 : o.budget?.exhausted ? 1 : 2) + Math.min(1, Math.max(0, remaining)) * 0.5;
}

function stateOf(budget) {
  const remaining = budget.error_budget_remaining;
  return budget.exhausted ? "bad" : remaining < 0.25 ? "warn" : "ok";
}

function sloRow(o) {
  const budget = o.budget ?? {};
  const state = stateOf(budget);
  const firing = Object.entries(o.alerts ?? {}).filter(([, a]) => a.firing).map(([s]) => s);
  const what = o.kind === "latency" ? `${o.kind} ≤ ${o.threshold_ms} ms` : o.kind;
  const details = h("details", { class: `slo-row ${state}`, "data-testid": "slo-card", "data-objective": o.name, open: expanded.has(o.name) },
    h("summary", { class: "slo-line" },
      h("span", { class: "name" }, h("strong", { text: o.name }), h("br"),
        h("span", { class: "muted small", text: `${o.service}${o.operation ? ` · ${o.operation}` : ""} · ${what} · ${o.window}` })),
      h("span", { text: pct(o.target, 2) }),
      h("span", { text: pct(budget.sli, 2) }),
      h("span", { class: `value ${state}`, "data-testid": "budget-remaining", text: pct(budget.error_budget_remaining) }),
      h("span", { text: `${num(budget.burn_rate)}×` }),
      h("span", {}, firing.length
        ? firing.map((s) => h("span", { class: "pill bad", text: `${s} firing` }))
        : h("span", { class: "pill ok", text: o.breached ? "breached" : "ok" })),
    ),
    h("div", { class: "slo-body" }));
  // charts are drawn when opened (a closed row costs nothing)
  const draw = () => {
    if (details.open) expanded.add(o.name); else expanded.delete(o.name);
    const body = details.querySelector(".slo-body");
    if (details.open && !body.childElementCount) body.append(...sloCharts(o, state));
  };
  details.addEventListener("toggle", draw);
  if (details.open) draw();
  return details;
}

function sloCharts(o, state) {
  const budget = o.budget ?? {};
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
    : empty("No events in the window yet: the burn-down starts with the objective's first evaluated minute.");
  return [
    h("div", { class: "figures" },
      figure("events", `${budget.good ?? 0} good / ${budget.total ?? 0}`),
      figure("budget consumed", pct(budget.error_budget_consumed)),
    ),
    h("div", { class: "split" },
      h("div", {}, h("h4", { text: "error budget burn-down (window to date)" }), chart),
      h("div", {}, h("h4", { text: "burn rate per alert window (log scale; tick = alert threshold)" }), burnBars(o.rules ?? [])),
    ),
    budget.status ? h("p", { class: "muted", text: budget.status }) : null,
  ];
}

export function burnBars(rules) {
  if (!rules.length) return empty("No burn-rate rules: this objective has no alert windows configured.");
  const rows = rules.flatMap((r) => ["long", "short"].map((side) => ({
    label: `${r.severity} ${r[side].window} · alert ${burnLabel(r.threshold)}`,
    value: r[side].burn_rate,
    threshold: r.threshold,
    text: burnLabel(r[side].burn_rate),
    cls: r[side].burn_rate >= r.threshold ? "bad" : "ok",
  })));
  return logBars(rows, { testid: "burn-chart", format: burnLabel });
}

export const burnLabel = (v) => (Number.isFinite(v) ? `${Number(v.toPrecision(v >= 1 ? 3 : 2))}×` : "–");
