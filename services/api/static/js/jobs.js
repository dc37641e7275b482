// Jobs: a table by queue and state (or a search by content: shared/search.py's syntax), cursor
// paging, multi-select, per-row and bulk actions. The page on screen is re-fetched when an event
// touches it (throttled), never polled. Filters, page and cursor live in the URL (router.js).

import { api } from "./api.js";
import { ago, h, mount, num, tableWrap, when } from "./dom.js";
import { previewThenRun } from "./operations.js";
import { STATES, store } from "./store.js";
import { act, button, confirmAction, throttle } from "./ui.js";

const PAGE_SIZE = 50;
//: Shortest interval between two re-fetches of the page on screen, in ms.
const REFETCH_MS = 400;
const SEARCH_HELP =
  "state:failed queue:q actor:a id:0f3k after:2h before:2026-12-01T10:00 gallery:demo image:3fa2 name:Alice " +
  "match:Bob error:Timeout args.request.top_k:5 result.faces_found:2 — a value ending in * matches by its start";
//: Bulk actions and the state a filtered one must name (delete: any state but active).
const BULK = { retry: "failed", promote: "delayed", delete: null };

const view = { queue: "", state: "", q: "", cursors: [null], page: 0, next: null, jobs: [], signature: "" };
const selected = new Set();
//: Priorities typed but not yet set, by job: a live re-render must not wipe them.
const edits = new Map();
let el = {};
let stale = true;
/** A live redraw waits while a row's priority input has focus (set then: drawn on focusout). */
let heldBack = false;
let openDrawer = () => {};
let setParams = () => {};

/** `params(change)` writes filters and page to the URL; the router calls jobsShown with them. */
export function initJobs(root, onOpen, params) {
  openDrawer = onOpen;
  setParams = params;
  el.root = root;
  el.queue = h("select", { "aria-label": "queue", onchange: () => setFilter({ queue: el.queue.value }) });
  el.tabs = h("div.state-tabs", { role: "tablist" });
  el.search = h("input", {
    type: "search",
    placeholder: "gallery:demo state:failed error:Timeout …",
    "aria-label": "search jobs",
    title: SEARCH_HELP,
    "data-search": "",
  });
  const searchForm = h(
    "form.search",
    { onsubmit: (e) => (e.preventDefault(), setFilter({ q: el.search.value.trim() })) },
    el.search,
    h("button.ghost", { type: "submit" }, "Search"),
  );
  el.bulk = h("div.bulk");
  el.body = h("tbody");
  // A redraw held back while a priority was being typed happens once focus leaves that row.
  el.body.addEventListener("focusout", (e) => {
    const row = e.target.closest?.("tr[data-job]");
    if (heldBack && !(row && row.contains(e.relatedTarget))) {
      heldBack = false;
      renderRows();
    }
  });
  el.all = h("input", { type: "checkbox", "aria-label": "select page", onchange: () => selectPage(el.all.checked) });
  el.pager = h("div.pager");
  el.note = h("p.muted.note");
  const head = h(
    "tr",
    store.canMutate ? h("th.sel", el.all) : null,
    ["id", "actor", "queue", "state", "priority", "tries", "created", "progress"].map((c) => h("th", c)),
    store.canAct ? h("th", "actions") : null,
  );
  el.note.setAttribute("data-search-note", "");
  el.note.setAttribute("role", "status");
  mount(
    root,
    h("div.filters", el.queue, el.tabs, searchForm),
    el.bulk,
    tableWrap("jobs", h("table.jobs", h("thead", head), el.body)),
    el.note,
    el.pager,
  );
  const refetch = throttle(load, REFETCH_MS);
  store.on("job", (e) => touches(e) && refetch());
  store.on("admin", refetch);
  store.on("snapshot", refetch);
  store.on("counts", renderBulk);
  store.on("progress", (e) => {
    const bar = el.body.querySelector(`tr[data-job="${CSS.escape(e.job)}"] progress`);
    if (bar) bar.value = e.percent;
  });
  renderFilters();
}

/** The view was routed to with these params (queue, state, q, page, cursor): show them. */
export function jobsShown(params = {}) {
  const want = { queue: params.queue || "", state: params.state || "", q: params.q || "" };
  const page = Math.max(0, Number(params.page || 1) - 1) || 0;
  const cursor = params.cursor || null;
  const same = want.queue === view.queue && want.state === view.state && want.q === view.q;
  if (same && page === view.page && cursor === view.cursors[view.page]) {
    if (stale) load();
    return;
  }
  if (!same) {
    selected.clear();
    view.cursors = [null];
  }
  Object.assign(view, want, { page, signature: "" });
  view.cursors[page] = cursor;
  renderFilters();
  load();
}

