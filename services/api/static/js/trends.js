// The overview's charts (issue 23): throughput, depth and run time of every queue or one, over
// 5 min, 1 h, 24 h or 7 days. The window is read once from /api/v1/history/points; after that
// the monitor's `history` events of the same tier extend it as each bucket closes (no polling).
// A queue-scoped caller is served the points of its own queues only, and the gateway sends it
// no `history` event (they name every queue): its window is re-read, at most once a bucket,
// when an event of its queues arrives.

import { api } from "./api.js";
import { lineChart } from "./charts.js";
import { h, mount, num } from "./dom.js";
import { store } from "./store.js";
import { perFrame } from "./ui.js";

export const WINDOWS = { "5m": 300_000, "1h": 3_600_000, "24h": 86_400_000, "7d": 604_800_000 };

const state = { window: "1h", queue: "", tier: "", stepMs: 10_000, points: [], loaded: "", readAt: 0 };
let el = {};
let onChange = () => {};

/** Build the panel in `root`; `change({window, queue})` puts a choice in the URL. */
export function initTrends(root, change) {
  onChange = change;
  el.windows = h("div.segmented", { role: "group", "aria-label": "chart window" });
  el.queue = h("select", { "aria-label": "chart queue", onchange: () => onChange({ queue: el.queue.value || null }) });
  el.sums = h("p.muted.sums", { "data-chart-sums": "" });
  el.charts = h("div.charts");
  mount(root, h("div.chart-controls", h("h2", "Trends"), el.windows, el.queue), el.sums, el.charts);
  const redraw = perFrame(draw);
  store.on("history", (p) => {
    if (p.tier !== state.tier || state.points.some((q) => q.t === p.t)) return;
    state.points.push({ t: p.t, queues: p.queues });
    redraw();
  });
  store.on("snapshot", () => load(true));
  const scopedRefresh = () => {
    if (!store.scope || !state.loaded || performance.now() - state.readAt < state.stepMs) return;
    state.readAt = performance.now();
    load(true);
  };
  for (const kind of ["job", "counts"]) store.on(kind, scopedRefresh);
  store.on("counts", perFrame(renderQueues));
}

/** Apply the URL's choices: ?window=24h&queue=face_search. */
export function showTrends(params) {
  const window = WINDOWS[params.window] ? params.window : "1h";
  const queue = params.queue || "";
  const reload = window !== state.window || !state.loaded;
  state.window = window;
  state.queue = queue;
  if (reload) load();
  else draw();
}

async function load(force = false) {
  const want = state.window;
  if (!force && state.loaded === want) return;
  try {
    const got = await api.chartHistory(want);
    if (want !== state.window) return; // another window was chosen meanwhile
    state.tier = got.tier;
    state.stepMs = got.step_ms;
    state.points = got.points;
    state.loaded = want;
    state.readAt = performance.now();
  } catch (err) {
    el.sums.textContent = `No chart history: ${err.message}`;
    return;
  }
  draw();
}

function renderQueues() {
  const queues = store.queues();
  if (el.queue.options.length === queues.length + 1) return;
  mount(el.queue, h("option", { value: "" }, "all queues"), queues.map((q) => h("option", { value: q }, q)));
  el.queue.value = state.queue;
}

/** Per point: summed over the chosen queues (percentiles: the worst queue's). */
function figures(point) {
  const out = { completed: 0, failed: 0, waiting: 0, active: 0, p50_ms: null, p95_ms: null };
  for (const [queue, f] of Object.entries(point.queues)) {
    if (state.queue && queue !== state.queue) continue;
    for (const k of ["completed", "failed", "waiting", "active"]) out[k] += f[k] || 0;
    for (const k of ["p50_ms", "p95_ms"]) if (f[k] !== null && f[k] !== undefined) out[k] = Math.max(out[k] ?? 0, f[k]);
  }
  return out;
}

function draw() {
  if (!el.charts) return;
  mount(
    el.windows,
    Object.keys(WINDOWS).map((w) =>
      h("button.seg", { type: "button", "aria-pressed": String(w === state.window), "data-window": w, onclick: () => onChange({ window: w }) }, w),
    ),
  );
  renderQueues();
  el.queue.value = state.queue;
  const now = Date.now();
  const from = now - WINDOWS[state.window];
  state.points = state.points.filter((p) => p.t > from - state.stepMs);
  const points = state.points.filter((p) => p.t > from);
  const times = points.map((p) => p.t);
  const rows = points.map(figures);
  const perS = state.stepMs / 1000;
  const rate = (v) => (v === null ? "—" : `${v.toFixed(2)}/s (${num(Math.round(v * perS))} in ${perS} s)`);
  const done = rows.reduce((a, r) => a + r.completed, 0);
  const failed = rows.reduce((a, r) => a + r.failed, 0);
  el.sums.dataset.completed = done;
  el.sums.dataset.failed = failed;
  el.sums.textContent = `${state.queue || "all queues"}, last ${state.window}: ${num(done)} completed, ${num(failed)} failed (${points.length} points of ${perS} s)`;
  const ms = (v) => (v === null || v === undefined ? "—" : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v} ms`);
  const common = { times, fromMs: from, toMs: now };
  mount(
    el.charts,
    lineChart({
      ...common,
      id: "throughput",
      title: "Throughput (jobs/s)",
      series: [
        { name: "completed", cls: "c-completed", values: rows.map((r) => r.completed / perS) },
        { name: "failed", cls: "c-failed", values: rows.map((r) => r.failed / perS) },
      ],
      format: rate,
    }),
    lineChart({
      ...common,
      id: "depth",
      title: "Depth",
      series: [
        { name: "waiting", cls: "c-waiting", values: rows.map((r) => r.waiting) },
        { name: "active", cls: "c-active", values: rows.map((r) => r.active) },
      ],
      format: (v) => num(v),
    }),
    lineChart({
      ...common,
      id: "runtime",
      title: "Run time",
      series: [
        { name: "p50", cls: "c-p50", values: rows.map((r) => r.p50_ms) },
        { name: "p95", cls: "c-p95", values: rows.map((r) => r.p95_ms) },
      ],
      format: ms,
    }),
  );
}
