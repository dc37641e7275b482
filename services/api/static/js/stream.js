// The tab's one connection to the gateway: an EventSource carrying every topic.
//
// EventSource reconnects by itself after a dropped connection, sending Last-Event-ID, and the
// gateway replays what was missed. An HTTP error (503 while a gateway drains, 401) ends an
// EventSource for good, so a new one is opened with backoff, resuming from the last id by
// query parameter. The indicator says live, reconnecting, or offline (browser offline, or no
// gateway for OFFLINE_AFTER_MS).

const TOPICS = "stats,jobs,progress,workers,pause,operations";
const FRAME_TYPES = ["snapshot", "reset", "stats", "job", "progress", "workers", "pause", "admin", "gallery", "operation", "failure"];
//: Backoff bounds (ms) before opening a new EventSource after one ended.
const BACKOFF_MS = [500, 10_000];
//: Failing this long without a live connection counts as offline.
const OFFLINE_AFTER_MS = 30_000;

export class LiveStream {
  /**
   * @param {string} baseUrl the gateway, e.g. http://host:8081
   * @param {(type: string, envelope: object) => void} onFrame
   * @param {(state: string) => void} onState "live" | "reconnecting" | "offline"
   * @param {() => Promise<boolean>} stillAllowed false when the session is gone (stop retrying)
   */
  constructor(baseUrl, onFrame, onState, stillAllowed) {
    this.baseUrl = baseUrl;
    this.onFrame = onFrame;
    this.onState = onState;
    this.stillAllowed = stillAllowed;
    this.source = null;
    this.lastId = null;
    this.failures = 0;
    this.downSince = null;
    this.timer = null;
    this.stopped = false;
    this.state = null;
    window.addEventListener("online", () => this.kick());
    window.addEventListener("offline", () => this.setState("offline"));
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
    this.setState("offline");
  }

  open() {
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    // Appended, not resolved: a gateway behind an ingress may live under a path prefix.
    const url = new URL(`${this.baseUrl.replace(/\/+$/, "")}/stream`, location.href);
    url.searchParams.set("topics", TOPICS);
    if (this.lastId !== null) url.searchParams.set("last_event_id", this.lastId);
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    for (const type of FRAME_TYPES) {
      source.addEventListener(type, (event) => this.frame(type, event));
    }
    source.onopen = () => {
      this.failures = 0;
      this.downSince = null;
      this.setState("live");
    };
    source.onerror = () => this.failed(source);
  }

  frame(type, event) {
    if (event.lastEventId) this.lastId = event.lastEventId;
    let envelope;
    try {
      envelope = JSON.parse(event.data);
    } catch {
      return;
    }
    this.onFrame(type, envelope);
  }

  failed(source) {
    if (source !== this.source || this.stopped) return;
    this.downSince ??= Date.now();
    if (source.readyState === EventSource.CONNECTING) {
      this.setState(this.offlineNow() ? "offline" : "reconnecting"); // the browser retries itself
      return;
    }
    // CLOSED: an HTTP error ended it; find out whether the session is still good, then retry.
    this.failures += 1;
    this.setState(this.offlineNow() ? "offline" : "reconnecting");
    const [low, high] = BACKOFF_MS;
    const delay = Math.min(high, low * 2 ** Math.min(this.failures - 1, 5)) * (0.5 + Math.random() / 2);
    this.timer = setTimeout(async () => {
      if (this.stopped) return;
      if (await this.stillAllowed()) this.open();
      else this.stop();
    }, delay);
  }

  offlineNow() {
    return !navigator.onLine || (this.downSince !== null && Date.now() - this.downSince > OFFLINE_AFTER_MS);
  }

  kick() {
    if (!this.stopped && (!this.source || this.source.readyState !== EventSource.OPEN)) this.open();
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }
}
