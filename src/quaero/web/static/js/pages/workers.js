// The Workers page: the worker registry (GET /api/workers). Workers upsert their row on
// each heartbeat, so this is a registry read every few seconds, not an event stream.

import { api } from "../api.js";
import { fmtDuration, fmtNumber, fmtTime, h, notice } from "../util.js";

const REFRESH_MS = 5000;

export function workersPage(view) {
  const state = { includeExpired: false, loadedAt: 0, page: null };
  const msg = h("div", { class: "messages" });
  const summary = h("p", { class: "workers-summary", dataset: { testid: "workers-summary" } });
  const body = h("tbody");
  const table = h("table", { class: "workers-table", "aria-label": "Workers" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Worker"),
      h("th", { scope: "col" }, "State"),
      h("th", { scope: "col", class: "col-num" }, "Heartbeat"),
      h("th", { scope: "col", class: "col-slots" }, "Slots in use"),
      h("th", { scope: "col", class: "col-types" }, "Job types"),
      h("th", { scope: "col", class: "col-num col-optional" }, "Processed"),
      h("th", { scope: "col", class: "col-time col-optional" }, "Started"))),
    body);
  const empty = h("div", { class: "empty", hidden: true });
  const expired = h("input", {
    type: "checkbox", id: "workers-expired",
    onchange: () => { state.includeExpired = expired.checked; load(); },
  });
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Workers"),
      h("span", { class: "inline-field" }, expired, h("label", { for: "workers-expired" }, "Include stopped workers"))),
    msg,
    summary,
    h("section", { class: "card" }, empty, h("div", { class: "table-wrap" }, table)),
    h("p", { class: "hint" }, `Refreshed every ${REFRESH_MS / 1000} s. A worker is live while it heartbeats; ` +
      "one that stopped is kept an hour (include stopped workers to see it)."),
  );

  /** Heartbeat age now: the server's age at load plus the time since. */
  const ageOf = (w) => w.heartbeat_age_seconds + (Date.now() - state.loadedAt) / 1000;

  function row(w) {
    const slots = h("meter", {
      min: 0, max: Math.max(1, w.concurrency), value: w.running,
      "aria-label": `${w.running} of ${w.concurrency} slots in use`,
    });
    return h("tr", { dataset: { workerId: w.id } },
      // breaks only after a colon (host:pid:tag): a phone showed the id in 4-letter pieces
      h("td", { class: "worker-id" }, h("code", {}, ...w.id.split(":").flatMap((part, i) => (i ? [":", h("wbr"), part] : [part]))),
        h("span", { class: "muted worker-host" }, ` ${w.host} · pid ${w.pid}`),
        // a phone has no room for the Job types column: the same list under the id
        h("span", { class: "muted worker-types-inline", "aria-hidden": "true" }, w.job_types.join(", "))),
      h("td", {}, h("span", { class: `badge badge-${w.live ? "running" : "cancelled"}` }, w.live ? "live" : "stopped")),
      h("td", { class: "col-num heartbeat-age" }, `${fmtDuration(ageOf(w))} ago`),
      h("td", { class: "col-slots slots-cell" }, h("span", { class: "slots-text" },
        `${fmtNumber(w.running)} / ${fmtNumber(w.concurrency)}`), slots),
      h("td", { class: "job-types col-types" }, w.job_types.length ? w.job_types.join(", ") : h("span", { class: "muted" }, "none")),
      h("td", { class: "col-num col-optional" }, fmtNumber(w.processed)),
      h("td", { class: "col-time col-optional" }, fmtTime(w.started_at)),
    );
  }

  function render() {
    const page = state.page;
    const running = page.items.filter((w) => w.live).reduce((s, w) => s + w.running, 0);
    const slots = page.items.filter((w) => w.live).reduce((s, w) => s + w.concurrency, 0);
    summary.textContent = page.live
      ? `${fmtNumber(page.live)} live ${page.live === 1 ? "worker" : "workers"}, ${fmtNumber(running)} of ${fmtNumber(slots)} slots in use` +
        ` · serving ${page.job_types.join(", ") || "no job types"}`
      : "No live worker: pending jobs wait until one starts (quaero worker, or quaero serve with workers).";
    body.replaceChildren(...page.items.map(row));
    table.parentElement.hidden = !page.items.length;
    empty.hidden = page.items.length > 0;
    empty.replaceChildren(h("p", {}, "No worker has registered."),
      h("p", { class: "hint" }, "Start one with quaero worker (or quaero serve, which runs workers unless --no-workers)."));
  }

  // reads answer in any order: one older than the list shown is not shown
  const reads = { issued: 0, shown: 0 };
  async function load() {
    const mine = ++reads.issued;
    try {
      const page = await api("/api/workers", { params: { include_expired: state.includeExpired ? "true" : undefined } });
      if (mine < reads.shown) return;
      reads.shown = mine;
      state.page = page;
      state.loadedAt = Date.now();
      notice(msg, "");
      render();
    } catch (err) {
      notice(msg, `Could not load the workers: ${err.detail || err.message}`);
    }
  }

  load();
  const poll = setInterval(load, REFRESH_MS);
  // the heartbeat ages count up between reads
  const ticker = setInterval(() => {
    if (!state.page) return;
    for (const w of state.page.items) {
      const cell = body.querySelector(`tr[data-worker-id="${CSS.escape(w.id)}"] .heartbeat-age`);
      if (cell) cell.textContent = `${fmtDuration(ageOf(w))} ago`;
    }
  }, 1000);

  return {
    destroy() {
      clearInterval(poll);
      clearInterval(ticker);
    },
  };
}
