// Galleries (issue 23): every gallery with its size and version; a gallery's identities with
// the enrolled face, name, enrolment time and enrolling job; search by name; enrol by dropping
// an image (or choosing one); rename; forget an identity or delete a gallery, after asking.
// Live: `gallery` events re-read what they touch. The gallery, search and page are in the URL.

import { api } from "./api.js";
import { ago, h, mount, num } from "./dom.js";
import { store } from "./store.js";
import { act, button, confirmAction, throttle } from "./ui.js";

const PAGE = 60;
//: Shortest interval between two re-reads after gallery events, in ms.
const REFETCH_MS = 300;

const view = { gallery: "", q: "", after: "", list: [], identities: [], next: null, note: "" };
let el = {};
let setParams = () => {};
let openJob = () => {};

export function initGalleries(root, params, onOpenJob = null) {
  setParams = params;
  openJob = onOpenJob || ((id) => params({ job: id }));
  el.list = h("ul.gallery-list", { "aria-label": "galleries" });
  el.detail = h("div.gallery-detail");
  mount(root, h("div.galleries", h("nav.gallery-nav", { "aria-label": "gallery list" }, h("h2", "Galleries"), el.list, enrolForm(true)), el.detail));
  const refetchList = throttle(loadList, REFETCH_MS);
  const refetchOne = throttle(loadIdentities, REFETCH_MS);
  store.on("gallery", (e) => {
    refetchList();
    if (e.gallery === view.gallery) refetchOne();
  });
  store.on("snapshot", refetchList);
}

/** Routed to with ?gallery=&q=&after=. */
export function galleriesShown(params = {}) {
  const want = { gallery: params.gallery || "", q: params.q || "", after: params.after || "" };
  const changed = want.gallery !== view.gallery || want.q !== view.q || want.after !== view.after;
  Object.assign(view, want);
  loadList();
  if (changed || !view.identities.length) loadIdentities();
}

async function loadList() {
  if (!el.list) return;
  try {
    view.list = (await api.galleries()).galleries;
  } catch (err) {
    mount(el.list, h("li.error", `Could not list galleries: ${err.message}`));
    return;
  }
  mount(
    el.list,
    view.list.length === 0 ? h("li.muted", "No galleries yet: enrol someone to start one.") : null,
    view.list.map((g) =>
      h(
        "li",
        h(
          "a",
          { href: `#galleries?gallery=${encodeURIComponent(g.name)}`, "aria-current": g.name === view.gallery ? "page" : null, "data-gallery": g.name },
          h("strong", g.name),
          h("span.muted", ` ${num(g.identities)} · v${g.version}`),
        ),
      ),
    ),
  );
  if (view.gallery) renderHead();
}

async function loadIdentities() {
  if (!el.detail) return;
  if (!view.gallery) {
    mount(el.detail, h("p.muted", "Choose a gallery."));
    return;
  }
  const query = view.q ? { q: view.q, limit: PAGE } : { limit: PAGE, cursor: view.after || undefined };
  try {
    const page = await api.identities(view.gallery, query);
    view.identities = page.identities;
    view.next = page.next_cursor;
    view.note = view.q ? `${num(page.identities.length)} named like “${view.q}” (read ${num(page.scanned)})` : "";
  } catch (err) {
    view.identities = [];
    view.next = null;
    view.note = err.status === 404 ? "This gallery no longer exists." : `Could not read it: ${err.message}`;
  }
  renderDetail();
}

function renderHead() {
  const summary = view.list.find((g) => g.name === view.gallery);
  const head = el.detail.querySelector(".gallery-head .facts");
  if (head) head.textContent = summary ? `${num(summary.identities)} identities · version ${summary.version}` : "";
}

function renderDetail() {
  const search = h("input", { type: "search", value: view.q, placeholder: "name", "aria-label": "search by name", "data-search": "" });
  const head = h(
    "header.gallery-head",
    h("h2", view.gallery),
    h("span.muted.facts"),
    h("form.search", { role: "search", onsubmit: (e) => (e.preventDefault(), setParams({ q: search.value.trim() || null, after: null })) }, search, h("button.ghost", { type: "submit" }, "Find")),
    store.canMutate ? button("Delete gallery", dropGallery, "small.danger", { "data-action": "drop-gallery" }) : null,
  );
  const grid = h(
    "ul.identities",
    { "aria-label": `identities of ${view.gallery}` },
    view.identities.map((i) => card(i)),
  );
  const pager = h(
    "div.pager",
    view.after ? button("« First", () => setParams({ after: null }), "ghost") : null,
    view.next ? button("Next ›", () => setParams({ after: view.next }), "ghost", { "data-page": "next" }) : null,
  );
  mount(el.detail, head, store.canMutate ? enrolForm(false) : null, h("p.muted", { role: "status" }, view.note), grid, pager);
  renderHead();
}

