// Small inline-SVG charts: a time line with an optional band and threshold lines, and bars.
// No library: every element is created here, sized by viewBox so it scales with its box.

const NS = "http://www.w3.org/2000/svg";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(key, String(value));
  }
  for (const child of children) {
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function extent(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  if (!finite.length) return [0, 1];
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (lo === hi) {
    const pad = Math.abs(lo) * 0.1 || 1;
    lo -= pad;
    hi += pad;
  }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

function ticks(lo, hi, count) {
  const step = (hi - lo) / count;
  return Array.from({ length: count + 1 }, (_, i) => lo + i * step);
}

// round steps (1, 2, 2.5 or 5 × 10^n) inside [lo, hi], for the value axis
function niceTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * power).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function path(points) {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

/**
 * A line over time with an optional band and horizontal threshold lines.
 *
 * spec = {testid, title, lines: [{points: [{t, y}], cls, label}], band: [{t, lo, hi}],
 *         thresholds: [{y, label, cls}], formatY, formatT, width, height, marker: {t, y}}
 */
export function lineChart(spec) {
  const width = spec.width ?? 560;
  const height = spec.height ?? 200;
  const m = { left: 58, right: 12, top: 12, bottom: 26 };
  const lines = spec.lines ?? [];
  const band = spec.band ?? [];
  const thresholds = spec.thresholds ?? [];
  const ts = [...lines.flatMap((l) => l.points.map((p) => p.t)), ...band.map((b) => b.t)];
  const ys = [
    ...lines.flatMap((l) => l.points.map((p) => p.y)),
    ...band.flatMap((b) => [b.lo, b.hi]),
    ...thresholds.map((t) => t.y),
    ...(spec.marker ? [spec.marker.y] : []),
  ];
  const [t0, t1] = ts.length ? [Math.min(...ts), Math.max(...ts)] : [0, 1];
  const [y0, y1] = extent(ys);
  const sx = (t) => m.left + ((t - t0) / (t1 - t0 || 1)) * (width - m.left - m.right);
  const sy = (y) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const fy = spec.formatY ?? ((v) => v.toPrecision(3));
  const ft = spec.formatT ?? shortTime;
  const svg = el("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": spec.title ?? "chart",
    "data-testid": spec.testid,
  });
  for (const y of niceTicks(y0, y1, 4)) {
    svg.append(el("line", { class: "grid", x1: m.left, x2: width - m.right, y1: sy(y), y2: sy(y) }));
    svg.append(el("text", { class: "axis", x: m.left - 6, y: sy(y) + 4, "text-anchor": "end" }, fy(y)));
  }
  for (const t of ticks(t0, t1, 3)) {
    svg.append(el("text", { class: "axis", x: sx(t), y: height - 8, "text-anchor": "middle" }, ft(t)));
  }
  if (band.length > 1) {
    const upper = band.map((b) => [sx(b.t), sy(b.hi)]);
    const lower = band.map((b) => [sx(b.t), sy(b.lo)]).reverse();
    svg.append(el("path", { class: "band", d: `${path(upper)}L${path(lower).slice(1)}Z` }));
  }
  for (const th of thresholds) {
    const y = sy(th.y);
    svg.append(el("line", { class: `threshold ${th.cls ?? ""}`, x1: m.left, x2: width - m.right, y1: y, y2: y }));
    svg.append(el("text", { class: "threshold-label", x: width - m.right - 4, y: y - 4, "text-anchor": "end" }, th.label ?? ""));
  }
  for (const line of lines) {
    if (!line.points.length) continue;
    const d = path(line.points.map((p) => [sx(p.t), sy(p.y)]));
    svg.append(el("path", { class: `line ${line.cls ?? ""}`, d }));
    if (line.points.length === 1) {
      const p = line.points[0];
      svg.append(el("circle", { class: `dot ${line.cls ?? ""}`, cx: sx(p.t), cy: sy(p.y), r: 3 }));
    }
  }
  if (spec.marker) {
    const { t, y } = spec.marker;
    svg.append(el("circle", { class: "marker", cx: sx(t), cy: sy(y), r: 4 }, el("title", {}, fy(y))));
  }
  return svg;
}

/**
 * Horizontal bars: rows = [{label, value, text, cls}], scaled to max (or the largest value).
 */
export function barChart(rows, { testid, max, labelWidth = 230, width = 560 } = {}) {
  const rowH = 22;
  const height = rows.length * rowH + 4;
  const top = max ?? Math.max(...rows.map((r) => r.value), 1e-9);
  const svg = el("svg", { class: "chart bars", viewBox: `0 0 ${width} ${height}`, "data-testid": testid, role: "img" });
  rows.forEach((row, i) => {
    const y = i * rowH + 2;
    const w = Math.max(1, (Math.min(row.value, top) / top) * (width - labelWidth - 150));
    svg.append(el("text", { class: "bar-label", x: labelWidth - 8, y: y + 14, "text-anchor": "end" }, clip(row.label, 36)));
    svg.append(el("rect", { class: `bar ${row.cls ?? ""}`, x: labelWidth, y, width: w, height: rowH - 6, rx: 2 }, el("title", {}, row.label)));
    svg.append(el("text", { class: "bar-value", x: labelWidth + w + 6, y: y + 14 }, row.text ?? String(row.value)));
  });
  return svg;
}

/** One stacked bar of segments [{label, share, text}] (a critical path's contributors). */
export function stackBar(segments, { testid, width = 560 } = {}) {
  const height = 34;
  const svg = el("svg", { class: "chart stack", viewBox: `0 0 ${width} ${height}`, "data-testid": testid, role: "img" });
  let x = 0;
  segments.forEach((s, i) => {
    const w = Math.max(1, s.share * width);
    svg.append(el("rect", { class: `seg seg${i % 6}`, x, y: 2, width: w, height: height - 4 }, el("title", {}, `${s.label}: ${s.text}`)));
    if (w > 70) svg.append(el("text", { class: "seg-label", x: x + 5, y: 21 }, clip(s.label, Math.floor(w / 7))));
    x += w;
  });
  return svg;
}

/** A range with a value on it: the expected band of a series and where the value lies. */
export function rangeGauge({ lo, hi, value, testid, format = (v) => v.toPrecision(4), width = 560 }) {
  const height = 46;
  const [a, b] = extent([lo, hi, value]);
  const sx = (v) => 10 + ((v - a) / (b - a)) * (width - 20);
  const svg = el("svg", { class: "chart gauge", viewBox: `0 0 ${width} ${height}`, "data-testid": testid, role: "img" });
  svg.append(el("rect", { class: "band", x: sx(lo), y: 8, width: Math.max(1, sx(hi) - sx(lo)), height: 16 }));
  svg.append(el("line", { class: "value-line", x1: sx(value), x2: sx(value), y1: 2, y2: 30 }));
  svg.append(el("text", { class: "axis", x: sx(lo), y: 42, "text-anchor": "start" }, format(lo)));
  svg.append(el("text", { class: "axis", x: sx(hi), y: 42, "text-anchor": "end" }, format(hi)));
  return svg;
}

export function shortTime(ms) {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

function clip(text, n) {
  return text.length > n ? `${text.slice(0, Math.max(1, n - 1))}…` : text;
}

/**
 * Burn rates on one absolute log scale: rows = [{label, value, threshold, cls}].
 *
 * Every chart shares the axis [LOG_MIN, LOG_MAX]× (0.0001× to 1000×), so a bar's length means
 * the same in every card: 0.001× and 14× differ by four decades, not "both full width". A
 * value at or under LOG_MIN draws as a 1-unit stub; each row's alert threshold is a tick.
 */
export const LOG_MIN = 1e-4;
export const LOG_MAX = 1e3;

export function logPosition(value) {
  if (!(value > LOG_MIN)) return 0;
  const clamped = Math.min(value, LOG_MAX);
  return (Math.log10(clamped) - Math.log10(LOG_MIN)) / (Math.log10(LOG_MAX) - Math.log10(LOG_MIN));
}

export function logBars(rows, { testid, labelWidth = 170, width = 560, format = (v) => `${v}` } = {}) {
  const rowH = 22;
  const axisH = 18;
  const plot = width - labelWidth - 56;
  const height = rows.length * rowH + axisH + 4;
  const sx = (v) => labelWidth + logPosition(v) * plot;
  const svg = el("svg", { class: "chart bars log", viewBox: `0 0 ${width} ${height}`, "data-testid": testid, role: "img" });
  for (let e = Math.log10(LOG_MIN); e <= Math.log10(LOG_MAX); e += 1) {
    const x = sx(10 ** e);
    svg.append(el("line", { class: "grid", x1: x, x2: x, y1: 0, y2: rows.length * rowH }));
    svg.append(el("text", { class: "axis", x, y: height - 4, "text-anchor": "middle" }, `${format(10 ** e)}`));
  }
  rows.forEach((row, i) => {
    const y = i * rowH + 2;
    const w = Math.max(1, sx(row.value) - labelWidth);
    svg.append(el("text", { class: "bar-label", x: labelWidth - 8, y: y + 14, "text-anchor": "end" }, clip(row.label, 30)));
    svg.append(el("rect", { class: `bar ${row.cls ?? ""}`, x: labelWidth, y, width: w, height: rowH - 6, rx: 2, "data-value": row.value },
      el("title", {}, `${row.label}: ${format(row.value)}`)));
    if (Number.isFinite(row.threshold)) {
      const tx = sx(row.threshold);
      svg.append(el("line", { class: "threshold-mark", x1: tx, x2: tx, y1: y - 2, y2: y + rowH - 4, "data-threshold": row.threshold },
        el("title", {}, `alert at ${format(row.threshold)}`)));
    }
    svg.append(el("text", { class: "bar-value", x: labelWidth + plot + 6, y: y + 14 }, row.text ?? format(row.value)));
  });
  return svg;
}
