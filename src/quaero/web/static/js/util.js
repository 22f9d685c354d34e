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

/** The seed's text: "66 pending, 1 running, 41 completed, 0 failed". */
export function progressText(c) {
  return `${c.pending} pending, ${c.running} running, ${c.completed} completed, ${c.failed} failed`;
}

export function badge(status) {
  return h("span", { class: `badge badge-${status}`, dataset: { status } }, status);
}

/** A stacked bar: completed, failed, cancelled, running (of total). */
export function progressBar(c) {
  const bar = h("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 });
  for (const part of ["completed", "failed", "cancelled", "running"]) {
    bar.append(h("span", { class: `bar-${part}` }));
  }
  updateBar(bar, c);
  return bar;
}

export function updateBar(bar, c) {
  const total = c.total || 0;
  const done = (c.completed || 0) + (c.failed || 0) + (c.cancelled || 0);
  const pct = total ? Math.round((done / total) * 1000) / 10 : 0;
  bar.setAttribute("aria-valuenow", String(pct));
  bar.setAttribute("aria-label", total ? `${pct}% done` : "no children");
  for (const part of ["completed", "failed", "cancelled", "running"]) {
    const w = total ? ((c[part] || 0) / total) * 100 : 0;
    bar.querySelector(`.bar-${part}`).style.width = `${w}%`;
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
