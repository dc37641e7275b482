// API keys (admins only): create one per person or robot (its secret is shown once, here),
// see when each was last used, and revoke it, which ends its API calls and streams at once.
//   POST   /api/v1/keys {name, role, queues?, expires_at?} -> 201 {id, secret, ...}
//   GET    /api/v1/keys -> {"keys": [{id, name, role, queues, created_ms, created_by, expires_at,
//                                     revoked_ms, last_used_ms, builtin, live}]}
//   DELETE /api/v1/keys/{id}

import { call } from "./api.js";
import { ago, h, mount, tableWrap } from "./dom.js";
import { store } from "./store.js";
import { act, button, confirmAction } from "./ui.js";

const enc = encodeURIComponent;
let body;
let secretBox;

export function initApiKeys(root) {
  body = h("tbody");
  secretBox = h("div.card.secret", { hidden: true, "data-secret": "" });
  const name = h("input", { name: "name", required: true, maxlength: 128, placeholder: "ada@example.com or ci-robot" });
  const role = h("select", { name: "role" }, ["viewer", "operator", "admin"].map((r) => h("option", { value: r }, r)));
  const queues = h("input", { name: "queues", placeholder: "every queue", title: "comma-separated queue names" });
  const expires = h("input", { name: "expires", type: "datetime-local" });
  const form = h(
    "form.card.key-form",
    { onsubmit: (event) => create(event, { name, role, queues, expires }) },
    h("h2", "New API key"),
    h("label", "Name ", name),
    h("label", "Role ", role),
    h("label", "Queues ", queues),
    h("label", "Expires ", expires),
    h("button", { type: "submit" }, "Create key"),
  );
  const cols = ["name", "role", "queues", "created", "by", "last used", "expires", "status", ""];
  mount(root, form, secretBox, tableWrap("API keys", h("table.keys", h("thead", h("tr", cols.map((c) => h("th", c)))), body)));
  store.on("admin", (e) => (e.action === "create_key" || e.action === "revoke_key") && refresh());
  refresh();
}

async function create(event, fields) {
  event.preventDefault();
  const spec = { name: fields.name.value.trim(), role: fields.role.value };
  const queues = fields.queues.value.split(",").map((q) => q.trim()).filter(Boolean);
  if (queues.length) spec.queues = queues;
  if (fields.expires.value) spec.expires_at = new Date(fields.expires.value).getTime();
  const created = await act("Create key", () => call("POST", "/api/v1/keys", { json: spec }), (k) => `key ${k.name} created`);
  if (!created) return;
  fields.name.value = fields.queues.value = fields.expires.value = "";
  showSecret(created);
  refresh();
}

// The secret exists only in this answer: shown once, never stored by the page.
function showSecret(created) {
  const value = h("code.mono", { "data-secret-value": "" }, created.secret);
  mount(
    secretBox,
    h("p", h("strong", `Secret of ${created.name}`), " — copy it now: it will not be shown again."),
    value,
    button("Copy", () => navigator.clipboard?.writeText(created.secret), "ghost"),
    button("Done", () => {
      secretBox.replaceChildren();
      secretBox.hidden = true;
    }, "ghost"),
  );
  secretBox.hidden = false;
}

async function refresh() {
  let keys;
  try {
    ({ keys } = await call("GET", "/api/v1/keys"));
  } catch {
    return; // the next key event refreshes again
  }
  mount(
    body,
    keys.map((k) =>
      h(
        "tr",
        { "data-key": k.id, "data-live": String(k.live) },
        h("td", k.name),
        h("td", k.role),
        h("td", k.queues ? k.queues.join(", ") : "all"),
        h("td", k.created_ms ? ago(k.created_ms) : "—"),
        h("td", k.created_by || (k.builtin ? "environment" : "—")),
        h("td", k.last_used_ms ? ago(k.last_used_ms) : "never"),
        h("td", k.expires_at ? ago(k.expires_at) : "never"),
        h("td", h(`span.badge.${k.live ? "w-alive" : "w-dead"}`, k.revoked_ms ? "revoked" : k.live ? "live" : "expired")),
        h("td", k.builtin || !k.live ? null : button("Revoke", () => revoke(k), "danger")),
      ),
    ),
  );
}

async function revoke(key) {
  if (!(await confirmAction(`Revoke ${key.name}? Its API calls and open streams stop at once.`, "Revoke"))) return;
  await act("Revoke key", () => call("DELETE", `/api/v1/keys/${enc(key.id)}`), () => `key ${key.name} revoked`);
  refresh();
}
