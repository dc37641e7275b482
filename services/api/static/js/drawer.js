// The job drawer: one job in full (args, result, error, traceback, timeline) with a live progress
// bar. Progress events move the bar; a transition of this job re-reads it from the API.

import { api } from "./api.js";
import { $, ago, h, mount, pretty, when } from "./dom.js";
import { renderFaceResult } from "./face.js";
import { store } from "./store.js";
import { act, button, throttle } from "./ui.js";

let current = null;
//: Closing goes through the URL (the open job is its `job` param); main.js sets how.
let requestClose = () => closeDrawer();

export function onDrawerClose(fn) {
  requestClose = fn;
}

export function drawerJob() {
  return current;
}
let bar = null;
let stage = null;

export function initDrawer() {
  const reload = throttle(() => current && show(current), 250);
  store.on("job", (e) => e.job === current && reload());
  store.on("snapshot", reload);
  store.on("progress", (e) => {
    if (e.job !== current || !bar) return;
    bar.value = e.percent;
    bar.textContent = `${Math.round(e.percent)}%`;
    stage.textContent = `${Math.round(e.percent)}% ${e.stage || ""}`;
  });
  document.addEventListener("keydown", (e) => e.key === "Escape" && current && requestClose());
}

export async function openDrawer(id) {
  current = id;
  const drawer = $("#drawer");
  drawer.hidden = false;
  mount(drawer, header(id), h("p.muted", "Loading…"));
  await show(id);
}

export function closeDrawer() {
  current = null;
  bar = null;
  mount($("#drawer")).hidden = true;
}

function header(id) {
  return h("header", h("h2.mono", id), button("✕", () => requestClose(), "ghost.close", { "aria-label": "close" }));
}

async function show(id) {
  let job;
  try {
    job = await api.job(id);
  } catch (err) {
    if (current === id) mount($("#drawer"), header(id), h("p.error", err.status === 404 ? "This job no longer exists." : err.message));
    return;
  }
  if (current !== id) return; // another job was opened meanwhile
  bar = h("progress", { max: 100, value: job.state === "completed" ? 100 : job.progress }, `${Math.round(job.progress)}%`);
  stage = h("span.muted", job.state === "active" ? `${Math.round(job.progress)}% ${job.stage}` : "");
  mount(
    $("#drawer"),
    header(id),
    h("div.drawer-state", h(`span.state.s-${job.state}`, { "data-drawer-state": job.state }, job.state), bar, stage),
    store.canAct ? h("div.drawer-actions", actions(job)) : null,
    facts(job),
    section("Arguments", h("pre", pretty(job.args))),
    Object.keys(job.kwargs).length ? section("Keyword arguments", h("pre", { "data-drawer-kwargs": "" }, pretty(job.kwargs))) : null,
    Object.keys(job.options).length ? section("Dramatiq options", h("pre", { "data-drawer-options": "" }, pretty(job.options))) : null,
    job.result !== null ? section("Result", renderFaceResult(job) || h("pre", pretty(job.result))) : null,
    job.error ? section("Error", h("pre.error", job.error)) : null,
    job.traceback ? section("Traceback", h("pre.traceback", job.traceback)) : null,
    section("Timeline", timeline(job.timeline)),
  );
}

function actions(job) {
  const again = () => show(job.id);
  return [
    job.state === "failed" ? button("Retry", () => act("Retry", () => api.retry(job.id)).then(again), "small") : null,
    job.state === "delayed" ? button("Promote", () => act("Promote", () => api.promote(job.id)).then(again), "small") : null,
    job.state !== "active" ? button("Delete", () => act("Delete", () => api.remove(job.id)).then(again), "small.danger") : null,
  ];
}

function facts(job) {
  const rows = [
    ["actor", job.actor],
    ["queue", job.queue],
    ["priority", job.priority],
    ["attempts", job.max_retries < 0 ? `${job.attempts} (retries unlimited)` : `${job.attempts} of ${job.max_retries + 1}`],
    ["worker", job.worker || "—"],
    ["created", ago(job.created_ms)],
    ["eta", job.eta_ms ? ago(job.eta_ms) : null],
    ["started", ago(job.started_ms)],
    ["finished", ago(job.finished_ms)],
  ].filter(([, v]) => v !== null);
  return h("dl.facts", rows.map(([k, v]) => [h("dt", k), h("dd", v instanceof Node ? v : String(v))]));
}

function section(title, body) {
  return h("section", h("h3", title), body);
}

function timeline(entries) {
  if (!entries || entries.length === 0) return h("p.muted", "No transitions yet.");
  return h(
    "ol.timeline",
    entries.map((e) => {
      const details = ["reason", "who", "worker", "attempt", "priority", "error"]
        .filter((k) => e[k] !== undefined && e[k] !== null && e[k] !== "")
        .map((k) => `${k}: ${e[k]}`)
        .join(" · ");
      return h(
        "li",
        h("time", when(e.ts * 1000)),
        " ",
        h("strong", `${e.from || "new"} → ${e.to}`),
        details ? h("span.muted", ` ${details}`) : null,
      );
    }),
  );
}
