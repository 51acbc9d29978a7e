// Incidents first: one row per open incident (what broke, since when, why, what to do) with
// a timeline of its members, each placed by when it started.
import { empty, h, nsTime, severityPill } from "./dom.js";

const MAX_INCIDENTS = 6;

export function renderIncidents(body) {
  const open = body.open ?? [];
  if (!open.length) {
    return [empty("No open incidents. Findings that share a service, route, statement or resource, "
      + "overlap in time and explain one another along the call graph are grouped here, with a probable cause.")];
  }
  return [
    ...open.slice(0, MAX_INCIDENTS).map(incidentCard),
    open.length > MAX_INCIDENTS ? h("p", { class: "muted small", text: `${open.length - MAX_INCIDENTS} more: otel-perf incidents` }) : null,
  ];
}

function incidentCard(incident) {
  const cause = incident.probable_cause ?? {};
  const reasons = cause.reasoning?.reasons ?? [];
  return h("article", { class: "incident", "data-testid": "incident" },
    h("p", {},
      severityPill(incident.severity), " ",
      h("strong", { text: incident.title ?? incident.id }), " ",
      h("span", { class: "muted small", text: `${incident.id} · since ${nsTime(incident.start_ns)}` })),
    h("p", { class: "small", text: `Probable cause: ${cause.summary ?? cause.subject ?? ""}` }),
    h("p", { class: "muted small", text: `Why: ${reasons.join("; ")}` }),
    h("p", { class: "small" }, h("strong", { text: "Do: " }), incident.action ?? ""),
    timeline(incident));
}

// members on one time axis from the incident's start to its last report
function timeline(incident) {
  const members = incident.members ?? [];
  const start = Number(incident.start_ns);
  const span = Math.max(Number(incident.last_ns) - start, 1);
  const causeKey = incident.probable_cause?.key;
  return h("ol", { class: "timeline", "data-testid": "incident-timeline" }, members.map((m) => {
    const left = Math.min(100, Math.max(0, ((Number(m.start_ns) - start) / span) * 100));
    const tick = h("span", { class: "tick" });
    tick.style.marginLeft = `${left.toFixed(1)}%`; // CSSOM, allowed by the page's CSP
    return h("li", { class: m.key === causeKey ? "cause" : "" },
      tick,
      h("span", { class: "small", text: `${nsTime(m.start_ns)} ${m.kind.replaceAll("_", " ")} · ${m.service} ${m.subject}` }));
  }));
}
