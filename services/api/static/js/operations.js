// Operations (issue 20): bulk work the monitor runs in the background. Every bulk action is
// previewed first (a dry run: the exact count and a few ids) and confirmed; the panel lists
// operations with live progress bars from `operation` events, and cancels or undoes them.
// Below it, the trash: deleted jobs still restorable, each restored on its own.

import { call } from "./api.js";
import { age, ago, h, mount, num, tableWrap } from "./dom.js";
import { store } from "./store.js";
import { act, button, confirmAction, throttle, toast } from "./ui.js";

const LIMIT = 50;
const RUNNING = new Set(["queued", "running"]);
const PAST = { retry: "retry", delete: "delete", promote: "promote", "set-priority": "re-prioritise", clean: "clean", undo: "restore" };

export const operationsApi = {
  create: (body) => call("POST", "/api/v1/operations", { json: body }),
  list: () => call("GET", "/api/v1/operations", { query: { limit: LIMIT } }),
  cancel: (id) => call("POST", `/api/v1/operations/${encodeURIComponent(id)}/cancel`),
  undo: (id) => call("POST", `/api/v1/operations/${encodeURIComponent(id)}/undo`),
  trash: () => call("GET", "/api/v1/trash", { query: { limit: LIMIT } }),
  restore: (job) => call("POST", `/api/v1/trash/${encodeURIComponent(job)}/restore`),
};

const ops = new Map(); // id -> operation (with rate/eta from its latest event)
let el = {};

export function initOperations(root) {
  el.body = h("tbody");
  el.note = h("p.muted.note");
  el.trash = h("tbody");
  el.trashNote = h("p.muted.note");
  const cols = ["operation", "action", "target", "state", "progress", "done", "skipped", "rate", "by", "created"];
  mount(
    root,
    tableWrap("operations", h("table.operations", h("thead", h("tr", cols.map((c) => h("th", c)), store.canMutate ? h("th", "") : null)), el.body)),
    el.note,
    h("h3", "Trash"),
    tableWrap("trash", h("table.trash", h("thead", h("tr", trashCols.map((c) => h("th", c)), store.canMutate ? h("th", "") : null)), el.trash)),
    el.trashNote,
  );
  store.on("operation", (e) => {
    const known = ops.get(e.id);
    if (!known || loading) {
      // not listed yet, or a list answer in flight may be older than this event: list (again)
      if (known) Object.assign(known, { state: e.state, done: e.done, skipped: e.skipped });
      return load();
    }
    Object.assign(known, { state: e.state, done: e.done, skipped: e.skipped, total: e.total, rate: e.rate, eta_s: e.eta_s });
    renderRow(known);
    if (e.state !== "running" && e.state !== "queued") reloadTrash();
  });
  // A job deleted (to nothing) or restored from anywhere changes the trash.
  store.on("job", (e) => (e.to == null || e.reason === "restored") && reloadTrash());
  store.on("snapshot", () => {
    load();
    loadTrash();
  });
  load();
  loadTrash();
}

const trashCols = ["job", "queue", "was", "actor", "deleted", "by operation"];
const reloadTrash = throttle(() => loadTrash(), 500);

async function loadTrash() {
  if (!el.trash) return;
  try {
    const { entries } = await operationsApi.trash();
    el.trashNote.textContent = entries.length ? "" : "The trash is empty: deleted jobs wait here until their TTL, restorable.";
    mount(el.trash, entries.map(trashRow));
  } catch (err) {
    el.trashNote.textContent = err.status === 403 ? "The trash is shown to viewers and admins of every queue." : `Could not list the trash: ${err.message}`;
  }
}

function trashRow(entry) {
  return h(
    "tr",
    { "data-trash": entry.job },
    h("td.mono", entry.job),
    h("td", entry.queue),
    h("td", entry.state),
    h("td", entry.actor),
    h("td", ago(entry.deleted_ms)),
    h("td.mono", entry.operation ? entry.operation.slice(0, 8) : "—"),
    store.canMutate
      ? h(
          "td.actions",
          button(
            "Restore",
            () => act("Restore", () => operationsApi.restore(entry.job), (r) => `${r.id} restored: ${r.state}`).then(loadTrash),
            "small",
            { "data-trash-action": "restore" },
          ),
        )
      : null,
  );
}

// One list request at a time, re-run once more when events came in meanwhile: concurrent
// requests (a burst of events for an operation not yet listed each asked for the list) could
// answer out of order, and an older answer drawn last left a finished operation "running".
let loading = null;
let reload = false;

