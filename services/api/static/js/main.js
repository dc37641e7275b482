// Boot: learn where the gateway is, find out who we are (login page or dashboard), open the
// tab's one stream, and route between views by the URL's hash (router.js: a registry of views;
// register yours below with registerView).

import { api, onUnauthorized } from "./api.js";
import { auditShown, initAudit } from "./audit.js";
import { $ } from "./dom.js";
import { closeDrawer, drawerJob, initDrawer, onDrawerClose, openDrawer } from "./drawer.js";
import { initGalleries, galleriesShown } from "./galleries.js";
import { initJobs, jobsShown, renderFilters } from "./jobs.js";
import { initKeys } from "./keys.js";
import { initOffline } from "./offline.js";
import { initOverview, overviewShown } from "./overview.js";
import { navigate, onRoute, prepare, registerView, route, setAllowed, setParams, startRouting, viewNames } from "./router.js";
import { initApiKeys } from "./apikeys.js";
import { failuresShown, initFailures } from "./failures.js";
import { initOperations } from "./operations.js";
import { store } from "./store.js";
import { LiveStream } from "./stream.js";
import { initSubmit } from "./submit.js";
import { confirmAction } from "./ui.js";
import { initWorkers } from "./workers.js";
import { initSchedules } from "./schedules.js";

/** A job's drawer is the `job` param of whatever view is on screen. */
const openJob = (id) => setParams({ job: id });

registerView("overview", {
  label: "Overview",
  init: (el) => initOverview(el, (queue, state) => navigate("jobs", { queue, state }), (change) => setParams(change)),
  shown: overviewShown,
});
registerView("jobs", { label: "Jobs", init: (el) => initJobs(el, openJob, setParams), shown: jobsShown });
registerView("workers", { label: "Workers", init: (el) => initWorkers(el, openJob) });
registerView("galleries", { label: "Galleries", init: (el) => initGalleries(el, setParams), shown: galleriesShown });
registerView("schedules", { label: "Schedules", init: (el) => initSchedules(el, openJob) });
registerView("operations", { label: "Operations", init: (el) => initOperations(el) });
registerView("failures", { label: "Failures", init: (el) => initFailures(el, openJob, setParams), shown: failuresShown });
registerView("audit", { label: "Audit", init: (el) => initAudit(el, setParams), shown: auditShown });
registerView("keys", { label: "Keys", admin: true, init: (el) => initApiKeys(el) });
registerView("submit", { label: "Submit", admin: true, init: (el) => initSubmit(el, openJob) });

let config = null;
let stream = null;
let started = false;

async function boot() {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#end-sessions").addEventListener("click", endAllSessions);
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
    if (config.sso) $("#sso").hidden = false;
    const me = await api.session();
    if (me.role) start(me.role, me);
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
  $("#person").hidden = true;
  $("#logout").hidden = true;
  $("#end-sessions")?.setAttribute("hidden", ""); // a viewer's page no longer has it
  closeDrawer();
  for (const view of viewNames()) $(`#view-${view}`)?.setAttribute("hidden", "");
  $("#view-login").hidden = false;
  $("#login-error").textContent = message;
  $("#login-token").focus();
}

async function login(event) {
  event.preventDefault();
  const input = $("#login-token");
  try {
    const me = await api.login(input.value);
    input.value = "";
    if (started && me.role !== store.role) location.reload(); // views are built for one role
    else start(me.role, me);
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

function start(role, me = {}) {
  store.role = role;
  store.scope = me.queues || null; // a queue-scoped caller's queues (null: every queue)
  document.body.dataset.role = role;
  $("#view-login").hidden = true;
  $("#nav").hidden = false;
  const who = $("#who");
  who.hidden = false;
  who.textContent = role;
  // The person or key, and their queues when they are limited to some.
  const person = $("#person");
  person.hidden = !me.name;
  person.textContent = me.name ? `${me.name}${me.queues ? ` · ${me.queues.join(", ")}` : ""}` : "";
  $("#logout").hidden = false;
  if (store.canMutate) $("#end-sessions").hidden = false;
  if (!started) {
    started = true;
    if (!store.canMutate) for (const el of document.querySelectorAll("[data-admin]")) el.remove();
    setAllowed((_name, spec) => !spec.admin || store.canMutate);
    prepare();
    startRouting();
    initDrawer();
    onDrawerClose(() => setParams({ job: null }));
    onRoute(({ params }) => {
      if (params.job && params.job !== drawerJob()) openDrawer(params.job);
      else if (!params.job && drawerJob()) closeDrawer();
    });
    initKeys();
    store.on("snapshot", renderFilters);
    stream = new LiveStream(config.stream_url, config.events, (type, envelope) => store.apply(type, envelope), connection, stillLoggedIn);
    initOffline();
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
  document.dispatchEvent(new CustomEvent("fq:connection", { detail: state }));
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
