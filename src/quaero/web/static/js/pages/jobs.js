// The jobs page: top-level jobs with live status, Progress and Docs columns, filters,
// paging.
//
// Docs: each document_saved event carries its crawl's exact document count (read in the
// transaction that saved the document), so a row shows the larger of its listed count and
// the latest event's: no event is counted twice and none is lost across a reload.

import { api } from "../api.js";
import { live } from "../live.js";
import {
  STATUSES, TERMINAL, badge, countsOf, debounce, durationOf, fmtDuration, fmtNumber, fmtTime, h,
  markSorted, notice, pager, progressBar, progressNodes, sortHeader, throttle, updateBar,
} from "../util.js";
import { RateEstimator, rateText, serverRate } from "../rate.js";
import { jobActions } from "./actions.js";

const PAGE_SIZE = 25;
export const DEMO_JOB = {
  job_type: "fanout",
  name: "demo: 200 children × 200 ms",
  config: { children: 200, child_config: { sleep_ms: 200 } },
};

export function jobsPage(view, _params, query) {
  const state = {
    status: query.get("status") || "",
    q: query.get("q") || "",
    jobType: query.get("job_type") || "",
    offset: Number(query.get("offset")) || 0,
    orderBy: query.get("order_by") || "id",
    direction: query.get("direction") || "desc",
    rows: new Map(),
  };
  const resort = () => { state.offset = 0; syncUrl(); load(); };
  const msg = h("div", { class: "messages" });
  const stats = h("p", { class: "stats", "aria-live": "polite" });
  const tbody = h("tbody");
  const pagerBox = h("div");
  const empty = h("div", { class: "empty", hidden: true });
  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status", onchange: () => { state.status = statusSelect.value; state.offset = 0; syncUrl(); load(); } },
    h("option", { value: "" }, "All statuses"),
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s)),
  );
  const typeSelect = h(
    "select",
    { id: "filter-type", name: "job_type", onchange: () => { state.jobType = typeSelect.value; state.offset = 0; syncUrl(); load(); } },
    h("option", { value: "" }, "All types"),
    state.jobType ? h("option", { value: state.jobType, selected: true }, state.jobType) : "",
  );
  api("/api/job-types").then((t) => {
    typeSelect.replaceChildren(h("option", { value: "" }, "All types"),
      ...t.items.map((name) => h("option", { value: name, selected: name === state.jobType }, name)));
  }).catch(() => { /* the filter keeps what the URL gave */ });
  const search = h("input", {
    id: "filter-q", type: "search", name: "q", value: state.q, placeholder: "Name contains…",
    oninput: debounce(() => { state.q = search.value.trim(); state.offset = 0; syncUrl(); load(); }, 300),
    "aria-keyshortcuts": "/",
  });
  const table = h(
    "table",
    { class: "jobs-table", "aria-label": "Top-level jobs" },
    h("thead", {}, h("tr", {},
      sortHeader("ID", "id", state, resort, { class: "col-id" }),
      sortHeader("Name", "name", state, resort),
      sortHeader("Type", "job_type", state, resort, { class: "col-type" }),
      sortHeader("Status", "status", state, resort),
      h("th", { scope: "col", class: "col-progress" }, "Progress"),
      sortHeader("Docs", "result_count", state, resort, { class: "col-num col-docs", title: "Documents saved" }),
      h("th", { scope: "col", class: "col-num col-duration" }, "Duration"),
      sortHeader("Created", "created_at", state, resort, { class: "col-time" }),
      sortHeader("Finished", "completed_at", state, resort, { class: "col-time col-optional" }),
      h("th", { scope: "col", class: "col-actions" }, h("span", { class: "sr-only" }, "Actions")),
    )),
    tbody,
  );
  view.replaceChildren(
    h("div", { class: "page-head" },
      h("h1", {}, "Jobs"),
      h("div", { class: "page-head-actions" },
        h("button", { type: "button", class: "secondary", onclick: runDemo }, "Run a demo job"),
        h("a", { class: "button primary", href: "#/new" }, "New job"),
      ),
    ),
    stats,
    h("form", { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
      h("label", { for: "filter-status" }, "Status"), statusSelect,
      h("label", { for: "filter-type" }, "Type"), typeSelect,
      h("label", { for: "filter-q" }, "Search"), search,
    ),
    msg,
    empty,
    h("div", { class: "table-wrap" }, table),
    pagerBox,
  );

  function syncUrl() {
    const p = new URLSearchParams();
    if (state.status) p.set("status", state.status);
    if (state.q) p.set("q", state.q);
    if (state.jobType) p.set("job_type", state.jobType);
    if (state.offset) p.set("offset", String(state.offset));
    if (state.orderBy !== "id") p.set("order_by", state.orderBy);
    if (state.direction !== "desc") p.set("direction", state.direction);
    const hash = `#/jobs${p.toString() ? `?${p}` : ""}`;
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
  }

  async function runDemo() {
    try {
      const job = await api("/api/jobs", { method: "POST", body: DEMO_JOB });
      notice(msg, `Started demo job ${job.id}.`, "ok");
      if (live.state !== "live") load();
    } catch (err) {
      notice(msg, `Could not start the demo job: ${err.detail || err.message}`);
    }
  }

  /** A leaf's own progress: "3 of 10 · message", or its state in words. */
  function ownText(job) {
    const p = job.progress;
    if (p) {
      const of = typeof p.total === "number" && p.total > 0 ? ` of ${fmtNumber(p.total)}` : " done";
      return `${fmtNumber(p.current)}${of}${p.message ? ` · ${p.message}` : ""}`;
    }
    return "no children";
  }

  function renderRow(job) {
    const c = countsOf(job);
    // a job that may still spawn children keeps the counts' text until it is known a leaf
    const leaf = !c.total && !job.waiting_for_children && (Boolean(job.progress) || TERMINAL.has(job.overall_status));
    const progressCell = h("td", { class: "col-progress progress-cell", dataset: { testid: "progress" } },
      h("span", { class: "progress-text" }, leaf ? ownText(job) : progressNodes(c, (st) => `#/jobs/${job.id}?status=${st}`)),
      progressBar(c),
      h("span", { class: "rate-text muted", hidden: true }),
    );
    if (!c.total) progressCell.classList.add("no-children");
    showRate(progressCell, job.id, job, job.overall_status, c);
    const tr = h("tr", { dataset: { jobId: job.id } },
      h("td", { class: "col-num col-id" }, String(job.id)),
      h("td", { class: "col-name" }, h("a", { href: `#/jobs/${job.id}` }, job.name || job.job_type)),
      h("td", { class: "col-type" }, job.job_type),
      h("td", { class: "status-cell" }, badge(job.overall_status)),
      progressCell,
      h("td", { class: "col-num col-docs docs-cell" }, fmtNumber(job.result_count)),
      h("td", { class: "col-num col-duration duration-cell" }, fmtDuration(durationOf(job))),
      h("td", { class: "col-time" }, fmtTime(job.created_at)),
      h("td", { class: "col-time col-optional finished-cell" }, fmtTime(job.completed_at)),
      h("td", { class: "col-actions actions-cell" }, jobActions(job, { compact: true, onDone: afterAction, onError: (e) => notice(msg, e) })),
    );
    if (job.error) tr.querySelector(".col-name").append(h("span", { class: "row-error error-text", title: job.error }, job.error));
    return tr;
  }

  function afterAction(kind, job) {
    if (kind === "rerun") notice(msg, `Started job ${job.id} (rerun).`, "ok");
    if (kind === "delete") notice(msg, "Job deleted.", "ok");
    load();
  }

  function render(page, read) {
    markSorted(table, state);
    const before = new Map(state.rows);
    state.rows.clear();
    tbody.replaceChildren(...page.items.map((job) => {
      const kept = before.get(job.id);
      if (kept && kept.read > read) { // its row shows a newer read (refreshRow)
        state.rows.set(job.id, kept);
        return kept.tr;
      }
      const tr = renderRow(job);
      state.rows.set(job.id, { tr, job, read });
      return tr;
    }));
    const filtered = state.status || state.q || state.jobType;
    empty.hidden = page.total > 0;
    empty.replaceChildren();
    if (!page.total && !filtered) {
      empty.append(
        h("h2", {}, "No jobs yet"),
        h("p", {}, "Start a demo: a parent job with 200 children that sleep 200 ms each. Watch its Progress column move live."),
        h("button", { type: "button", class: "primary big", onclick: runDemo }, "Run a demo job"),
      );
    } else if (!page.total) {
      empty.append(
        h("p", {}, `No jobs match ${[state.status && `status “${state.status}”`, state.jobType && `type “${state.jobType}”`, state.q && `“${state.q}”`].filter(Boolean).join(" and ")}.`),
        h("button", { type: "button", class: "primary", onclick: clearFilters }, "Clear the filters"),
      );
    }
    table.hidden = page.total === 0;
    pagerBox.replaceChildren(page.total > PAGE_SIZE ? pager({
      offset: state.offset, limit: PAGE_SIZE, total: page.total,
      onPage: (o) => { state.offset = o; syncUrl(); load(); },
    }) : "");
  }

  function clearFilters() {
    state.status = "";
    state.q = "";
    state.jobType = "";
    state.offset = 0;
    statusSelect.value = "";
    typeSelect.value = "";
    search.value = "";
    syncUrl();
    load();
    search.focus();
  }

  async function loadStats() {
    try {
      const s = await api("/api/jobs/stats");
      const t = s.top_level;
      const n = (k) => fmtNumber(t[k] || 0);
      stats.textContent = `${n("total")} top-level job${t.total === 1 ? "" : "s"}: ${n("running")} running, ${n("pending")} pending, ` +
        `${n("completed")} completed, ${n("failed")} failed, ${n("cancelled")} cancelled · ${fmtNumber(s.all.total)} jobs in all trees`;
    } catch {
      /* shown by load() */
    }
  }

  // Reads answer in any order (several in flight under load). The list shows only the
  // latest one's answer; a row, only an answer newer than the one it shows (an older
  // one would put back a running job's counts and status after it finished).
  let reads = 0;
  let loading = null;
  async function load() {
    const mine = ++reads;
    loading = mine;
    try {
      const page = await api("/api/jobs", {
        params: {
          parent_id: "root", status: state.status, q: state.q, job_type: state.jobType,
          limit: PAGE_SIZE, offset: state.offset, order_by: state.orderBy, direction: state.direction,
        },
      });
      if (loading !== mine) return null;
      render(page, mine);
      loadStats();
      if (live.state === "live" || live.state === "idle") notice(msg, "");
      return page;
    } catch (err) {
      notice(msg, `Could not load jobs: ${err.detail || err.message}`);
      return null;
    }
  }
  const reload = debounce(load, 250);
  const progressRefresh = new Map();
  const estimators = new Map();

  /** A running parent's rate and ETA: the server's when given, else estimated here. */
  function showRate(cell, jobId, source, status, c) {
    const span = cell.querySelector(".rate-text");
    const running = !TERMINAL.has(status) && c.total > 0;
    if (!running) {
      span.hidden = true;
      estimators.delete(jobId);
      return;
    }
    if (!estimators.has(jobId)) estimators.set(jobId, new RateEstimator());
    const est = estimators.get(jobId);
    est.add(c);
    const r = serverRate(source) || est.estimate();
    span.hidden = !r;
    span.textContent = r ? rateText(r) : "";
  }

  function onProgress(p) {
    const row = state.rows.get(p.job_id);
    if (!row) return;
    const c = countsOf(p);
    const cell = row.tr.querySelector(".progress-cell");
    cell.querySelector(".progress-text").replaceChildren(...progressNodes(c, (st) => `#/jobs/${p.job_id}?status=${st}`));
    cell.classList.toggle("no-children", !c.total);
    updateBar(cell.querySelector(".bar"), c);
    setStatus(row, p.status);
    showRate(cell, p.job_id, p, p.status, c);
  }

  function setStatus(row, status) {
    const cell = row.tr.querySelector(".status-cell");
    if (cell.firstChild && cell.firstChild.dataset.status === status) return;
    cell.replaceChildren(badge(status));
    row.job.overall_status = status;
  }

  async function refreshRow(jobId) {
    const mine = ++reads;
    try {
      const job = await api(`/api/jobs/${jobId}`);
      const row = state.rows.get(jobId);
      if (!row || mine < row.read) return;
      if (!TERMINAL.has(job.overall_status)) job.result_count = row.job.result_count;
      const tr = renderRow(job);
      row.tr.replaceWith(tr);
      state.rows.set(jobId, { tr, job, read: mine });
    } catch {
      /* deleted meanwhile: the job_deleted event reloads */
    }
  }

  function onEvent(m) {
    const p = m.payload;
    switch (m.type) {
      case "parent_job_progress":
        onProgress(p);
        break;
      case "job_status_change":
        if (state.rows.has(p.job_id)) {
          if (TERMINAL.has(p.status) || p.status === "running") refreshRow(p.job_id);
        }
        if (state.status) reload();
        loadStats();
        break;
      case "job_created":
        if (state.offset === 0) reload();
        else loadStats();
        break;
      case "job_progress":
        // a top-level leaf reported progress: its row follows, at most once a second
        if (state.rows.has(p.job_id)) {
          if (!progressRefresh.has(p.job_id)) progressRefresh.set(p.job_id, throttle(() => refreshRow(p.job_id), 1000));
          progressRefresh.get(p.job_id)();
        }
        break;
      case "job_deleted":
        if (state.rows.has(p.job_id)) reload();
        break;
      case "document_saved": {
        // a crawl saved a page: the event carries the crawl's exact document count
        if (!p.new) break;
        const row = state.rows.get(p.parent_id);
        if (row && typeof p.documents === "number" && p.documents > (row.job.result_count || 0)) {
          row.job.result_count = p.documents;
          row.tr.querySelector(".docs-cell").textContent = fmtNumber(row.job.result_count);
        }
        break;
      }
      default:
    }
  }

  (async () => {
    const page = await load();
    live.open({
      after: page ? page.seq : undefined,
      filter: {
        types: ["parent_job_progress", "job_status_change", "job_created", "job_deleted", "document_saved", "job_progress"],
        topLevel: true,
      },
      onEvent,
      onResync: () => load(),
      poll: () => load(),
    });
  })();

  // running jobs' Duration counts up (client-side from started_at; no polling)
  const ticker = setInterval(() => {
    for (const { tr, job } of state.rows.values()) {
      if (job.started_at && !job.completed_at) {
        tr.querySelector(".duration-cell").textContent = fmtDuration(durationOf(job));
      }
    }
  }, 1000);

  return {
    destroy() {
      live.close();
      reload.cancel();
      clearInterval(ticker);
      for (const t of progressRefresh.values()) t.cancel();
    },
  };
}
