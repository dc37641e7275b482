// Audit: who did what, newest first: the person or key, their role, the client address, the
// action, its queue and target, how many jobs. Filters by person, action, queue and time are
// the API's; new entries arrive live as `audit` events and are shown when they match. The
// filters are in the URL (#audit?person=…&action=…&queue=…&since=<ISO time, UTC>): back/forward
// walk through them and a link reproduces the view.
//   GET /api/v1/audit?person=&action=&queue=&since_ms=&limit= -> {"entries": [...]}

import { call } from "./api.js";
import { ago, h, mount, num, tableWrap } from "./dom.js";
import { store } from "./store.js";

//: Entries shown at most.
const LIMIT = 200;
let body;
let note;
let fields;
let shown = [];
let setParams = () => {};
const NAMES = ["person", "action", "queue", "since"];

/** `params(change)` writes the filters to the URL; the router calls auditShown with them. */
export function initAudit(root, params) {
  setParams = params;
  body = h("tbody");
  note = h("p.muted.note");
  fields = {
    person: h("input", { name: "person", placeholder: "anyone", maxlength: 254 }),
    action: h("input", { name: "action", placeholder: "any action", maxlength: 64, list: "audit-actions" }),
    queue: h("input", { name: "queue", placeholder: "any queue", maxlength: 64 }),
    since: h("input", { name: "since", type: "datetime-local" }),
  };
  const actions = ["retry", "promote", "priority", "delete", "clean", "pause", "resume", "retention", "create_key", "revoke_key", "end_sessions", "remove_worker"];
  const form = h(
    "form.filters.audit-filters",
    { onsubmit: (event) => (event.preventDefault(), setParams(urlParams())) },
    h("label", "Person ", fields.person),
    h("label", "Action ", fields.action),
    h("datalist", { id: "audit-actions" }, actions.map((a) => h("option", { value: a }))),
    h("label", "Queue ", fields.queue),
    h("label", "Since ", fields.since),
    h("button", { type: "submit" }, "Filter"),
  );
  const cols = ["when", "who", "role", "address", "action", "queue", "target", "count"];
  mount(root, form, tableWrap("audit entries", h("table.audit", h("thead", h("tr", cols.map((c) => h("th", c)))), body)), note);
  store.on("audit", live);
  store.on("snapshot", load); // after a reconnect, what was missed
}

/** The view was routed to with these params (person, action, queue, since): show them. */
export function auditShown(params = {}) {
  for (const name of NAMES) fields[name].value = params[name] || "";
  fields.since.value = localInput(params.since);
  load();
}

// `since` travels as an absolute UTC time, so a link means the same instant in any time zone;
// the form's datetime-local input shows it in the reader's own.
function urlParams() {
  const out = Object.fromEntries(NAMES.map((n) => [n, fields[n].value.trim() || null]));
  const since = fields.since.value ? new Date(fields.since.value) : null;
  out.since = since && Number.isFinite(since.getTime()) ? since.toISOString() : null;
  return out;
}

function localInput(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || !Number.isFinite(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function filters() {
  const since = fields.since.value ? new Date(fields.since.value).getTime() : undefined;
  return {
    person: fields.person.value.trim(),
    action: fields.action.value.trim(),
    queue: fields.queue.value.trim(),
    since_ms: since,
  };
}

export async function load() {
  try {
    const { entries } = await call("GET", "/api/v1/audit", { query: { ...filters(), limit: LIMIT } });
    shown = entries;
    render();
  } catch (err) {
    note.textContent = `The audit could not be read: ${err.message}`;
  }
}

function matches(entry, f) {
  return (
    (!f.person || entry.who === f.person) &&
    (!f.action || entry.action === f.action) &&
    (!f.queue || entry.queue === f.queue) &&
    (!f.since_ms || entry.ts_ms >= f.since_ms)
  );
}

// An `audit` event carries the entry (its stream id is `entry`): shown at once if it matches.
function live(data) {
  const entry = {
    id: data.entry,
    who: data.who,
    role: data.role,
    address: data.address,
    action: data.action,
    queue: data.queue,
    target: data.target,
    count: data.count,
    ts_ms: data.ts_ms,
  };
  if (!matches(entry, filters()) || shown.some((e) => e.id === entry.id)) return;
  shown = [entry, ...shown].slice(0, LIMIT);
  render();
}

function render() {
  note.textContent = shown.length ? "" : "No audit entry matches.";
  mount(
    body,
    shown.map((e) =>
      h(
        "tr",
        { "data-entry": e.id, "data-action": e.action },
        h("td", ago(e.ts_ms)),
        h("td.who", e.who),
        h("td", e.role || "—"),
        h("td.mono", e.address || "—"),
        h("td", e.action),
        h("td", e.queue || "—"),
        h("td.mono", e.target || "—"),
        h("td.num", num(e.count)),
      ),
    ),
  );
}
