// Small SVG line charts of our own (issue 23): time on x, one or more series on y, a legend,
// and a hover (or keyboard) readout with the exact values of the nearest point. No library.

import { h, svg } from "./dom.js";

const W = 600;
const H = 190;
const PAD = { left: 44, right: 8, top: 8, bottom: 20 };

/** A readable tick value: 1.2k, 3.4, 0.05. */
export function short(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 10 || v === Math.round(v)) return String(Math.round(v));
  return v.toFixed(a >= 1 ? 1 : 2);
}

function clock(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs > 86_400_000) return d.toLocaleDateString(undefined, { weekday: "short", hour: "2-digit" });
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/**
 * lineChart({ id, title, times, series: [{ name, values, cls }], format }) -> <figure>.
 * `times` are bucket ends (ms), oldest first; a null value leaves a gap. `format(v)` words a
 * value in the readout (default: the number as is).
 */
export function lineChart({ id, title, times, series, format = (v) => (v === null ? "—" : String(v)), fromMs, toMs }) {
  const t0 = fromMs ?? times[0] ?? 0;
  const t1 = toMs ?? times[times.length - 1] ?? 1;
  const span = Math.max(1, t1 - t0);
  const all = series.flatMap((s) => s.values).filter((v) => v !== null && Number.isFinite(v));
  const peak = Math.max(0, ...all);
  const max = peak > 0 ? peak * 1.1 : 1;
  const x = (t) => PAD.left + ((t - t0) / span) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const grid = [0, 0.5, 1].map((f) =>
    svg(
      "g",
      { class: "grid" },
      svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(max * f), y2: y(max * f) }),
      svg("text", { x: PAD.left - 4, y: y(max * f) + 4, "text-anchor": "end" }, short(max * f)),
    ),
  );
  const axis = [t0, t0 + span / 2, t1].map((t, i) =>
    svg("text", { x: x(t), y: H - 4, "text-anchor": ["start", "middle", "end"][i], class: "axis" }, clock(t, span)),
  );
  const lines = series.map((s) => {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(times[i]).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    const path = svg("path", { d, class: `series ${s.cls}`, "data-series": s.name });
    // A point with no neighbour draws no line: mark it with a dot.
    const lonely = s.values
      .map((v, i) => [v, i])
      .filter(([v, i]) => v !== null && Number.isFinite(v) && !ok(s.values[i - 1]) && !ok(s.values[i + 1]))
      .map(([v, i]) => svg("circle", { cx: x(times[i]), cy: y(v), r: 2.5, class: `dot ${s.cls}` }));
    return svg("g", {}, path, lonely);
  });
  const rule = svg("line", { class: "rule", y1: PAD.top, y2: H - PAD.bottom, x1: 0, x2: 0, visibility: "hidden" });
  const readout = h("div.readout", { "aria-live": "off", hidden: true });
  const label = `${title}: ${series.map((s) => `${s.name} latest ${format(last(s.values))}`).join(", ")}`;
  const plot = svg(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": label, tabindex: 0 },
    svg("title", {}, label),
    grid,
    axis,
    lines,
    rule,
  );
  let focus = times.length - 1;
  const show = (i) => {
    if (i < 0 || i >= times.length) return;
    focus = i;
    rule.setAttribute("x1", x(times[i]));
    rule.setAttribute("x2", x(times[i]));
    rule.setAttribute("visibility", "visible");
    readout.hidden = false;
    readout.replaceChildren(
      h("span.when", new Date(times[i]).toLocaleString()),
      ...series.map((s) => h(`span.${s.cls}`, { "data-readout": s.name }, `${s.name} ${format(s.values[i])}`)),
    );
  };
  const nearest = (clientX) => {
    const box = plot.getBoundingClientRect();
    const t = t0 + ((((clientX - box.left) / box.width) * W - PAD.left) / (W - PAD.left - PAD.right)) * span;
    let best = 0;
    times.forEach((ti, i) => {
      if (Math.abs(ti - t) < Math.abs(times[best] - t)) best = i;
    });
    return best;
  };
  plot.addEventListener("mousemove", (e) => times.length && show(nearest(e.clientX)));
  const hide = () => {
    readout.hidden = true;
    rule.setAttribute("visibility", "hidden");
  };
  plot.addEventListener("mouseleave", hide);
  plot.addEventListener("focus", () => times.length && show(focus));
  plot.addEventListener("blur", hide);
  plot.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") show(focus - 1);
    else if (e.key === "ArrowRight") show(focus + 1);
    else return;
    e.preventDefault();
    e.stopPropagation();
  });
  const legend = h("div.legend", series.map((s) => h("span.key", h(`i.swatch.${s.cls}`, { "aria-hidden": "true" }), s.name)));
  return h("figure.chart-box", { "data-chart": id }, h("figcaption", title, legend), plot, readout);
}

const ok = (v) => v !== null && v !== undefined && Number.isFinite(v);

function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}
