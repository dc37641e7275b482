// Per-queue limits on the overview cards (issue 21): "3/4 running · 17/20 per s", and, for an
// admin, a small dialog to change them. Values come from /api/v1/limits, re-read when a
// `limits` event says they changed and, for limited queues only, as their jobs move.

import { api } from "./api.js";
import { h, num } from "./dom.js";
import { store } from "./store.js";
import { act, button, throttle } from "./ui.js";

//: Shortest interval between two re-reads of the limits' use, in ms.
const REFETCH_MS = 1000;
//: A rate window rolls on without events: limited queues are re-read this often, in ms.
const ROLL_MS = 2000;

const usage = new Map();
const lines = new Map();
let refetch = () => {};

const limited = (u) => u && (u.concurrency !== null || u.rate_limit !== null);

export function initLimits() {
  refetch = throttle(load, REFETCH_MS);
  store.on("snapshot", refetch);
  store.on("limits", refetch);
  store.on("job", (e) => limited(usage.get(e.queue)) && refetch());
  setInterval(() => [...usage.values()].some(limited) && refetch(), ROLL_MS);
}

async function load() {
  try {
    for (const u of (await api.limits()).queues) usage.set(u.queue, u);
  } catch {
    return; // shown again at the next change
  }
  for (const [queue, el] of lines) render(queue, el);
}

/** "3/4 running · 17/20 per s", or "none". */
export function describe(u) {
  if (!limited(u)) return "none";
  const parts = [];
  if (u.concurrency !== null) parts.push(`${num(u.in_use)}/${num(u.concurrency)} running`);
  if (u.rate_limit !== null) {
    const per = u.rate_window_s === 1 ? "s" : `${u.rate_window_s} s`;
    parts.push(`${num(u.in_window)}/${num(u.rate_limit)} per ${per}`);
  }
  return parts.join(" · ");
}

function render(queue, el) {
  const u = usage.get(queue);
  el.textContent = describe(u);
  el.closest("[data-limits-row]")?.classList.toggle("is-limited", limited(u));
}

/** The card's "limits" row for `queue`: its use, and an Edit button for an admin. */
export function limitsRow(queue) {
  const line = h("span", { "data-limits": "" }, "—");
  lines.set(queue, line);
  render(queue, line);
  return h(
    "div.facts",
    { "data-limits-row": "" },
    h("span", "limits ", line),
    store.canMutate ? button("Edit limits", () => openDialog(queue), "ghost.small", { "data-action": "limits" }) : null,
  );
}

function field(name, label, value, attrs = {}) {
  return h("label", label, h("input", { name, type: "number", value: value ?? "", ...attrs }));
}

function openDialog(queue) {
  const u = usage.get(queue) || { concurrency: null, rate_limit: null, rate_window_s: 1 };
  const error = h("p.error", { role: "alert" });
  const form = h(
    "form.limits-form",
    { method: "dialog" },
    h("h3", `Limits of ${queue}`),
    h("p.muted", "Empty means no limit. Changes apply from the next dispatch."),
    field("concurrency", "At most running at once", u.concurrency, { min: 1, step: 1, placeholder: "no limit" }),
    field("rate_limit", "At most started per window", u.rate_limit, { min: 1, step: 1, placeholder: "no limit" }),
    field("rate_window_s", "Window (seconds)", u.rate_window_s, { min: 0.1, step: "any", required: true }),
    error,
    h("menu", h("button.ghost", { type: "button", value: "cancel", onclick: () => dialog.close() }, "Cancel"), h("button", { type: "submit" }, "Save")),
  );
  const dialog = h("dialog.confirm.limits", { "data-limits-dialog": queue }, form);
  const optional = (name) => (form.elements[name].value === "" ? null : Number(form.elements[name].value));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { concurrency: optional("concurrency"), rate_limit: optional("rate_limit"), rate_window_s: Number(form.elements.rate_window_s.value) };
    const saved = await act(`Limits of ${queue}`, () => api.setLimits(queue, body), (r) => `${queue}: limits ${describe(r)}`);
    if (saved) {
      usage.set(queue, saved);
      render(queue, lines.get(queue));
      dialog.close();
    } else {
      error.textContent = "Not saved: see the message above.";
    }
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

