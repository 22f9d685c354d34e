// The live connection: one WebSocket per page view, resumed from the last seq it saw.
//
// A page loads its data over REST (the response carries "seq"), then calls
// live.open({after: seq, filter, onEvent, onResync, poll}). Every message carries a seq;
// the page is current up to the highest one it processed, so after a drop the socket
// reconnects with ?after=<that seq> and the server replays exactly what was missed.
// While disconnected the page polls the REST API every 5 s (poll) and shows it.

import { getToken, requestToken } from "./api.js";

const PING_EVERY_MS = 15000;
const PONG_TIMEOUT_MS = 10000;
const POLL_EVERY_MS = 5000;
const MAX_BACKOFF_MS = 4000;

export class Live {
  constructor() {
    this.ws = null;
    this.spec = null;
    this.lastSeq = null;
    this.state = "idle";
    this.retries = 0;
    this.reconnectTimer = null;
    this.pollTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.stateListeners = new Set();
    this.everConnected = false;
  }

  /** Follow events for a page; replaces the previous subscription. */
  open(spec) {
    this.close();
    this.spec = spec;
    // null: no known position yet (live from now; the ready message tells the seq)
    this.lastSeq = typeof spec.after === "number" ? spec.after : null;
    this.retries = 0;
    this.connect();
  }

  close() {
    this.spec = null;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    this.stopPolling();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      ws.close(1000, "page closed");
    }
    this.setState("idle");
  }

  onState(fn) {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const fn of this.stateListeners) fn(state);
  }

  url() {
    const proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = new URL(`${proto}//${window.location.host}/ws`);
    const f = this.spec.filter || {};
    if (this.lastSeq !== null) url.searchParams.set("after", String(this.lastSeq));
    if (f.types && f.types.length) url.searchParams.set("types", f.types.join(","));
    if (f.jobIds && f.jobIds.length) url.searchParams.set("job_ids", f.jobIds.join(","));
    if (f.tree) url.searchParams.set("tree", "1");
    if (f.topLevel) url.searchParams.set("top_level", "1");
    const token = getToken();
    if (token) url.searchParams.set("token", token);
    return url.toString();
  }

  connect() {
    if (!this.spec) return;
    // a new page's first connection is "connecting"; only a lost one is "reconnecting"
    this.setState(this.retries ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.dropped(null);
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => this.handle(ev.data);
    ws.onclose = (ev) => {
      if (this.ws === ws) this.dropped(ev);
    };
    ws.onopen = () => {
      this.lastHeard = Date.now();
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.keepAlive(ws), PING_EVERY_MS);
    };
  }

  keepAlive(ws) {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > PING_EVERY_MS + PONG_TIMEOUT_MS) {
      ws.close(4000, "no pong"); // a dead connection: onclose reconnects
      return;
    }
    ws.send(JSON.stringify({ type: "ping" }));
  }

  handle(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    this.lastHeard = Date.now();
    const spec = this.spec;
    if (!spec) return;
    switch (msg.type) {
      case "ready":
        this.retries = 0;
        this.everConnected = true;
        this.stopPolling();
        this.setState("live");
        if (spec.onReady) spec.onReady(msg);
        break;
      case "pong":
      case "subscribed":
        break;
      case "error":
        console.warn("quaero websocket:", msg.payload && msg.payload.detail);
        break;
      case "snapshot":
        if (spec.onResync) spec.onResync(msg);
        break;
      default:
        if (spec.onEvent) spec.onEvent(msg);
    }
    if (typeof msg.seq === "number" && (this.lastSeq === null || msg.seq > this.lastSeq)) {
      this.lastSeq = msg.seq;
    }
  }

  dropped(ev) {
    this.ws = null;
    clearInterval(this.pingTimer);
    if (!this.spec) return;
    if (ev && ev.code === 4401) requestToken();
    this.setState("offline");
    this.startPolling();
    const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** this.retries) * (0.75 + Math.random() * 0.5);
    this.retries += 1;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  startPolling() {
    if (this.pollTimer || !this.spec || !this.spec.poll) return;
    this.pollTimer = setInterval(() => {
      if (this.spec && this.spec.poll) this.spec.poll();
    }, POLL_EVERY_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}

export const live = new Live();
