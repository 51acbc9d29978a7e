// DOM and number helpers shared by the section renderers (nothing here fetches).
import { shortTime } from "./chart.js";

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
export const num = (v, digits = 3) => (Number.isFinite(v) ? Number(v).toPrecision(digits) : "–");
export const nsTime = (ns) => (ns ? shortTime(Number(ns) / 1e6) : "–");

const BINARY = [["TiB", 2 ** 40], ["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]];

/** A value in its OTel unit as people read it: 1 → %, By → MiB, {cpu} → cores, 1/s → /s. */
export function amount(v, unit) {
  if (!Number.isFinite(v)) return "–";
  if (unit === "1") return pct(v);
  if (unit === "By") {
    const [name, size] = BINARY.find(([, s]) => Math.abs(v) >= s) ?? ["B", 1];
    return `${(v / size).toFixed(name === "B" ? 0 : 1)} ${name}`;
  }
  if (unit === "{cpu}") return Math.abs(v) < 1 ? `${(v * 1000).toFixed(0)}m cores` : `${v.toPrecision(3)} cores`;
  if (unit === "1/s") return `${num(v)} /s`;
  return unit ? `${num(v)} ${unit}` : num(v);
}

/** A duration in seconds as "45 s", "12 min", "3.5 h". */
export function duration(seconds) {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(0)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function table(headers, rows, testid) {
  return h(
    "table",
    { "data-testid": testid },
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { text: x })))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => (c instanceof Node ? h("td", {}, c) : h("td", { text: c })))))),
  );
}

/** An empty state: what is missing, why, and when it fills. */
export const empty = (text) => h("p", { class: "muted empty", "data-testid": "empty", text });

export function figure(label, value, cls = null, testid = null) {
  return h("div", { class: `figure ${cls ?? ""}` },
    h("span", { class: "label", text: label }),
    h("span", { class: "value", text: value, "data-testid": testid }));
}

export const severityPill = (severity) =>
  h("span", { class: `pill ${{ critical: "bad", warning: "warn" }[severity] ?? ""}`, text: severity });
