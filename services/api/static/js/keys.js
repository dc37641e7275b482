// Keyboard habits (issue 23): `/` search, `j`/`k` move through the jobs on screen, Enter opens
// the one marked, `r` retries it (or the open drawer's job), `?` lists the shortcuts. Keys typed
// into a field, or with a modifier, are left alone.

import { api } from "./api.js";
import { h } from "./dom.js";
import { drawerJob } from "./drawer.js";
import { store } from "./store.js";
import { act } from "./ui.js";

const HELP = [
  ["/", "search (jobs, or the gallery on screen)"],
  ["j / k", "next / previous job in the table"],
  ["Enter", "open the marked job"],
  ["r", "retry the marked or open job (failed jobs, admins)"],
  ["Escape", "close the drawer or this help"],
  ["?", "this help"],
];

let help;

export function initKeys() {
  help = h(
    "dialog.help",
    { "aria-labelledby": "help-title" },
    h("h2", { id: "help-title" }, "Keyboard shortcuts"),
    h("dl.keys", HELP.map(([k, what]) => [h("dt", h("kbd", k)), h("dd", what)])),
    h("form", { method: "dialog" }, h("button.ghost", { type: "submit" }, "Close")),
  );
  document.body.append(help);
  document.addEventListener("keydown", onKey);
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function visibleView() {
  return document.querySelector("main > .view:not([hidden])");
}

function rows() {
  return [...(visibleView()?.querySelectorAll("tr[data-job]") || [])];
}

function move(step) {
  const list = rows();
  if (!list.length) return;
  const at = list.findIndex((r) => r.classList.contains("marked"));
  const next = list[Math.min(list.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
  for (const r of list) r.classList.remove("marked");
  next.classList.add("marked");
  next.setAttribute("aria-selected", "true");
  (next.querySelector("button.link") || next).focus();
}

function marked() {
  return visibleView()?.querySelector("tr[data-job].marked");
}

async function retry() {
  const row = marked();
  const id = row?.dataset.job || drawerJob();
  if (!id || !store.canMutate) return;
  if (row && row.dataset.state !== "failed") return;
  await act("Retry", () => api.retry(id), () => `${id} retried`);
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target) || document.querySelector("dialog[open]:not(.help)")) return;
  if (e.key === "?") {
    help.open ? help.close() : help.showModal();
  } else if (e.key === "/") {
    const field = visibleView()?.querySelector("[data-search]");
    if (!field) return;
    field.focus();
    field.select?.();
  } else if (e.key === "j") move(1);
  else if (e.key === "k") move(-1);
  else if (e.key === "r") retry();
  else if (e.key === "Enter" && marked() && e.target === document.body) marked().querySelector("button.link")?.click();
  else return;
  e.preventDefault();
}

