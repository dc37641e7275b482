// Workers: every process the registry knows (live, stale, recently dead), from the snapshot and
// the monitor's `workers` events; beat ages grow on the local clock between events.

import { api } from "./api.js";
import { age, h, mount, num, tableWrap, when } from "./dom.js";
import { store } from "./store.js";
import { act, button, confirmAction, perFrame } from "./ui.js";

let body;
let note;

export function initWorkers(root, openDrawer) {
  body = h("tbody");
  note = h("p.muted.note");
  const cols = ["worker", "host", "pid", "queues", "procs × threads", "current jobs", "processed", "failed", "last beat", "status"];
  mount(
    root,
    tableWrap("workers", h("table.workers", h("thead", h("tr", cols.map((c) => h("th", c)), store.canMutate ? h("th", "") : null)), body)),
    note,
  );
  const later = perFrame(() => render(openDrawer));
  store.on("workers", later);
  setInterval(tickBeats, 1000); // beat ages grow on the local clock; rows stay (and their buttons)
  // A removal is announced as an admin event; the monitor's next list may be seconds away.
  store.on("admin", (e) => e.action === "remove_worker" && refetch());
  render(openDrawer);
}

async function refetch() {
  try {
    store.setWorkers((await api.workers()).workers);
  } catch {
    // the monitor's next workers event brings the list anyway
  }
}

function render(openDrawer) {
  note.textContent = store.workers.length ? "" : "No worker has registered.";
  mount(
    body,
    store.workers.map((w) =>
      h(
        "tr",
        { "data-worker": w.id, "data-status": w.status },
        h("td.mono", w.id),
        h("td", w.host),
        h("td.num", w.pid),
        h("td", w.queues.join(", ") || "all"),
        h("td.num", `${w.processes} × ${w.threads}`),
        h("td", w.current_jobs.length ? w.current_jobs.map((id) => h("button.link.mono", { type: "button", onclick: () => openDrawer(id) }, id)) : "—"),
        h("td.num", num(w.processed)),
        h("td.num", num(w.failed)),
        h("td", { title: when(w.last_beat_ms), "data-beat": w.id }, beatText(w)),
        h("td", h(`span.badge.w-${w.status}`, w.draining ? `${w.status}, draining` : w.status)),
        store.canMutate ? h("td", removeButton(w)) : null,
      ),
    ),
  );
}

function tickBeats() {
  for (const w of store.workers) {
    const cell = body.querySelector(`[data-beat="${CSS.escape(w.id)}"]`);
    if (cell) cell.textContent = beatText(w);
  }
}

/** "live" while the monitor sees fresh beats (it announces any change of status at once, and
 * the list itself only when something changed); the silence's length once it is stale or dead. */
function beatText(w) {
  return w.status === "alive" ? "live" : `${age(store.beatAge(w))} ago`;
}

function removeButton(w) {
  const live = w.status !== "dead";
  return button(
    live ? "Drain" : "Forget",
    async () => {
      const text = live ? `Ask worker ${w.id} (${w.host}:${w.pid}) to finish its jobs and exit?` : `Forget dead worker ${w.id}?`;
      if (!(await confirmAction(text, live ? "Drain" : "Forget"))) return;
      await act(`Remove ${w.id}`, () => api.removeWorker(w.id), (r) => `${w.id}: ${r.outcome}`);
    },
    "small.danger",
    { "data-action": "remove-worker", disabled: w.draining },
  );
}