function card(identity) {
  const img = h("img", { src: api.thumbnailUrl(view.gallery, identity.id), alt: `face of ${identity.name}`, width: 72, height: 72, loading: "lazy" });
  img.addEventListener("error", () => img.replaceWith(h("span.no-thumb", { role: "img", "aria-label": "no thumbnail" }, identity.name.slice(0, 1).toUpperCase())));
  return h(
    "li.identity",
    { "data-identity": identity.id },
    img,
    h("div.ident-who", h("strong.name", identity.name), h("span.muted", "enrolled ", ago(identity.created_ms)), h("button.link.mono", { type: "button", onclick: () => openJob(identity.job), title: "the enrolling job" }, identity.job)),
    store.canMutate
      ? h(
          "div.row-actions",
          button("Rename", () => rename(identity), "small.ghost", { "data-action": "rename", "aria-label": `rename ${identity.name}` }),
          button("Delete", () => forget(identity), "small.danger", { "data-action": "forget", "aria-label": `delete ${identity.name}` }),
        )
      : null,
  );
}

async function rename(identity) {
  const name = window.prompt(`New name for ${identity.name}`, identity.name);
  if (!name || !name.trim() || name.trim() === identity.name) return;
  await act("Rename", () => api.renameIdentity(view.gallery, identity.id, name.trim()), () => `${identity.name} is now ${name.trim()}`);
}

async function forget(identity) {
  if (!(await confirmAction(`Delete ${identity.name} from ${view.gallery}? Searches stop finding this face.`, "Delete"))) return;
  await act("Delete identity", () => api.forgetIdentity(view.gallery, identity.id), () => `${identity.name} deleted`);
}

async function dropGallery() {
  const summary = view.list.find((g) => g.name === view.gallery);
  const n = summary ? summary.identities : 0;
  if (!(await confirmAction(`Delete the gallery ${view.gallery} and all ${num(n)} identities in it?`, "Delete gallery"))) return;
  const done = await act("Delete gallery", () => api.dropGallery(view.gallery), (r) => `${view.gallery} deleted (${num(r.removed)} identities)`);
  if (done) setParams({ gallery: null, q: null, after: null });
}

/** Enrol: drop an image (or choose one) and name the person; `fresh` also names a new gallery. */
function enrolForm(fresh) {
  if (!store.canMutate) return null;
  const gallery = fresh ? h("input", { name: "gallery", required: true, pattern: "[A-Za-z0-9_.-]{1,64}", "aria-label": "gallery name", placeholder: "gallery" }) : null;
  const name = h("input", { name: "name", required: true, maxlength: 100, "aria-label": "person's name", placeholder: "name" });
  const file = h("input", { type: "file", accept: "image/*", required: true, "aria-label": "face image" });
  const zone = h("label.dropzone", { "data-dropzone": "" }, "Drop a face image here, or ", file);
  for (const type of ["dragenter", "dragover"]) zone.addEventListener(type, (e) => (e.preventDefault(), zone.classList.add("over")));
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer?.files?.length) file.files = e.dataTransfer.files;
  });
  return h(
    "form.enrol",
    {
      "aria-label": fresh ? "enrol into a new gallery" : `enrol into ${view.gallery}`,
      onsubmit: async (e) => {
        e.preventDefault();
        const target = fresh ? gallery.value.trim() : view.gallery;
        if (!file.files.length || !target) return;
        const form = new FormData();
        form.set("name", name.value.trim());
        form.set("image", file.files[0]);
        const job = await act("Enrol", () => api.enrol(target, form), (j) => `Enrolling ${name.value.trim()} into ${target}: job ${j.id}`);
        if (job) {
          e.target.reset();
          if (fresh) setParams({ gallery: target, q: null, after: null });
        }
      },
    },
    h("h3", fresh ? "New gallery" : "Enrol"),
    gallery,
    name,
    zone,
    h("button", { type: "submit" }, "Enrol"),
  );
}
