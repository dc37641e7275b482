// Overview: one card per queue (counts by state, paused, completions sparkline, oldest waiting,
// workers alive) with its controls (pause/resume, clean). Cards are built once and updated in
// place, so a stream of events never resets a half-filled clean form.

import { api } from "./api.js";
import { age, h, mount, num, svg } from "./dom.js";
import { initLimits, limitsRow } from "./limits.js";
import { previewThenRun } from "./operations.js";
import { SPARK_MINUTES, STATES, store } from "./store.js";
import { initTrends, showTrends } from "./trends.js";
import { act, button, perFrame, throttle } from "./ui.js";

//: Shortest interval between two health re-fetches (oldest waiting age), in ms.
const HEALTH_REFETCH_MS = 2000;
const UNITS = { min: 60, h: 3600, d: 86400 };

const cards = new Map();
//: Each queue's retention (policy and whether it is the queue's own), from /api/v1/retention.
const retention = new Map();
let root;
let totals;
let openJobs = () => {};
let chartChange = () => {};

/** `onChange({window, queue})` puts the charts' choices in the URL. */
export function initOverview(el, onOpenJobs, onChange) {
  root = el;
  openJobs = onOpenJobs;
  chartChange = onChange;
  totals = h("div.totals");
  const trends = h("section.trends.card", { "aria-label": "trends" });
  mount(root, totals, trends, h("div.cards"));
  initTrends(trends, onChange);
  const refetch = throttle(refetchHealth, HEALTH_REFETCH_MS);
  const later = perFrame(render);
  for (const kind of ["counts", "paused", "workers", "health"]) store.on(kind, later);
  store.on("snapshot", () => {
    refetch();
    refetchHistory();
    refetchRetention();
  });
  store.on("admin", (e) => {
    if (e.action === "retention") refetchRetention();
  });
  store.on("job", (e) => {
    if (e.from === "waiting" || e.to === "waiting") refetch();
  });
  setInterval(tickAges, 1000); // local clock only: ages grow between events
  initLimits();
}

/** The overview was routed to: ?window=&queue= choose the charts. */
export function overviewShown(params) {
  showTrends(params);
}

async function refetchHealth() {
  try {
    store.setHealth((await api.queues()).queues);
  } catch {
    // the next change retries; counts keep coming from the stream
  }
}

async function refetchRetention() {
  try {
    const listed = await api.retention();
    retention.clear();
    for (const q of listed.queues) retention.set(q.queue, q);
    render();
  } catch {
    // shown again at the next snapshot or retention change
  }
}

/** "completed 24 h / 100,000 · failed 14 d / 100,000": what the queue keeps. */
function keeps({ policy, custom }) {
  const span = (s) => {
    for (const [unit, n] of [["d", 86400], ["h", 3600], ["min", 60]]) if (s % n === 0) return `${s / n} ${unit}`;
    return `${s} s`;
  };
  const text = `completed ${span(policy.completed_age_s)} / ${num(policy.completed_count)} · failed ${span(policy.failed_age_s)} / ${num(policy.failed_count)}`;
  return custom ? text : `${text} (default)`;
}

async function refetchHistory() {
  try {
    store.setHistory((await api.history(30)).samples);
  } catch {
    // no history yet (no monitor): sparklines count live completions only
  }
}

function aliveFor(queue) {
  return store.workers.filter((w) => w.status === "alive" && (w.queues.length === 0 || w.queues.includes(queue)));
}

export function render() {
  if (!root) return;
  const list = root.querySelector(".cards");
  for (const queue of store.queues()) {
    if (!cards.has(queue)) {
      const card = buildCard(queue);
      cards.set(queue, card);
      list.append(card.el);
    }
    updateCard(cards.get(queue), queue);
  }
  renderTotals();
}

function renderTotals() {
  const sum = Object.fromEntries(STATES.map((s) => [s, 0]));
  for (const per of Object.values(store.counts)) for (const s of STATES) sum[s] += per[s] || 0;
  const byStatus = { alive: 0, stale: 0, dead: 0 };
  for (const w of store.workers) byStatus[w.status] = (byStatus[w.status] || 0) + 1;
  mount(
    totals,
    ...STATES.map((s) => h("div.total", { "data-total": s }, h("span.label", s), h("strong", num(sum[s])))),
    h(
      "div.total.workers-total",
      h("span.label", "workers"),
      h("strong", { "data-workers-alive": "" }, num(byStatus.alive)),
      h("span.muted", ` alive · ${byStatus.stale} stale · ${byStatus.dead} dead`),
    ),
  );
}

