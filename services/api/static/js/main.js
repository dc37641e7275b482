// Boot: learn where the gateway is, find out who we are (login page or dashboard), open the
// tab's one stream, and route between views by the URL's hash.

import { api, onUnauthorized } from "./api.js";
import { $ } from "./dom.js";
import { closeDrawer, initDrawer, openDrawer } from "./drawer.js";
import { initJobs, jobsShown, renderFilters, showJobs } from "./jobs.js";
import { initFailures } from "./failures.js";
import { initOperations } from "./operations.js";
import { initOverview } from "./overview.js";
import { store } from "./store.js";
import { LiveStream } from "./stream.js";
import { initSubmit } from "./submit.js";
import { confirmAction } from "./ui.js";
import { initWorkers } from "./workers.js";

const VIEWS = ["overview", "jobs", "workers", "submit", "operations", "failures"];
let config = null;
let stream = null;
let started = false;

async function boot() {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#end-sessions").addEventListener("click", endAllSessions);
  window.addEventListener("hashchange", route);
  onUnauthorized(() => showLogin("Your session has ended: log in again."));
  const code = takeLoginCode();
  try {
    config = await api.config();
    let refused = "";
    if (code) {
      try {
        await api.loginWithCode(code);
      } catch (err) {
        refused = `That login link no longer works (${err.message}): log in with a token.`;
      }
    }
    const { role } = await api.session();
    if (role) start(role);
    else showLogin(refused);
  } catch (err) {
    banner(`The API is unreachable: ${err.message}`);
  }
}

// A one-time login link (`facequeue up`, `facequeue login-link`) carries its code in the URL's
// fragment, which no server or proxy log ever sees; it leaves the address bar and history
// before anything else runs, and is posted once for a session.
function takeLoginCode() {
  const match = /^#code=([A-Za-z0-9_-]{1,200})$/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, "", location.pathname + location.search);
  return match[1];
}

function showLogin(message = "") {
  if (stream) stream.stop();
  $("#nav").hidden = true;
  $("#who").hidden = true;
  $("#logout").hidden = true;
  $("#end-sessions")?.setAttribute("hidden", ""); // a viewer's page no longer has it
  closeDrawer();
  for (const view of VIEWS) $(`#view-${view}`).hidden = true;
  $("#view-login").hidden = false;
  $("#login-error").textContent = message;
  $("#login-token").focus();
}

async function login(event) {
  event.preventDefault();
  const input = $("#login-token");
  try {
    const { role } = await api.login(input.value);
    input.value = "";
    if (started && role !== store.role) location.reload(); // views are built for one role
    else start(role);
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
}

async function logout() {
  try {
    await api.logout();
  } finally {
    location.replace("/"); // nothing of the old session's page survives
  }
}

// After a leaked cookie or a departure: every browser (this one too) must log in again.
async function endAllSessions() {
  if (!(await confirmAction("End every dashboard session, this one included? Bearer tokens keep working.", "End all"))) return;
  try {
    await api.endAllSessions();
  } catch (err) {
    banner(`Sessions were not ended: ${err.message}`);
    return;
  }
  location.replace("/");
}

function start(role) {
  store.role = role;
  document.body.dataset.role = role;
  $("#view-login").hidden = true;
  $("#nav").hidden = false;
  const who = $("#who");
  who.hidden = false;
  who.textContent = role;
  $("#logout").hidden = false;
  if (store.canMutate) $("#end-sessions").hidden = false;
  if (!started) {
    started = true;
    if (!store.canMutate) for (const el of document.querySelectorAll("[data-admin]")) el.remove();
    initOverview($("#view-overview"), (queue, state) => {
      showJobs(queue, state);
      location.hash = "#jobs";
    });
    initJobs($("#view-jobs"), openDrawer);
    initWorkers($("#view-workers"), openDrawer);
    initOperations($("#view-operations"));
    initFailures($("#view-failures"), openDrawer);
    if (store.canMutate) initSubmit($("#view-submit"), openDrawer);
    initDrawer();
    store.on("snapshot", renderFilters);
    stream = new LiveStream(config.stream_url, (type, envelope) => store.apply(type, envelope), connection, stillLoggedIn);
    checkOrigin();
  }
  stream.start();
  route();
}

async function stillLoggedIn() {
  try {
    const { role } = await api.session();
    if (role) return true;
    showLogin("Your session has ended: log in again.");
    return false;
  } catch {
    return true; // the API is down too: keep trying
  }
}

function connection(state) {
  const el = $("#conn");
  el.dataset.state = state;
  $("#conn-text").textContent = state;
}

function route() {
  if (!started || !$("#view-login").hidden) return;
  let view = location.hash.slice(1) || "overview";
  if (!VIEWS.includes(view) || (view === "submit" && !store.canMutate)) view = "overview";
  for (const name of VIEWS) $(`#view-${name}`).hidden = name !== view;
  if (view === "jobs") jobsShown();
  for (const link of document.querySelectorAll("#nav a")) link.setAttribute("aria-current", String(link.dataset.view === view));
}

/** A cross-origin gateway lets the page in only from FQ_DASHBOARD_ORIGIN: say so when it won't. */
function checkOrigin() {
  const streamOrigin = new URL(config.stream_url, location.href).origin;
  if (streamOrigin !== location.origin && config.dashboard_origin !== location.origin) {
    banner(
      `Live updates need the gateway (${streamOrigin}) to allow this page's origin ${location.origin}; ` +
        `it allows ${config.dashboard_origin || "no other origin"} (FQ_DASHBOARD_ORIGIN).`,
    );
  }
}

function banner(text) {
  const el = $("#banner");
  el.textContent = text;
  el.hidden = false;
}

boot();