function touches(e) {
  if (view.queue && e.queue !== view.queue) return false;
  return !view.state || e.from === view.state || e.to === view.state;
}

function setFilter(change) {
  setParams({ ...change, page: null, cursor: null });
}

export function renderFilters() {
  if (!el.queue) return;
  const queues = store.queues();
  mount(
    el.queue,
    h("option", { value: "" }, "all queues"),
    queues.map((q) => h("option", { value: q, selected: q === view.queue }, q)),
  );
  el.queue.value = view.queue;
  el.search.value = view.q;
  mount(
    el.tabs,
    ["", ...STATES].map((s) =>
      h(
        "button.tab",
        { type: "button", role: "tab", "aria-selected": String(s === view.state), "data-state-tab": s || "all", onclick: () => setFilter({ state: s }) },
        s || "all",
      ),
    ),
  );
  renderBulk();
}

async function load() {
  if (!el.body) return;
  if (el.root.hidden) {
    stale = true; // re-read when shown: a hidden table costs no requests
    return;
  }
  stale = false;
  const query = { queue: view.queue, state: view.state, q: view.q, limit: PAGE_SIZE, cursor: view.cursors[view.page] };
  let unchanged;
  try {
    const page = await api.jobs(query);
    const signature = JSON.stringify(page);
    unchanged = signature === view.signature;
    view.signature = signature;
    view.jobs = page.jobs;
    view.next = page.next_cursor;
    el.note.textContent = searchNote(page);
  } catch (err) {
    el.note.textContent = `Could not list jobs: ${err.message}`;
    return;
  }
  if (unchanged) return; // an event that changed nothing on this page redraws nothing
  const shown = new Set(view.jobs.map((j) => j.id));
  for (const id of selected) if (!shown.has(id)) selected.delete(id);
  renderRows();
  renderPager();
  renderBulk();
}

/** "searched 5,000 of 100,000 — more with Next" when a budget ran out; honest about the index. */
function searchNote(page) {
  if (page.scanned === null || page.scanned === undefined) return page.jobs.length ? "" : "No jobs match.";
  const how = page.indexed ? `index on ${page.indexed}` : "scan";
  const parts = [`${num(page.jobs.length)} shown`, `searched ${num(page.scanned)} of ${num(page.candidates)} (${how})`];
  if (page.next_cursor && page.jobs.length < PAGE_SIZE) parts.push("the search budget ran out: Next searches on");
  else if (!page.jobs.length) parts.push("no jobs match");
  return parts.join(" · ");
}

function renderRows() {
  // Redrawing under a priority being typed would swap the input for a new one mid-keystroke
  // (the value read back as "50" for a typed "0"): the rows wait until focus leaves that row.
  if (document.activeElement?.matches?.("tr[data-job] input.prio") && el.body.contains(document.activeElement)) {
    heldBack = true;
    return;
  }
  const focused = document.activeElement?.closest?.("tr[data-job]")?.dataset.job;
  const shown = new Set(view.jobs.map((j) => j.id));
  for (const id of edits.keys()) if (!shown.has(id)) edits.delete(id);
  mount(el.body, view.jobs.map(row));
  if (focused) el.body.querySelector(`tr[data-job="${CSS.escape(focused)}"] input.prio`)?.focus();
  if (el.all) el.all.checked = view.jobs.length > 0 && view.jobs.every((j) => selected.has(j.id));
}

function row(job) {
  const box = store.canMutate
    ? h("td.sel", h("input", { type: "checkbox", checked: selected.has(job.id), "aria-label": `select ${job.id}`, onchange: (e) => toggle(job.id, e.target.checked) }))
    : null;
  return h(
    "tr",
    { "data-job": job.id, "data-state": job.state },
    box,
    h("td", h("button.link.mono", { type: "button", onclick: () => openDrawer(job.id) }, job.id)),
    h("td", job.actor),
    h("td", job.queue),
    h("td", h(`span.state.s-${job.state}`, job.state)),
    h("td.num", job.priority),
    h("td.num", `${job.attempts}/${job.max_retries + 1}`),
    h("td", ago(job.created_ms)),
    h("td", job.state === "active" ? h("progress", { max: 100, value: job.progress }) : job.state === "completed" ? "100%" : ""),
    store.canAct ? h("td.actions", h("div.row-actions", rowActions(job))) : null,
  );
}

