// What the page knows, kept current by the stream: a snapshot replaces it, events move it.
// Views never poll; they subscribe here and re-render (or re-fetch one thing) on change.

export const STATES = ["waiting", "delayed", "active", "completed", "failed"];
//: Minutes of throughput a sparkline shows.
export const SPARK_MINUTES = 30;
const MINUTE_MS = 60_000;

class Store {
  constructor() {
    this.role = null;
    this.counts = {};
    this.paused = new Set();
    this.workers = [];
    // Browser time when the worker list arrived: beat ages grow from there on the local
    // clock, so a skew between the browser and Redis never shows.
    this.workersAt = performance.now();
    this.lastSeq = 0;
    this.health = {};
    this.healthAt = performance.now();
    this.throughput = {}; // queue -> Map(minute end ms -> completed)
    this.listeners = {};
  }

  get canMutate() {
    return this.role === "admin";
  }

  /** Job actions and pause/resume: an operator too, on the queues it sees (issue 22). */
  get canAct() {
    return this.role === "admin" || this.role === "operator";
  }

  on(kind, fn) {
    (this.listeners[kind] ||= []).push(fn);
  }

  emit(kind, data) {
    for (const fn of this.listeners[kind] || []) {
      try {
        fn(data);
      } catch (err) {
        console.error(`listener of ${kind} failed`, err);
      }
    }
  }

  queues() {
    return Object.keys(this.counts).sort();
  }

  /** One frame from the gateway; frames at or below the last seq are repeats (idempotent by contract). */
  apply(type, envelope) {
    const data = envelope.data || {};
    if (type === "snapshot") return this.snapshot(envelope.seq, data);
    if (type === "reset") {
      this.lastSeq = 0; // a snapshot follows; its seq may be lower (Redis lost its data)
      return this.emit("reset", data);
    }
    if (type === "stats") return this.stats(data);
    if (typeof envelope.seq === "number") {
      if (envelope.seq <= this.lastSeq) return;
      this.lastSeq = envelope.seq;
    }
    if (type === "job") this.jobEvent(data, envelope.ts);
    else if (type === "progress") this.emit("progress", data);
    else if (type === "pause") this.setPaused(data.queue, data.paused);
    else if (type === "workers") this.setWorkers(data.workers || []);
    else this.emit(type, data); // admin, gallery
  }

  snapshot(seq, data) {
    this.lastSeq = seq;
    this.counts = data.counts || {};
    this.paused = new Set(data.paused || []);
    this.setWorkers(data.workers || [], false);
    this.emit("snapshot", data);
    this.emit("counts");
    this.emit("paused");
  }

  stats(data) {
    // Authoritative counts, at most one tick stale; the next tick follows any later event.
    this.counts = { ...this.counts, ...(data.counts || {}) };
    this.paused = new Set(data.paused || []);
    this.emit("counts");
    this.emit("paused");
  }

  jobEvent(data, ts) {
    const per = (this.counts[data.queue] ||= Object.fromEntries(STATES.map((s) => [s, 0])));
    if (data.from !== data.to) {
      if (data.from && per[data.from] > 0) per[data.from] -= 1;
      if (data.to) per[data.to] = (per[data.to] || 0) + 1;
    }
    if (data.to === "completed" && data.from !== "completed") this.countCompletion(data.queue, ts);
    this.emit("counts");
    this.emit("job", data);
  }

  countCompletion(queue, ts) {
    const series = (this.throughput[queue] ||= new Map());
    const end = Math.floor((ts * 1000) / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    series.set(end, (series.get(end) || 0) + 1);
  }

  /** The monitor's samples (oldest first) seed the sparklines; live counting continues after. */
  setHistory(samples) {
    for (const sample of samples) {
      for (const [queue, n] of Object.entries(sample.completed)) {
        const series = (this.throughput[queue] ||= new Map());
        if (!series.has(sample.minute_ms)) series.set(sample.minute_ms, n);
      }
    }
    this.emit("counts");
  }

  /** Completions per minute of a queue, oldest first, ending with the current minute. */
  sparkline(queue) {
    const series = this.throughput[queue] || new Map();
    const newest = Math.max(Date.now(), ...series.keys());
    const end = Math.floor(newest / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    const out = [];
    for (let i = SPARK_MINUTES - 1; i >= 0; i--) out.push(series.get(end - i * MINUTE_MS) || 0);
    return out;
  }

  setPaused(queue, paused) {
    if (paused) this.paused.add(queue);
    else this.paused.delete(queue);
    this.emit("paused");
  }

  setWorkers(workers, notify = true) {
    this.workers = workers;
    this.workersAt = performance.now();
    if (notify) this.emit("workers");
    else queueMicrotask(() => this.emit("workers"));
  }

  /** Seconds since a worker's last beat, as of now. */
  beatAge(worker) {
    return worker.beat_age_s + (performance.now() - this.workersAt) / 1000;
  }

  setHealth(queues) {
    this.health = Object.fromEntries(queues.map((q) => [q.name, q]));
    this.healthAt = performance.now();
    for (const q of queues) if (!this.counts[q.name]) this.counts[q.name] = q.counts;
    this.emit("health");
  }

  /** Age of a queue's oldest waiting job, as of now. */
  oldestWaiting(queue) {
    const h = this.health[queue];
    if (!h || h.oldest_waiting_s === null || !(this.counts[queue]?.waiting > 0)) return null;
    return h.oldest_waiting_s + (performance.now() - this.healthAt) / 1000;
  }
}

export const store = new Store();
