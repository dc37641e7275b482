// The admin API as the page calls it: the session cookie authenticates, and every change
// carries the CSRF header the API demands of cookie-authenticated mutations.

const CSRF_HEADER = "X-Facequeue-CSRF";

/** An API error as the API states it: {"error": {"code", "message"}} and its status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const unauthorizedHandlers = [];
/** Called when the session has expired or was never there (any 401). */
export function onUnauthorized(fn) {
  unauthorizedHandlers.push(fn);
}

/**
 * One call: `json` is sent as JSON, `form` (FormData) as multipart. Returns the parsed body
 * (null for empty bodies); throws ApiError with the API's own message otherwise.
 */
export async function call(method, path, { json, form, query } = {}) {
  const headers = {};
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser sets the multipart boundary
  }
  if (method !== "GET" && method !== "HEAD") headers[CSRF_HEADER] = "1";
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin" });
  } catch (err) {
    throw new ApiError(0, "network", `the API is unreachable (${err.message})`);
  }
  const data = await parse(response);
  if (response.ok) return data;
  const error = data && data.error ? data.error : { code: "http_error", message: `${response.status} ${response.statusText}` };
  if (response.status === 401 && !path.startsWith("/api/v1/session")) unauthorizedHandlers.forEach((fn) => fn());
  throw new ApiError(response.status, error.code, error.message);
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const enc = encodeURIComponent;

export const api = {
  config: () => call("GET", "/config.json"),
  session: () => call("GET", "/api/v1/session"),
  login: (token) => call("POST", "/api/v1/session", { json: { token } }),
  loginWithCode: (code) => call("POST", "/api/v1/session/code", { json: { code } }),
  logout: () => call("DELETE", "/api/v1/session"),
  endAllSessions: () => call("DELETE", "/api/v1/sessions"),
  queues: () => call("GET", "/api/v1/queues"),
  retention: () => call("GET", "/api/v1/retention"),
  history: (minutes) => call("GET", "/api/v1/history", { query: { minutes } }),
  chartHistory: (window) => call("GET", "/api/v1/history/points", { query: { window } }),
  actors: () => call("GET", "/api/v1/actors"),
  jobs: (query) => call("GET", "/api/v1/jobs", { query }),
  job: (id) => call("GET", `/api/v1/jobs/${enc(id)}`),
  submit: (spec) => call("POST", "/api/v1/jobs", { json: spec }),
  retry: (id) => call("POST", `/api/v1/jobs/${enc(id)}/retry`),
  promote: (id) => call("POST", `/api/v1/jobs/${enc(id)}/promote`),
  priority: (id, priority) => call("PUT", `/api/v1/jobs/${enc(id)}/priority`, { json: { priority } }),
  remove: (id, force = false) => call("DELETE", `/api/v1/jobs/${enc(id)}`, { query: force ? { force: "true" } : {} }),
  pause: (queue) => call("POST", `/api/v1/queues/${enc(queue)}/pause`),
  resume: (queue) => call("POST", `/api/v1/queues/${enc(queue)}/resume`),
  galleries: () => call("GET", "/api/v1/galleries"),
  identities: (gallery, query) => call("GET", `/api/v1/galleries/${enc(gallery)}/identities`, { query }),
  enrol: (gallery, form) => call("POST", `/api/v1/galleries/${enc(gallery)}/identities`, { form }),
  renameIdentity: (gallery, id, name) => call("PATCH", `/api/v1/galleries/${enc(gallery)}/identities/${enc(id)}`, { json: { name } }),
  forgetIdentity: (gallery, id) => call("DELETE", `/api/v1/galleries/${enc(gallery)}/identities/${enc(id)}`),
  dropGallery: (gallery) => call("DELETE", `/api/v1/galleries/${enc(gallery)}`),
  thumbnailUrl: (gallery, id) => `/api/v1/galleries/${enc(gallery)}/identities/${enc(id)}/thumbnail`,
  workers: () => call("GET", "/api/v1/workers"),
  removeWorker: (id) => call("DELETE", `/api/v1/workers/${enc(id)}`),
  limits: () => call("GET", "/api/v1/limits"),
  setLimits: (queue, body) => call("PUT", `/api/v1/queues/${enc(queue)}/limits`, { json: body }),
  schedules: () => call("GET", "/api/v1/schedules"),
  createSchedule: (body) => call("POST", "/api/v1/schedules", { json: body }),
  updateSchedule: (name, body) => call("PUT", `/api/v1/schedules/${enc(name)}`, { json: body }),
  deleteSchedule: (name) => call("DELETE", `/api/v1/schedules/${enc(name)}`),
  runSchedule: (name) => call("POST", `/api/v1/schedules/${enc(name)}/run`),
};
