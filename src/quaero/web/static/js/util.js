// Small DOM and formatting helpers shared by every page. No framework, no build step.

/** Create an element: h("a", {href: "#/", class: "x", onclick: fn}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "text") el.textContent = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];
export const TERMINAL = new Set(["completed", "failed", "cancelled"]);

/** "2026-11-28 21:40:03" in local time, or an em dash. */
export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtNumber(n) {
  return typeof n === "number" ? n.toLocaleString("en-US") : "—";
}

/** Counts from a job (``children``) or a parent_job_progress payload. */
export function countsOf(source) {
  if (source.children) return { ...source.children };
  return {
    total: source.total_children,
    pending: source.pending_children,
    running: source.running_children,
    completed: source.completed_children,
    failed: source.failed_children,
    cancelled: source.cancelled_children,
  };
}

/** The seed's text: "66 pending, 1 running, 41 completed, 0 failed" (numbers as given). */
export function progressText(c) {
  return `${c.pending} pending, ${c.running} running, ${c.completed} completed, ${c.failed} failed`;
}

const PARTS = ["pending", "running", "completed", "failed"];

/**
 * The dashboard's progress text: the seed's four counts in one number format, plus
 * ", 72 cancelled" whenever any child was cancelled (the payload's text never says so).
 */
export function progressLabel(c) {
  const parts = PARTS.map((k) => `${fmtNumber(c[k] || 0)} ${k}`);
  if (c.cancelled > 0) parts.push(`${fmtNumber(c.cancelled)} cancelled`);
  return parts.join(", ");
}

/**
 * The progress text as nodes: failed and cancelled counts above zero are red links to
 * ``hrefFor(status)`` (the children list filtered to them). textContent === progressLabel(c).
 */
export function progressNodes(c, hrefFor) {
  const keys = c.cancelled > 0 ? [...PARTS, "cancelled"] : PARTS;
  const out = [];
  keys.forEach((k, i) => {
    if (i) out.push(", ");
    const text = `${fmtNumber(c[k] || 0)} ${k}`;
    if ((k === "failed" || k === "cancelled") && c[k] > 0) {
      out.push(hrefFor
        ? h("a", { class: `count-link count-link-${k}`, href: hrefFor(k), title: `Show the ${k} children` }, text)
        : h("span", { class: `count-link count-link-${k}` }, text));
    } else {
      out.push(text);
    }
  });
  return out;
}

export function badge(status) {
  return h("span", { class: `badge badge-${status}`, dataset: { status } }, status);
}

const SEGMENTS = ["completed", "failed", "cancelled", "running"];

/** A stacked bar: completed, failed, cancelled, running (of total). */
export function progressBar(c) {
  const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 });
  for (const part of SEGMENTS) {
    bar.append(h("span", { class: `bar-${part}` }));
  }
  updateBar(bar, c);
  return bar;
}

/**
 * What the bar shows, in words: "19,994 completed, 6 failed of 20,000 (100% finished)".
 * Failed and cancelled are named whenever there are any, so a bar that looks green
 * never reads as all done.
 */
export function barLabel(c) {
  const total = c.total || 0;
  if (!total) return "no children";
  const done = (c.completed || 0) + (c.failed || 0) + (c.cancelled || 0);
  const parts = SEGMENTS.filter((k) => k === "completed" || c[k] > 0).map((k) => `${fmtNumber(c[k] || 0)} ${k}`);
  return `${parts.join(", ")} of ${fmtNumber(total)} (${Math.floor((done / total) * 100)}% finished)`;
}

export function updateBar(bar, c) {
  const total = c.total || 0;
  const done = (c.completed || 0) + (c.failed || 0) + (c.cancelled || 0);
  const pct = total ? Math.floor((done / total) * 1000) / 10 : 0;
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-label", barLabel(c));
  bar.title = barLabel(c);
  for (const part of SEGMENTS) {
    const n = c[part] || 0;
    const seg = bar.querySelector(`.bar-${part}`);
    seg.style.width = `${total ? (n / total) * 100 : 0}%`;
    // a few failures among thousands still show: CSS gives these a minimum width
    seg.classList.toggle("nonzero", n > 0);
  }
}

/** "1.2 s", "3 min 4 s", "2 h 5 min": a duration in seconds, or an em dash. */
export function fmtDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} min`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

/**
 * A job's duration in seconds: the API's duration_seconds when it has one, else from
 * started_at to completed_at (or to now while it runs); null before it started.
 */
export function durationOf(job, now = Date.now()) {
  if (typeof job.duration_seconds === "number") return job.duration_seconds;
  if (!job.started_at) return null;
  const start = Date.parse(job.started_at);
  const end = job.completed_at ? Date.parse(job.completed_at) : now;
  return Number.isNaN(start) || Number.isNaN(end) ? null : Math.max(0, (end - start) / 1000);
}

/** "1.2 kB", "3.4 MB": a size in bytes. */
export function fmtBytes(n) {
  if (typeof n !== "number") return "—";
  if (n < 1000) return `${n} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * Sortable column headers: a button in each ``th[data-sort]`` with aria-sort kept true.
 * ``state`` has {orderBy, direction}; onSort() reloads.
 */
export function sortHeader(label, key, state, onSort, attrs = {}) {
  const th = h("th", { scope: "col", ...attrs, dataset: { sort: key } });
  const button = h("button", { type: "button", class: "sort-button" }, label, h("span", { class: "sort-mark", "aria-hidden": "true" }));
  button.addEventListener("click", () => {
    if (state.orderBy === key) state.direction = state.direction === "asc" ? "desc" : "asc";
    else {
      state.orderBy = key;
      state.direction = key === "name" ? "asc" : "desc";
    }
    onSort();
  });
  th.append(button);
  return th;
}

/** Reflect ``state`` on every sortable header of ``table`` (aria-sort and the arrow). */
export function markSorted(table, state) {
  for (const th of table.querySelectorAll("th[data-sort]")) {
    const on = th.dataset.sort === state.orderBy;
    th.setAttribute("aria-sort", on ? (state.direction === "asc" ? "ascending" : "descending") : "none");
    th.querySelector(".sort-mark").textContent = on ? (state.direction === "asc" ? " ▲" : " ▼") : "";
  }
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** Call fn at most once per ms (trailing call kept). */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  const wrapped = () => {
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
    } else if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        last = Date.now();
        fn();
      }, wait);
    }
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

/** A polite message area for errors and confirmations (role=alert for errors). */
export function notice(container, message, kind = "error") {
  container.replaceChildren();
  if (!message) return;
  container.append(h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, message));
}

/** Pagination controls: "1–50 of 1,234" with Previous / Next. */
export function pager({ offset, limit, total, onPage, label = "Pagination" }) {
  const first = total ? offset + 1 : 0;
  const last = Math.min(offset + limit, total);
  return h(
    "nav",
    { class: "pager", "aria-label": label },
    h("button", {
      type: "button",
      disabled: offset <= 0,
      onclick: () => onPage(Math.max(0, offset - limit)),
    }, "← Previous"),
    h("span", { class: "pager-info" }, `${fmtNumber(first)}–${fmtNumber(last)} of ${fmtNumber(total)}`),
    h("button", {
      type: "button",
      disabled: offset + limit >= total,
      onclick: () => onPage(offset + limit),
    }, "Next →"),
  );
}
