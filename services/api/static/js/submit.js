// Submit: any catalog actor by name with JSON arguments, and the face-search forms.

import { api } from "./api.js";
import { h, mount, pretty } from "./dom.js";
import { faceForms } from "./face.js";
import { act } from "./ui.js";

let actors = [];

export async function initSubmit(root, openDrawer) {
  const actor = h("select", { name: "actor", "aria-label": "actor" });
  const doc = h("p.muted");
  const args = h("textarea.mono", { name: "args", rows: 4, spellcheck: "false", "aria-label": "arguments (JSON)" }, "{}");
  const priority = h("input", { type: "number", name: "priority", min: 0, max: 99, value: 5 });
  const delay = h("input", { type: "number", name: "delay_ms", min: 0, value: 0 });
  const retries = h("input", { type: "number", name: "max_retries", min: 0, placeholder: "default" });
  const error = h("p.error", { role: "alert" });
  const describe = () => {
    const spec = actors.find((a) => a.name === actor.value);
    if (!spec) return;
    doc.textContent = `queue ${spec.queue} — ${spec.doc}`;
    const example = Object.fromEntries(Object.entries(spec.args.properties || {}).map(([k, p]) => [k, p.type === "number" || p.type === "integer" ? 1 : p.type === "string" ? "" : null]));
    args.value = pretty(example);
  };
  actor.addEventListener("change", describe);
  const form = h(
    "form.card.submit",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        error.textContent = "";
        let parsed;
        try {
          parsed = JSON.parse(args.value || "[]");
        } catch (err) {
          error.textContent = `Arguments are not JSON: ${err.message}`;
          return;
        }
        const spec = { actor: actor.value, args: parsed, priority: Number(priority.value), delay_ms: Number(delay.value) };
        if (retries.value !== "") spec.max_retries = Number(retries.value);
        const job = await act(`Submit ${actor.value}`, () => api.submit(spec), (j) => `${j.actor} ${j.id} submitted (${j.state})`);
        if (job) openDrawer(job.id);
      },
    },
    h("h2", "Submit a job"),
    h("label", "Actor ", actor),
    doc,
    h("label.block", "Arguments (JSON object by name, or array)", args),
    h("div.row", h("label", "Priority ", priority), h("label", "Delay (ms) ", delay), h("label", "Retries ", retries)),
    h("button", { type: "submit" }, "Submit"),
    error,
  );
  mount(root, h("div.submit-grid", form, faceForms(openDrawer)));
  try {
    actors = (await api.actors()).actors;
  } catch (err) {
    error.textContent = `Could not load the actor catalog: ${err.message}`;
    return;
  }
  mount(actor, actors.map((a) => h("option", { value: a.name }, `${a.name} (${a.queue})`)));
  describe();
}
