// The registry of views and the URL that says what is on screen (issue 23).
//
// The hash is `#<view>?<params>`, e.g. `#jobs?queue=face_search&state=failed&q=gallery:demo&job=0f3k…`:
// every filter, page and open drawer lives there, so back/forward walk through them and a
// copied link reproduces the view. Adding a view is one call:
//
//   registerView("schedules", { label: "Schedules", admin: false, init(el) {…}, shown(params) {…} });
//
// The router creates the view's <section id="view-schedules"> and its nav link when the page
// has none, calls init(el) once (at start), and shown(params) on every route to it.
// Views change the URL with setParams({...}) (merged; null removes a key), never by hand.

import { $, h } from "./dom.js";

const views = new Map();
const listeners = [];
let allowed = () => true;
let last = { view: "", params: {} };

/** Add a view: { label, admin, init(el), shown(params), hidden() } (all optional but label). */
export function registerView(name, spec) {
  views.set(name, { inited: false, ...spec });
}

export function viewNames() {
  return [...views.keys()];
}

/** Who may see which view (e.g. admin-only ones): fn(name, spec) -> bool. */
export function setAllowed(fn) {
  allowed = fn;
}

/** Called after every route with {view, params}. */
export function onRoute(fn) {
  listeners.push(fn);
}

export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#/, "");
  const [name, query = ""] = text.split("?", 2);
  const params = Object.fromEntries(new URLSearchParams(query));
  return { view: name || "overview", params };
}

export function hashOf(view, params) {
  const clean = Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "");
  const query = new URLSearchParams(clean).toString();
  return `#${view}${query ? `?${query}` : ""}`;
}

export function current() {
  return last;
}

/** Go to a view with these params (a new history entry unless `replace`). */
export function navigate(view, params = {}, { replace = false } = {}) {
  const hash = hashOf(view, params);
  if (hash === location.hash) return route();
  if (replace) {
    history.replaceState(null, "", hash);
    route();
  } else {
    location.hash = hash; // fires hashchange -> route
  }
}

/** Change some params of the current view (null removes one). */
export function setParams(change, options = {}) {
  const params = { ...last.params, ...change };
  for (const [k, v] of Object.entries(change)) if (v === null || v === undefined || v === "") delete params[k];
  navigate(last.view, params, options);
}

function ensureDom(name, spec) {
  let el = $(`#view-${name}`);
  if (!el) {
    el = h("section.view", { id: `view-${name}`, hidden: true });
    $("main").append(el);
  }
  const nav = $("#nav");
  if (nav && !nav.querySelector(`a[data-view="${name}"]`)) {
    nav.append(h("a", { href: `#${name}`, "data-view": name, ...(spec.admin ? { "data-admin": "" } : {}) }, spec.label || name));
  }
  return el;
}

/** Show the view the URL names (the first registered one when it names none it may show). */
export function route() {
  let { view, params } = parseHash();
  const spec = views.get(view);
  if (!spec || !allowed(view, spec)) {
    view = views.keys().next().value;
    params = {};
  }
  for (const [name, other] of views) {
    if (!allowed(name, other)) {
      $(`#view-${name}`)?.setAttribute("hidden", "");
      continue;
    }
    const el = ensureDom(name, other);
    const show = name === view;
    if (!show && !el.hidden && other.hidden) other.hidden();
    el.hidden = !show;
  }
  const active = views.get(view);
  const el = $(`#view-${view}`);
  if (!active.inited) {
    active.inited = true;
    active.init?.(el);
  }
  last = { view, params };
  active.shown?.(params);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) {
      link.setAttribute("aria-current", "page");
      // The nav link comes back to this view as it was left (its filters, not an open drawer).
      const { job: _drawer, ...kept } = params;
      link.setAttribute("href", hashOf(view, kept));
    } else link.removeAttribute("aria-current");
  }
  document.title = `${active.label || view} · facequeue`;
  for (const fn of listeners) fn(last);
}

/** Build every view the user may see, and init it, now: views keep listening while hidden. */
export function prepare() {
  for (const [name, spec] of views) {
    if (!allowed(name, spec) || spec.inited) continue;
    const el = ensureDom(name, spec);
    spec.inited = true;
    spec.init?.(el);
  }
}

export function startRouting() {
  window.addEventListener("hashchange", route);
}
