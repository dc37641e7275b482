// Feedback shared by every view: toasts for outcomes, a confirm dialog for destructive actions.

import { $, h } from "./dom.js";

//: Milliseconds a toast stays (errors stay twice as long: they need reading).
const TOAST_MS = 5000;

export function toast(kind, text) {
  const el = h(`div.toast.${kind}`, { role: kind === "error" ? "alert" : "status" }, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 2 * TOAST_MS : TOAST_MS);
}

/**
 * Run an API action and say how it went: `success(result)` gives the text on success; an
 * ApiError's message (the API's own words) is shown otherwise. Returns the result or null.
 */
export async function act(label, action, success) {
  try {
    const result = await action();
    toast("ok", success ? success(result) : `${label}: done`);
    return result;
  } catch (err) {
    toast("error", `${label} failed: ${err.message}`);
    return null;
  }
}

/** Ask before a destructive action; resolves true on confirm. */
export function confirmAction(text, okLabel = "Confirm") {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

/** Call `fn` at most once per `ms`, trailing: bursts of events cost one re-fetch. */
export function throttle(fn, ms) {
  let timer = null;
  let last = -Infinity;
  return () => {
    if (timer) return;
    const wait = Math.max(0, last + ms - performance.now());
    timer = setTimeout(() => {
      timer = null;
      last = performance.now();
      fn();
    }, wait);
  };
}

/** A button that runs `onclick` once at a time (disabled while it runs). */
export function button(label, onclick, cls = "", attrs = {}) {
  const el = h(`button${cls ? "." + cls : ""}`, { type: "button", ...attrs }, label);
  el.addEventListener("click", async (event) => {
    event.stopPropagation();
    el.disabled = true;
    try {
      await onclick(event);
    } finally {
      el.disabled = false;
    }
  });
  return el;
}

/** Coalesce calls into one per animation frame: a burst of events renders once. */
export function perFrame(fn) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}