function load() {
  if (loading) {
    reload = true;
    return loading;
  }
  loading = (async () => {
    do {
      reload = false;
      await loadOnce();
    } while (reload);
  })().finally(() => {
    loading = null;
  });
  return loading;
}

async function loadOnce() {
  if (!el.body) return;
  try {
    const { operations } = await operationsApi.list();
    for (const op of operations) ops.set(op.id, { ...ops.get(op.id), ...op });
    const shown = new Set(operations.map((o) => o.id));
    for (const id of ops.keys()) if (!shown.has(id)) ops.delete(id);
    el.note.textContent = operations.length ? "" : "No operations yet: bulk actions from the Jobs and Failures views run here.";
    mount(el.body, operations.map((o) => row(ops.get(o.id))));
  } catch (err) {
    el.note.textContent = `Could not list operations: ${err.message}`;
  }
}

function target(op) {
  if (op.undo_of) return `undo of ${op.undo_of.slice(0, 8)}`;
  if (op.ids) return `${num(op.ids)} ids`;
  return [op.queue, op.filter_state, op.fingerprint && `group ${op.fingerprint}`].filter(Boolean).join(" · ");
}

function row(op) {
  const handled = op.done + op.skipped;
  const rate = op.rate ? `${num(Math.round(op.rate))}/s${op.eta_s != null && RUNNING.has(op.state) ? `, ${age(op.eta_s)} left` : ""}` : "—";
  return h(
    "tr",
    { "data-op": op.id, "data-state": op.state },
    h("td.mono", op.id.slice(0, 8)),
    h("td", op.action),
    h("td", target(op)),
    h("td", h(`span.badge.op-${op.state}`, op.state)),
    h("td", h("progress", { max: Math.max(op.total, 1), value: Math.min(handled, op.total), "aria-label": `progress of ${op.id}` }), ` ${num(handled)} / ${num(op.total)}`),
    h("td.num", { "data-done": "" }, num(op.done)),
    h("td.num", num(op.skipped)),
    h("td", rate),
    h("td", op.created_by),
    h("td", ago(op.created_ms)),
    store.canMutate ? h("td.actions", controls(op)) : null,
  );
}

function renderRow(op) {
  const old = el.body.querySelector(`tr[data-op="${CSS.escape(op.id)}"]`);
  if (old) old.replaceWith(row(op));
}

function controls(op) {
  const out = [];
  if (RUNNING.has(op.state)) {
    out.push(button("Cancel", () => act("Cancel", () => operationsApi.cancel(op.id), () => `operation ${op.id.slice(0, 8)} cancelled`).then(load), "small", { "data-op-action": "cancel" }));
  }
  if (op.action === "delete" && !RUNNING.has(op.state) && op.done > 0) {
    out.push(
      button(
        "Undo",
        async () => {
          if (!(await confirmAction(`Restore the ${num(op.done)} jobs operation ${op.id.slice(0, 8)} deleted (those still in the trash)?`, "Restore"))) return;
          await act("Undo", () => operationsApi.undo(op.id), (u) => `restoring ${num(u.total)} jobs`);
          load();
        },
        "small",
        { "data-op-action": "undo" },
      ),
    );
  }
  return out;
}

/**
 * Preview a bulk action (a dry run: the exact count now), confirm it, then start it as an
 * operation. `body` is the operation's body without dry_run; `what` describes the target.
 * Returns the operation, or null when nothing was started.
 */
export async function previewThenRun(body, what) {
  let preview;
  try {
    preview = await operationsApi.create({ ...body, dry_run: true });
  } catch (err) {
    toast("error", `Preview failed: ${err.message}`);
    return null;
  }
  const verb = PAST[body.action] || body.action;
  if (preview.total === 0) {
    toast("ok", `Nothing to ${verb}: no job matches ${what}.`);
    return null;
  }
  const sample = preview.sample.length ? ` First: ${preview.sample.slice(0, 3).join(", ")}${preview.total > 3 ? ", …" : ""}.` : "";
  const text = `${cap(verb)} ${what}? This touches exactly ${num(preview.total)} job${preview.total === 1 ? "" : "s"}.${sample}`;
  if (!(await confirmAction(text, cap(verb)))) return null;
  const op = await act(cap(verb), () => operationsApi.create(body), (o) => `Operation ${o.id.slice(0, 8)} started: ${num(o.total)} jobs to ${verb}`);
  if (op) load();
  return op;
}

const cap = (s) => s[0].toUpperCase() + s.slice(1);
