// Everything face-search specific, in one module so the contract is easy to adjust:
//   POST /api/v1/jobs (multipart: image, gallery, top_k, threshold, priority) -> 201 face_search job
//        (every field but the image optional; no gallery: detect faces only)
//   POST /api/v1/galleries/{gallery}/identities (multipart: name, image)     -> 201 enroll job
//   GET  /api/v1/galleries -> {"galleries": [{"name", "identities", "version"}]}
//   GET  /api/v1/images/{sha256} -> the uploaded image
//   face_search args: [{"image": sha256, "gallery", "top_k", "threshold"}]
//   face_search result: {"width", "height", "faces": [{"box": [x, y, w, h], "score",
//                        "landmarks", "matches": [{"identity", "name", "similarity"}]}]}
// When the server has no face search yet (404s), the forms say so and the rest works.

import { ApiError, call } from "./api.js";
import { h, mount } from "./dom.js";
import { store } from "./store.js";
import { act } from "./ui.js";

export const FACE_ACTOR = "face_search";
//: Widest the result canvas is drawn, in CSS pixels.
const CANVAS_MAX_W = 560;

const enc = encodeURIComponent;
const galleriesList = h("datalist", { id: "galleries" });
let availability = null;

/** The face-search and enroll forms of the Submit view. */
export function faceForms(openDrawer) {
  const note = h("p.muted.face-note");
  const search = searchForm(openDrawer);
  const enroll = enrollForm(openDrawer);
  store.on("gallery", () => loadGalleries(note, [search, enroll]));
  store.on("snapshot", () => loadGalleries(note, [search, enroll]));
  loadGalleries(note, [search, enroll]);
  return h("div.face", galleriesList, note, search, enroll);
}

async function loadGalleries(note, forms) {
  try {
    const { galleries } = await call("GET", "/api/v1/galleries");
    availability = true;
    mount(galleriesList, galleries.map((g) => h("option", { value: g.name }, `${g.identities} identities`)));
    note.textContent = galleries.length
      ? `Galleries: ${galleries.map((g) => `${g.name} (${g.identities})`).join(", ")}`
      : "No galleries yet: enroll an identity to create one.";
  } catch (err) {
    availability = !(err instanceof ApiError && err.status === 404);
    note.textContent = availability ? `Galleries unavailable: ${err.message}` : "Face search is not available on this server yet.";
  }
  for (const form of forms) form.querySelector("fieldset").disabled = availability === false;
}

function field(label, input) {
  return h("label", label, " ", input);
}

/** The form's fields, leaving out blank ones so the server's defaults apply. */
function filled(form) {
  const data = new FormData(form);
  for (const [name, value] of [...data.entries()]) if (value === "") data.delete(name);
  return data;
}

function searchForm(openDrawer) {
  const image = h("input", { type: "file", name: "image", accept: "image/*", required: true });
  const gallery = h("input", { name: "gallery", list: "galleries", placeholder: "none: detect faces only" });
  const topK = h("input", { type: "number", name: "top_k", min: 1, max: 100, placeholder: "5" });
  const threshold = h("input", { type: "number", name: "threshold", min: -1, max: 1, step: 0.001, placeholder: "0.363" });
  const priority = h("input", { type: "number", name: "priority", min: 0, max: 99, placeholder: "5" });
  return h(
    "form.card.face-search",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const form = filled(e.target);
        const job = await act("Face search", () => call("POST", "/api/v1/jobs", { form }), (j) => `face search ${j.id} submitted`);
        if (job) openDrawer(job.id);
      },
    },
    h("h2", "Face search"),
    h("fieldset", field("Image", image), field("Gallery", gallery), field("Top k", topK), field("Threshold", threshold), field("Priority", priority), h("button", { type: "submit" }, "Search faces")),
  );
}

function enrollForm(openDrawer) {
  const gallery = h("input", { name: "gallery", list: "galleries", required: true, value: "default" });
  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const image = h("input", { type: "file", name: "image", accept: "image/*", required: true });
  return h(
    "form.card.enroll",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        const form = new FormData();
        form.set("name", name.value);
        form.set("image", image.files[0]);
        const path = `/api/v1/galleries/${enc(gallery.value)}/identities`;
        const job = await act("Enroll", () => call("POST", path, { form }), (j) => `enrolling ${name.value} (${j.id})`);
        if (job) openDrawer(job.id);
      },
    },
    h("h2", "Enroll an identity"),
    h("fieldset", field("Gallery", gallery), field("Name", name), field("Image", image), h("button", { type: "submit" }, "Enroll")),
  );
}

/** A face_search job's result: the image with boxes and best matches; null for other jobs. */
export function renderFaceResult(job) {
  const result = job.result;
  if (job.actor !== FACE_ACTOR || !result || !Array.isArray(result.faces)) return null;
  const sha = job.args?.[0]?.image;
  const canvas = h("canvas.faces", { "aria-label": `${result.faces.length} faces` });
  const status = h("p.muted");
  if (typeof sha === "string" && /^[0-9a-f]{64}$/.test(sha)) {
    const img = new Image();
    img.onload = () => draw(canvas, img, result);
    img.onerror = () => (status.textContent = "The image is no longer stored.");
    img.src = `/api/v1/images/${sha}`;
  }
  const list = h(
    "ol.face-list",
    result.faces.map((face, i) => {
      const best = face.matches?.[0];
      const who = best ? `${best.name || best.identity} (${fmt(best.similarity)})` : result.gallery ? "no match" : "not searched";
      return h("li", `#${i + 1} score ${fmt(face.score)} — ${who}`);
    }),
  );
  return h("div.face-result", canvas, status, list);
}

function draw(canvas, img, result) {
  const width = result.width || img.naturalWidth;
  const height = result.height || img.naturalHeight;
  const scale = Math.min(1, CANVAS_MAX_W / width);
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  ctx.lineWidth = 2;
  ctx.font = "13px system-ui, sans-serif";
  result.faces.forEach((face, i) => {
    const [x, y, w, hgt] = face.box.map((v) => v * scale);
    const best = face.matches?.[0];
    const label = best ? `${best.name || best.identity} ${fmt(best.similarity)}` : result.gallery ? `#${i + 1} no match` : `#${i + 1}`;
    ctx.strokeStyle = best ? "#22c55e" : "#f59e0b";
    ctx.strokeRect(x, y, w, hgt);
    const tw = ctx.measureText(label).width + 8;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fillRect(x, Math.max(0, y - 18), tw, 18);
    ctx.fillStyle = "#000";
    ctx.fillText(label, x + 4, Math.max(13, y - 5));
  });
}

const fmt = (n) => (typeof n === "number" ? n.toFixed(2) : "—");
