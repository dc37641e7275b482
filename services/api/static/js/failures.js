// Failures (issue 20): a queue's failed jobs grouped by cause (fingerprint), newest first,
// with exact counts; drill into a group's jobs, and retry or delete a group as one operation
// (previewed first). Re-read when a failure or a failed job's event arrives (throttled).

import { call } from "./api.js";
import { h, mount, num, tableWrap, when } from "./dom.js";
import { previewThenRun } from "./operations.js";
import { store } from "./store.js";
import { button, throttle } from "./ui.js";

const REFETCH_MS = 500;
const enc = encodeURIComponent;

const failuresApi = {
  groups: (queue) => call("GET", "/api/v1/failures", { query: { queue } }),
  jobs: (queue, fingerprint) => call("GET", `/api/v1/failures/${enc(fingerprint)}/jobs`, { query: { queue, limit: 50 } }),
};

const view = { queue: "", open: "" };
let el = {};
let openDrawer = () => {};

export function initFailures(root, onOpen) {
  openDrawer = onOpen;
  el.root = root;
  el.queue = h("select", { "aria-label": "queue", onchange: () => ((view.queue = el.queue.value), (view.open = ""), load()) });
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
  renderQueues();
  load();
}

function renderQueues() {
  const queues = store.queues();
  if (!view.queue || !queues.includes(view.queue)) view.queue = queues[0] || "";
  mount(el.queue, queues.map((q) => h("option", { value: q, selected: q === view.queue }, q)));
  el.queue.value = view.queue;
  return true;
}

async function load() {
  if (!el.body || !view.queue) return;
  try {
    const { groups } = await failuresApi.groups(view.queue);
    el.note.textContent = groups.length ? "" : `No failed jobs in ${view.queue}.`;
    mount(el.body, groups.map(row));
    if (view.open && !groups.some((g) => g.fingerprint === view.open)) view.open = "";
    await loadJobs();
  } catch (err) {
    el.note.textContent = `Could not list failures: ${err.message}`;
  }
}

function row(g) {
  const filter = { queue: view.queue, state: "failed", fingerprint: g.fingerprint };
  const what = `the ${num(g.count)} failed ${g.exception} jobs of ${view.queue} (group ${g.fingerprint})`;
  const actions = [button("Jobs", () => ((view.open = g.fingerprint), loadJobs()), "small.ghost", { "data-group-action": "jobs" })];
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
    h("td", when(g.first_ms)),
    h("td", when(g.last_ms)),
    h("td", g.sample ? h("button.link.mono", { type: "button", onclick: () => openDrawer(g.sample) }, g.sample) : "—"),
    h("td.actions", h("div.row-actions", actions)),
  );
}

async function loadJobs() {
  if (!view.open) return mount(el.jobs);
  const { jobs } = await failuresApi.jobs(view.queue, view.open);
  mount(
    el.jobs,
    h("h3", `Jobs of group ${view.open}`),
    h(
      "ul.group-job-list",
      jobs.map((j) => h("li", { "data-job": j.id }, h("button.link.mono", { type: "button", onclick: () => openDrawer(j.id) }, j.id), ` ${when(j.finished_ms)} — ${j.error}`)),
    ),
  );
}
