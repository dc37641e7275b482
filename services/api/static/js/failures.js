// Failures (issue 20): a queue's failed jobs grouped by cause (fingerprint), newest first,
// with exact counts; drill into a group's jobs, and retry or delete a group as one operation
// (previewed first). Re-read when a failure or a failed job's event arrives (throttled).
// The queue and the open group are in the URL (#failures?queue=…&group=…): back/forward walk
// through them and a link reproduces the view.

import { call } from "./api.js";
import { ago, h, mount, num, tableWrap } from "./dom.js";
import { previewThenRun } from "./operations.js";
import { store } from "./store.js";
import { button, throttle } from "./ui.js";

const REFETCH_MS = 500;
const enc = encodeURIComponent;

const failuresApi = {
  groups: (queue) => call("GET", "/api/v1/failures", { query: { queue } }),
  jobs: (queue, fingerprint) => call("GET", `/api/v1/failures/${enc(fingerprint)}/jobs`, { query: { queue, limit: 50 } }),
};

const view = { queue: "", open: "", loaded: false };
let el = {};
let openDrawer = () => {};
let setParams = () => {};

/** `params(change)` writes the queue and open group to the URL; the router calls failuresShown. */
export function initFailures(root, onOpen, params) {
  openDrawer = onOpen;
  setParams = params;
  el.root = root;
  el.queue = h("select", { "aria-label": "queue", onchange: () => setParams({ queue: el.queue.value, group: null }) });
  el.body = h("tbody");
  el.note = h("p.muted.note");
  el.jobs = h("div.group-jobs");
  const cols = ["exception", "actor", "latest message", "count", "first seen", "last seen", "sample"];
  mount(
    root,
    h("div.filters", el.queue),
    tableWrap("failure groups", h("table.failures", h("thead", h("tr", cols.map((c) => h("th", c)), h("th", ""))), el.body)),
    el.note,
    el.jobs,
  );
  const refetch = throttle(load, REFETCH_MS);
  store.on("failure", (e) => e.queue === view.queue && refetch());
  store.on("job", (e) => e.queue === view.queue && (e.to === "failed" || e.from === "failed") && refetch());
  store.on("snapshot", () => renderQueues() && load());
}

/** The view was routed to with these params (queue, group): show them. */
export function failuresShown(params = {}) {
  const want = { queue: params.queue || store.queues()[0] || "", open: params.group || "" };
  if (want.queue === view.queue && want.open === view.open && view.loaded) return;
  const sameQueue = want.queue === view.queue && view.loaded;
  Object.assign(view, want, { loaded: true });
  renderQueues();
  if (sameQueue) loadJobs();
  else load();
}

function renderQueues() {
  const queues = store.queues();
  if (!view.queue) view.queue = queues[0] || ""; // no queue in the URL: the first one
  // A linked queue is shown even before (or without) the snapshot naming it: the API says if it is unknown.
  const names = view.queue && !queues.includes(view.queue) ? [view.queue, ...queues] : queues;
  mount(el.queue, names.map((q) => h("option", { value: q, selected: q === view.queue }, q)));
  el.queue.value = view.queue;
  return true;
}

async function load() {
  if (!el.body || !view.queue) return;
  try {
    const { groups } = await failuresApi.groups(view.queue);
    el.note.textContent = groups.length ? "" : `No failed jobs in ${view.queue}.`;
    mount(el.body, groups.map(row));
    await loadJobs();
  } catch (err) {
    el.note.textContent = `Could not list failures: ${err.message}`;
  }
}

function row(g) {
  const filter = { queue: view.queue, state: "failed", fingerprint: g.fingerprint };
  const what = `the ${num(g.count)} failed ${g.exception} jobs of ${view.queue} (group ${g.fingerprint})`;
  const actions = [button("Jobs", () => setParams({ group: g.fingerprint }), "small.ghost", { "data-group-action": "jobs" })];
  if (store.canMutate) {
    actions.push(button("Retry group", () => previewThenRun({ action: "retry", filter }, what), "small", { "data-group-action": "retry" }));
    actions.push(button("Delete group", () => previewThenRun({ action: "delete", filter }, what), "small.danger", { "data-group-action": "delete" }));
  }
  return h(
    "tr",
    { "data-group": g.fingerprint },
    h("td.mono", g.exception || "—"),
    h("td", g.actor),
    h("td", { title: g.message }, g.message.length > 80 ? `${g.message.slice(0, 80)}…` : g.message),
    h("td.num", { "data-group-count": "" }, num(g.count)),
    h("td", ago(g.first_ms)),
    h("td", ago(g.last_ms)),
    h("td", g.sample ? h("button.link.mono", { type: "button", onclick: () => openDrawer(g.sample) }, g.sample) : "—"),
    h("td.actions", h("div.row-actions", actions)),
  );
}

async function loadJobs() {
  if (!view.open) return mount(el.jobs);
  const open = view.open;
  let jobs;
  try {
    ({ jobs } = await failuresApi.jobs(view.queue, open));
  } catch (err) {
    return mount(el.jobs, h("p.note", `Could not list the jobs of group ${open}: ${err.message}`));
  }
  if (open !== view.open) return; // another group was opened meanwhile
  for (const tr of el.body.querySelectorAll("tr[data-group]")) tr.classList.toggle("open", tr.dataset.group === open);
  mount(
    el.jobs,
    h("h3", `Jobs of group ${open} `, button("Close", () => setParams({ group: null }), "small.ghost", { "data-group-action": "close" })),
    jobs.length ? null : h("p.muted.note", "No failed job of this group now."),
    h(
      "ul.group-job-list",
      { "data-open-group": open },
      jobs.map((j) => h("li", { "data-job": j.id }, h("button.link.mono", { type: "button", onclick: () => openDrawer(j.id) }, j.id), " ", ago(j.finished_ms), ` — ${j.error}`)),
    ),
  );
}