function buildCard(queue) {
  const countEls = {};
  const grid = h(
    "div.counts",
    STATES.map((state) => {
      countEls[state] = h("strong", { "data-count": state }, "0");
      return h(
        "a.count",
        { href: "#jobs", dataset: { state }, onclick: (e) => (e.preventDefault(), openJobs(queue, state)) },
        h("span.label", state),
        countEls[state],
      );
    }),
  );
  const badge = h("span.badge.paused", { hidden: true }, "paused");
  const spark = h("div.spark");
  const oldest = h("span", { "data-oldest": "" }, "—");
  const alive = h("span", { "data-alive": "" }, "0");
  const kept = h("span.muted", { "data-retention": "", title: "finished jobs kept (age / count)" }, "");
  const controls = h("div.controls");
  const el = h(
    "article.card.queue",
    { "data-queue": queue },
    h(
      "header",
      h("h2", queue),
      badge,
      h("button.link", { type: "button", "data-trends": queue, onclick: () => chartChange({ queue }) }, "trends"),
      controls,
    ),
    grid,
    // The card's old "x/min done" (the last minute's rate, read when health was re-fetched) could
    // read 0.0 next to a spike; the Trends charts above are the exact throughput now, so the card
    // keeps only its sparkline of completions per minute, and a link to its queue's charts.
    h("div.health", h("div.muted", `completed per minute, last ${SPARK_MINUTES} min`), spark),
    h("div.facts", h("span", "oldest waiting ", oldest), h("span", "workers alive ", alive)),
    h("div.facts", h("span", "keeps ", kept)),
    limitsRow(queue),
  );
  const card = { el, countEls, badge, spark, oldest, alive, kept, controls, pausedShown: null };
  if (store.canMutate) el.append(cleanForm(queue));
  return card;
}

function updateCard(card, queue) {
  const per = store.counts[queue] || {};
  for (const state of STATES) card.countEls[state].textContent = num(per[state] || 0);
  const paused = store.paused.has(queue);
  card.badge.hidden = !paused;
  card.el.classList.toggle("is-paused", paused);
  if (store.canAct && card.pausedShown !== paused) {
    card.pausedShown = paused;
    mount(
      card.controls,
      paused
        ? button("Resume", () => act(`Resume ${queue}`, () => api.resume(queue), () => `${queue} resumed`), "", { "data-action": "resume" })
        : button("Pause", () => act(`Pause ${queue}`, () => api.pause(queue), () => `${queue} paused`), "ghost", { "data-action": "pause" }),
    );
  }
  card.alive.textContent = num(aliveFor(queue).length);
  mount(card.spark, sparkline(store.sparkline(queue)));
  card.oldest.textContent = age(store.oldestWaiting(queue));
  const kept = retention.get(queue);
  card.kept.textContent = kept ? keeps(kept) : "—";
}

function tickAges() {
  for (const [queue, card] of cards) card.oldest.textContent = age(store.oldestWaiting(queue));
}

/** Completions per minute as a filled SVG line; the newest minute is the live one. */
function sparkline(values) {
  const width = 120;
  const height = 28;
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - (v / max) * (height - 2) - 1).toFixed(1)}`);
  const title = `completed per minute, last ${values.length} min (newest ${values[values.length - 1]})`;
  return svg(
    "svg",
    { viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img", "aria-label": title },
    svg("title", {}, title),
    svg("polygon", { points: `0,${height} ${points.join(" ")} ${width},${height}`, class: "area" }),
    svg("polyline", { points: points.join(" "), class: "line" }),
  );
}

function cleanForm(queue) {
  const completed = h("input", { type: "checkbox", checked: true, name: "completed" });
  const failed = h("input", { type: "checkbox", name: "failed" });
  const amount = h("input", { type: "number", min: 0, value: 1, name: "older", class: "short", "aria-label": "older than" });
  const unit = h("select", { name: "unit", "aria-label": "unit" }, Object.keys(UNITS).map((u) => h("option", { value: u, selected: u === "d" }, u)));
  const form = h(
    "form.clean",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        const states = [completed, failed].filter((c) => c.checked).map((c) => c.name);
        if (states.length === 0) return;
        const olderThan = Math.max(0, Math.floor(Number(amount.value) * UNITS[unit.value]));
        // Each state is one clean operation (issue 20): previewed with its exact count, confirmed,
        // then run by the monitor in the background (its progress shows in the Operations view).
        for (const state of states) {
          const what = `${state} jobs of ${queue} finished more than ${amount.value} ${unit.value} ago`;
          await previewThenRun({ action: "clean", filter: { queue, state }, older_than_s: olderThan }, what);
        }
      },
    },
    h("span.label", "clean"),
    h("label", completed, " completed"),
    h("label", failed, " failed"),
    h("label", " older than ", amount),
    unit,
    h("button.ghost", { type: "submit" }, "Clean"),
  );
  return form;
}
