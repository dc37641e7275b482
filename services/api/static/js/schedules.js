// Schedules (issue 21): every cron job with its next and last firing and the outcome of the job
// it last created; an admin creates, edits, pauses, runs and deletes them. Live: `schedule`
// events re-read the list, `job` events update the last jobs' outcomes in place.

import { api } from "./api.js";
import { ago, h, mount, pretty, tableWrap } from "./dom.js";
import { store } from "./store.js";
import { act, button, confirmAction, throttle } from "./ui.js";

//: Shortest interval between two re-reads of the list, in ms.
const REFETCH_MS = 300;

let schedules = [];
let body;
let note;
let openDrawer = () => {};

export function initSchedules(root, onOpenJob) {
  openDrawer = onOpenJob;
  body = h("tbody");
  note = h("p.muted.note");
  const cols = ["name", "when", "runs", "next", "last", "last job", "source", ""];
  mount(
    root,
    store.canMutate ? h("div.toolbar", button("New schedule", () => openEditor(null), "", { "data-action": "new-schedule" })) : null,
    tableWrap("schedules", h("table.schedules", h("thead", h("tr", cols.map((c) => h("th", c)))), body)),
    note,
  );
  const refetch = throttle(load, REFETCH_MS);
  store.on("snapshot", refetch);
  store.on("schedule", refetch);
  store.on("job", (e) => {
    const s = schedules.find((x) => x.last_job === e.job);
    if (s && e.to) {
      s.last_job_state = e.to;
      render();
    }
  });
  load();
}

async function load() {
  try {
    schedules = (await api.schedules()).schedules;
  } catch {
    return; // the next schedule event retries
  }
  render();
}

function render() {
  note.textContent = schedules.length ? "" : "No schedule yet.";
  mount(body, schedules.map(row));
}

function row(s) {
  const job = s.last_job
    ? h("button.link.mono", { type: "button", onclick: () => openDrawer(s.last_job) }, s.last_job_state || "gone")
    : "—";
  return h(
    "tr",
    { "data-schedule": s.name, "data-enabled": String(s.enabled) },
    h("td.mono", s.name),
    h("td", h("span.mono", s.cron), h("span.muted", ` ${s.timezone}`)),
    h("td", `${s.actor} on ${s.queue}`, h("span.muted", ` · priority ${s.priority} · ${s.misfire}`)),
    h("td", { "data-next": "" }, s.enabled ? ago(s.next_ms) : h("span.badge.paused", "paused")),
    h("td", { "data-last": "" }, ago(s.last_ms)),
    h(
      "td",
      { "data-last-job": s.last_job_state || "" },
      job,
      // A due firing that could not happen (actor gone, arguments it no longer takes): why.
      s.last_error ? h("span.badge.paused", { "data-last-error": "", title: s.last_error }, "cannot fire") : null,
    ),
    h("td", s.source),
    h("td.actions", store.canMutate ? actions(s) : null),
  );
}

function actions(s) {
  const definition = { cron: s.cron, timezone: s.timezone, actor: s.actor, queue: s.queue, args: s.args, priority: s.priority, misfire: s.misfire };
  return [
    button("Run now", () => act(`Run ${s.name}`, () => api.runSchedule(s.name), (r) => `${s.name}: job ${r.job} created`), "small", { "data-action": "run" }),
    s.enabled
      ? button("Pause", () => act(`Pause ${s.name}`, () => api.updateSchedule(s.name, { ...definition, enabled: false }), () => `${s.name} paused`), "ghost.small", { "data-action": "pause" })
      : button("Resume", () => act(`Resume ${s.name}`, () => api.updateSchedule(s.name, { ...definition, enabled: true }), () => `${s.name} resumed`), "ghost.small", { "data-action": "resume" }),
    s.source === "api" ? button("Edit", () => openEditor(s), "ghost.small", { "data-action": "edit" }) : null,
    s.source === "api"
      ? button(
          "Delete",
          async () => {
            if (await confirmAction(`Delete schedule ${s.name}? The jobs it created stay.`, "Delete")) {
              await act(`Delete ${s.name}`, () => api.deleteSchedule(s.name), () => `${s.name} deleted`);
            }
          },
          "danger.small",
          { "data-action": "delete" },
        )
      : null,
  ];
}

function input(name, label, value, attrs = {}) {
  return h("label", label, h("input", { name, value: value ?? "", ...attrs }));
}

/** The create (s null) or edit dialog. */
async function openEditor(s) {
  let actors = [];
  try {
    actors = (await api.actors()).actors;
  } catch {
    // typed by hand then
  }
  const error = h("p.error", { role: "alert" });
  const actor = h(
    "select",
    { name: "actor" },
    actors.map((a) => h("option", { value: a.name, selected: s ? a.name === s.actor : false }, `${a.name} (${a.queue})`)),
  );
  const misfire = h("select", { name: "misfire" }, ["skip", "run_once"].map((m) => h("option", { value: m, selected: s ? s.misfire === m : false }, m)));
  const form = h(
    "form.schedule-form",
    { method: "dialog" },
    h("h3", s ? `Edit ${s.name}` : "New schedule"),
    s ? null : input("name", "Name", "", { required: true, pattern: "[A-Za-z0-9_-]{1,64}" }),
    input("cron", "Cron (5 fields or @hourly, @daily…)", s?.cron ?? "*/5 * * * *", { required: true, class: "mono" }),
    input("timezone", "Time zone", s?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? "UTC", { required: true }),
    h("label", "Actor", actor),
    h("label", "Arguments (JSON)", h("textarea.mono", { name: "args", rows: 3, spellcheck: "false" }, pretty(s?.args ?? []))),
    input("priority", "Priority (lower runs first)", s?.priority ?? 5, { type: "number", min: 0, max: 99 }),
    h("label", "After downtime", misfire),
    error,
    h("menu", h("button.ghost", { type: "button", onclick: () => dialog.close() }, "Cancel"), h("button", { type: "submit" }, "Save")),
  );
  const dialog = h("dialog.confirm.schedule-editor", form);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    let args;
    try {
      args = JSON.parse(form.elements.args.value || "[]");
    } catch (err) {
      error.textContent = `Arguments are not JSON: ${err.message}`;
      return;
    }
    const spec = {
      cron: form.elements.cron.value,
      timezone: form.elements.timezone.value,
      actor: actor.value,
      args,
      priority: Number(form.elements.priority.value),
      misfire: misfire.value,
      enabled: s ? s.enabled : true,
    };
    try {
      if (s) await api.updateSchedule(s.name, spec);
      else await api.createSchedule({ name: form.elements.name.value, ...spec });
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    dialog.close();
    load();
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
