// Rate, ETA and the throughput sparkline of a running parent.
//
// The server's figures win when the job object or a parent_job_progress event carries
// them (`rate`: children finished per second over the last ~30 s, `eta_seconds`: null
// while unknown). Without them the estimate comes from successive progress events seen
// here: finished = completed + failed + cancelled, over a sliding window.

import { fmtDuration, fmtNumber } from "./util.js";

const WINDOW_MS = 30000;
const SVG = "http://www.w3.org/2000/svg";

/** Finished children in counts {total, completed, failed, cancelled, ...}. */
export function finishedOf(c) {
  return (c.completed || 0) + (c.failed || 0) + (c.cancelled || 0);
}

/** The server's rate/ETA fields of a job object or a progress payload, when present. */
export function serverRate(source) {
  if (!source || typeof source.rate !== "number") return null;
  return {
    rate: source.rate,
    eta: typeof source.eta_seconds === "number" ? source.eta_seconds : null,
    server: true,
  };
}

/** "12.5/s" (children finished per second). */
export function fmtRate(rate) {
  if (typeof rate !== "number" || !Number.isFinite(rate)) return "—";
  if (rate >= 100) return `${fmtNumber(Math.round(rate))}/s`;
  if (rate >= 1) return `${rate.toFixed(1)}/s`;
  if (rate > 0) return `${(rate * 60).toFixed(1)}/min`;
  return "0/s";
}

/** "12.5/s · ETA 3 min 4 s", or "" when nothing is known yet. */
export function rateText(r) {
  if (!r || typeof r.rate !== "number") return "";
  const eta = typeof r.eta === "number" ? `ETA ${fmtDuration(r.eta)}` : "ETA unknown";
  return `${fmtRate(r.rate)} · ${eta}`;
}

/**
 * Client-side estimator: feed it counts as they arrive; estimate() gives
 * {rate, eta} (null until two samples at least a second apart).
 */
export class RateEstimator {
  constructor(windowMs = WINDOW_MS) {
    this.windowMs = windowMs;
    this.samples = [];
  }

  add(counts, now = Date.now()) {
    const finished = finishedOf(counts);
    const last = this.samples[this.samples.length - 1];
    // a retry reopens finished children: the history no longer describes this run
    if (last && finished < last.finished) this.samples = [];
    this.samples.push({ t: now, finished, total: counts.total || 0 });
    while (this.samples.length > 2 && now - this.samples[1].t > this.windowMs) this.samples.shift();
  }

  estimate() {
    if (this.samples.length < 2) return null;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    const dt = (b.t - a.t) / 1000;
    if (dt < 1) return null;
    const rate = Math.max(0, (b.finished - a.finished) / dt);
    const left = Math.max(0, b.total - b.finished);
    return { rate, eta: left === 0 ? 0 : rate > 0 ? left / rate : null, server: false };
  }
}

/**
 * A sparkline of children finished per interval (inline SVG, no style attributes: the
 * page runs under a strict Content-Security-Policy). push(counts) on every progress
 * event; a local timer closes an interval every `intervalMs` (no requests).
 */
export function sparkline({ intervalMs = 2000, buckets = 30, label = "Children finished" } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("viewBox", `0 0 ${buckets} 20`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("class", "spark-area");
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("class", "spark-line");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(area, line);
  const values = [];
  let current = 0;
  let lastFinished = null;

  function draw() {
    const shown = values.slice(-buckets);
    const max = Math.max(1, ...shown);
    const offset = buckets - shown.length;
    const pts = shown.map((v, i) => `${offset + i},${(20 - (v / max) * 18 - 1).toFixed(2)}`);
    if (pts.length === 1) pts.unshift(`${offset - 1},${pts[0].split(",")[1]}`);
    line.setAttribute("points", pts.join(" "));
    area.setAttribute("points", pts.length ? `${pts[0].split(",")[0]},20 ${pts.join(" ")} ${buckets - 1},20` : "");
    const total = shown.reduce((s, v) => s + v, 0);
    const secs = (shown.length * intervalMs) / 1000;
    svg.setAttribute("aria-label", `${label}: ${fmtNumber(total)} in the last ${secs} s`);
    svg.dataset.values = shown.join(",");
  }

  const timer = setInterval(() => {
    if (lastFinished === null) return; // nothing seen yet: no flat line of zeros
    values.push(current);
    current = 0;
    if (values.length > buckets) values.shift();
    draw();
  }, intervalMs);
  draw();

  return {
    el: svg,
    /** Counts from an event (or the first load: the baseline, counted as nothing). */
    push(counts) {
      const f = finishedOf(counts);
      if (lastFinished !== null && f > lastFinished) current += f - lastFinished;
      lastFinished = f;
    },
    destroy() {
      clearInterval(timer);
    },
  };
}
