// Building DOM from data without ever parsing it as HTML: every string lands in a text
// node or an attribute, so job arguments, errors and worker names cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

/** h("tag.class", {attr: value, onclick: fn}, ...children): an element; children are nodes or text. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  return fill(el, attrs, children);
}

/** The same for SVG elements (sparklines). */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

const isAttrs = (value) =>
  value !== null && typeof value === "object" && !(value instanceof Node) && !Array.isArray(value);

function fill(el, attrs, children) {
  if (!isAttrs(attrs)) {
    children = [attrs, ...children]; // h("td", "text"): no attributes, only children
    attrs = {};
  }
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name === "value" && "value" in el) {
      el.value = value;
    } else if (name === "checked" || name === "disabled" || name === "selected") {
      el[name] = Boolean(value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/**
 * A table's horizontal scroller: a named, focusable region, so a keyboard user can scroll a table
 * wider than a phone (axe-core's scrollable-region-focusable). Every view's table goes through this.
 */
export function tableWrap(label, table) {
  return h("div.table-wrap", { tabindex: 0, role: "region", "aria-label": label }, table);
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** "3 s", "4 min", "2 h", "5 d" for a duration in seconds. */
export function age(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

/** Local time of a millisecond timestamp, with the date when it is not today. */
export function when(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export const num = (n) => (n ?? 0).toLocaleString();

/** Pretty JSON for <pre> blocks (text, never HTML). */
export const pretty = (value) => JSON.stringify(value, null, 2);

/** "3 min ago" / "in 2 h" for a ms timestamp. */
export function relative(ms, now = Date.now()) {
  const s = (now - ms) / 1000;
  if (Math.abs(s) < 5) return "just now";
  const text = age(Math.abs(s));
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

/** A relative time with the exact one on hover (title) and in `datetime`; kept fresh by tickTimes. */
export function ago(ms) {
  if (!ms) return "—";
  const d = new Date(ms);
  return h("time", { datetime: d.toISOString(), title: d.toLocaleString(), "data-ms": ms }, relative(ms));
}

/** Refresh every relative time on the page (called every few seconds). */
export function tickTimes() {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-ms]")) el.textContent = relative(Number(el.dataset.ms), now);
}