function rowActions(job) {
  const done = () => load();
  const out = [];
  if (job.state === "failed") out.push(button("Retry", () => act("Retry", () => api.retry(job.id), () => `${job.id} retried`).then(done), "small", { "data-action": "retry" }));
  if (job.state === "delayed") out.push(button("Promote", () => act("Promote", () => api.promote(job.id), () => `${job.id} runs now`).then(done), "small", { "data-action": "promote" }));
  if (job.state === "waiting" || job.state === "delayed") {
    const input = h("input.prio", {
      type: "number",
      min: 0,
      max: 99,
      value: edits.get(job.id) ?? job.priority,
      "aria-label": "priority",
      oninput: (e) => edits.set(job.id, e.target.value),
    });
    out.push(
      h(
        "form.prio-form",
        {
          onsubmit: async (e) => {
            e.preventDefault();
            const value = input.value;
            const ok = await act("Priority", () => api.priority(job.id, Number(value)), () => `${job.id}: priority ${value}`);
            if (ok) edits.delete(job.id);
            input.blur(); // Enter leaves focus in the input: the redraw it held back may go now
            done();
          },
        },
        input,
        h("button.small.ghost", { type: "submit", "data-action": "priority" }, "Set"),
      ),
    );
  }
  out.push(
    button(
      "Delete",
      async () => {
        const force = job.state === "active";
        if (force && !(await confirmAction(`${job.id} is running: delete it anyway (its outcome is dropped)?`, "Delete"))) return;
        await act("Delete", () => api.remove(job.id, force), () => `${job.id} deleted`);
        done();
      },
      "small.danger",
      { "data-action": "delete" },
    ),
  );
  return out;
}

function toggle(id, on) {
  if (on) selected.add(id);
  else selected.delete(id);
  el.all.checked = view.jobs.length > 0 && view.jobs.every((j) => selected.has(j.id));
  renderBulk();
}

function selectPage(on) {
  for (const job of view.jobs) on ? selected.add(job.id) : selected.delete(job.id);
  renderRows();
  renderBulk();
}

function renderPager() {
  mount(
    el.pager,
    button("« First", () => go(0), "ghost", { disabled: view.page === 0, "data-page": "first" }),
    button("‹ Previous", () => go(view.page - 1), "ghost", { disabled: view.page === 0, "data-page": "previous" }),
    h("span.muted", `page ${view.page + 1}`),
    button("Next ›", () => {
      view.cursors[view.page + 1] = view.next;
      return go(view.page + 1);
    }, "ghost", { disabled: !view.next, "data-page": "next" }),
  );
}

function go(page) {
  const target = Math.max(0, page);
  view.cursors.length = target + 1;
  selected.clear();
  setParams({ page: target > 0 ? target + 1 : null, cursor: view.cursors[target] || null });
}

function renderBulk() {
  if (!el.bulk || !store.canMutate) return;
  const parts = [];
  if (selected.size > 0) {
    parts.push(h("span", { "data-selected": selected.size }, `${num(selected.size)} selected`));
    for (const action of Object.keys(BULK)) {
      parts.push(button(`${cap(action)} selected`, () => bulkSelected(action), action === "delete" ? "small.danger" : "small", { "data-bulk": `${action}-selected` }));
    }
  }
  if (view.queue && view.state && !view.q) {
    const count = store.counts[view.queue]?.[view.state] ?? 0;
    for (const [action, source] of Object.entries(BULK)) {
      if ((source && source !== view.state) || (action === "delete" && view.state === "active")) continue;
      parts.push(
        button(`${cap(action)} all ${num(count)} ${view.state}`, () => bulkFilter(action), action === "delete" ? "small.danger" : "small", {
          "data-bulk": `${action}-filter`,
          disabled: count === 0,
        }),
      );
    }
  }
  mount(el.bulk, parts);
  el.bulk.hidden = parts.length === 0;
}

// Every bulk action is previewed (the exact count, from a dry run), confirmed, then run in the
// background as an operation (issue 20): its progress shows in the Operations view.
async function bulkSelected(action) {
  const ids = [...selected];
  const op = await previewThenRun({ action, ids }, `${num(ids.length)} selected job${ids.length === 1 ? "" : "s"}`);
  if (op) {
    selected.clear();
    view.signature = ""; // redraw the checkboxes even if no row changed
  }
  await load();
}

async function bulkFilter(action) {
  const { queue, state } = view;
  await previewThenRun({ action, filter: { queue, state } }, `all ${state} jobs of ${queue}`);
  await load();
}

const cap = (s) => s[0].toUpperCase() + s.slice(1);
