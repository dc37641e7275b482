// The connection banner (issue 23): while the stream is not live, say for how long the page has
// been without live updates, counting up each second, and that it keeps reconnecting.

import { $, age, h } from "./dom.js";

//: Seconds without a live stream before the banner shows.
const GRACE_S = 2;
let since = null;
let timer = null;
let el;

export function initOffline() {
  el = h("div.offline", { role: "status", hidden: true, "data-offline": "" });
  $("#banner").after(el);
  document.addEventListener("fq:connection", (e) => update(e.detail));
}

function update(state) {
  if (state === "live") {
    since = null;
    clearInterval(timer);
    timer = null;
    el.hidden = true;
    return;
  }
  if (since === null) since = performance.now();
  if (!timer) timer = setInterval(render, 1000);
  render(state);
}

function render(state) {
  if (since === null) return;
  const s = (performance.now() - since) / 1000;
  const what = typeof state === "string" ? state : $("#conn")?.dataset.state || "offline";
  if (s < GRACE_S) return; // a page still connecting is not offline
  el.hidden = false;
  el.textContent = `No live updates for ${age(s)} (${what}): still reconnecting. What you see may be out of date.`;
}
