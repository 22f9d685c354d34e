// The job page: details, config, live progress and counts, children, a live log tail;
// for a crawl also the crawl panel (pages/crawl.js).

import { api } from "../api.js";
import { live } from "../live.js";
import {
  STATUSES, TERMINAL, badge, countsOf, durationOf, fmtBytes, fmtDuration, fmtNumber, fmtTime, h,
  markSorted, notice, pager, progressBar, progressNodes, sortHeader, throttle, updateBar,
} from "../util.js";
import { RateEstimator, rateText, serverRate, sparkline } from "../rate.js";
import { jobActions } from "./actions.js";
import { crawlPanel } from "./crawl.js";
import { bulkBar, errorsPanel, explainPanel, retryButtons } from "./operate.js";

const CHILD_PAGE = 25;
const LOG_PAGE = 200;
const MAX_LOG_LINES = 5000;
// how long after a line with a higher id showed one with a lower id may still show
// (a transaction's time from taking the id to its commit, with margin; the CLI's too)
const LOG_SETTLE_MS = 2000;
const LEVELS = ["debug", "info", "warning", "error"];

export function jobPage(view, params, query) {
  const id = Number(params[1]);
  const wanted = (query && query.get("status")) || "";
  const state = {
    job: null,
    childStatus: STATUSES.includes(wanted) ? wanted : "",
    childType: (query && query.get("job_type")) || "",
    errorGroup: (query && query.get("error_group")) || "",
    childTotal: 0,
    childOffset: 0,
    orderBy: "id",
    direction: "asc",
    level: "info",
    aggregated: false,
    olderCursor: null,
    trimmed: false,
  };
  // The live tail's read floor (see fetchNew): every line with an id up to ``settled``
  // showed; ``shown`` holds the ids above it; ``marks`` the last id shown at each read
  const tailState = { settled: null, shown: new Set(), marks: [], last: null };
  const msg = h("div", { class: "messages" });
  const head = h("div", { class: "page-head" });
  const details = h("dl", { class: "details" });
  const progressText_ = h("p", { class: "progress-text big-progress", dataset: { testid: "job-progress" } });
  const bar = progressBar({ total: 0 });
  const counts = h("div", { class: "counts" });
  const ownPanel = h("div", { class: "own-progress", dataset: { testid: "own-progress" }, hidden: true });
  const rollup = h("p", { class: "rollup", dataset: { testid: "rollup" }, hidden: true });
  const rateLine = h("p", { class: "rate-line", dataset: { testid: "rate" }, hidden: true });
  const spark = sparkline();
  const sparkWrap = h("div", { class: "spark-wrap", hidden: true },
    h("span", { class: "muted" }, "Finished per 2 s"), spark.el);
  const estimator = new RateEstimator();
  const retry = retryButtons(id, { msg, onDone: () => refreshAll() });
  const childPanel = h("div", { class: "child-progress" }, progressText_, bar, counts, rollup,
    h("div", { class: "rate-row" }, rateLine, sparkWrap), retry.el);
  const errors = errorsPanel(id, {
    msg,
    onView: (key) => setFilter({ status: "", job_type: "", error_group: key }),
    onDone: () => refreshAll(),
  });
  const explain = explainPanel(id);
  const configPre = h("pre", { class: "code", tabindex: 0 });
  const childrenBody = h("tbody");
  const childHead = h("thead");
  const childTable = h("table", { class: "children-table", "aria-label": "Children" }, childHead, childrenBody);
  const childEmpty = h("div", { class: "empty empty-small", hidden: true });
  const childPager = h("div");
  const childSection = h("section", { class: "card", "aria-labelledby": "children-title" });
  const crawlSlot = h("div");
  let crawl = null;
  const logList = h("ol", { class: "log-list", "aria-live": "off" });
  const logBox = h("div", { class: "log-box", tabindex: 0, role: "log", "aria-label": "Job log" }, logList);
  const olderButton = h("button", { type: "button", class: "small", onclick: loadOlder }, "Load older");
  const autoScroll = h("input", { type: "checkbox", id: "log-autoscroll", checked: true });
  const levelSelect = h("select", { id: "log-level", onchange: () => { state.level = levelSelect.value; loadLogs(); } },
    LEVELS.map((l) => h("option", { value: l, selected: l === state.level }, l)));
  const aggregatedBox = h("input", {
    type: "checkbox", id: "log-aggregated",
    onchange: () => { state.aggregated = aggregatedBox.checked; loadLogs().then(follow); },
  });
  const childStatusSelect = h("select", {
    id: "child-status",
    onchange: () => filterChildren(childStatusSelect.value),
  }, h("option", { value: "" }, "All statuses"), STATUSES.map((s) => h("option", { value: s, selected: s === state.childStatus }, s)));
  const childTypeSelect = h("select", {
    id: "child-type", onchange: () => setFilter({ job_type: childTypeSelect.value }),
  }, h("option", { value: "" }, "All types"));
  const errorGroupSelect = h("select", {
    id: "child-error-group", onchange: () => setFilter({ error_group: errorGroupSelect.value }),
  }, h("option", { value: "" }, "Any error"));
  const bulk = bulkBar(id, {
    msg,
    filters: () => ({
      status: state.childStatus, job_type: state.childType, error_group: state.errorGroup,
      label: filterLabel(), total: state.childTotal,
    }),
    onDone: () => refreshAll(),
  });

  childSection.append(
    h("div", { class: "section-head" },
      h("h2", { id: "children-title" }, "Children"),
      h("div", { class: "child-filters" },
        h("div", { class: "inline-field" }, h("label", { for: "child-status" }, "Status"), childStatusSelect),
        h("div", { class: "inline-field" }, h("label", { for: "child-type" }, "Type"), childTypeSelect),
        h("div", { class: "inline-field" }, h("label", { for: "child-error-group" }, "Error group"), errorGroupSelect)),
    ),
    bulk.el,
    childEmpty,
    h("div", { class: "table-wrap" }, childTable),
    childPager,
  );

  const crumbs = h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "← Jobs"));
  view.replaceChildren(
    crumbs,
    head, msg,
    h("section", { class: "card", "aria-labelledby": "progress-title" },
      h("h2", { id: "progress-title" }, "Progress"), ownPanel, childPanel),
    explain.el,
    errors.el,
    crawlSlot,
    h("div", { class: "two-col" },
      h("section", { class: "card", "aria-labelledby": "details-title" }, h("h2", { id: "details-title" }, "Details"), details),
      h("section", { class: "card", "aria-labelledby": "config-title" }, h("h2", { id: "config-title" }, "Config"), configPre),
    ),
    childSection,
    h("section", { class: "card", "aria-labelledby": "log-title" },
      h("div", { class: "section-head" },
        h("h2", { id: "log-title" }, "Log"),
        h("div", { class: "log-controls" },
          h("span", { class: "inline-field" }, h("label", { for: "log-level" }, "Level"), levelSelect),
          h("span", { class: "inline-field" }, aggregatedBox, h("label", { for: "log-aggregated" }, "Include children")),
          h("span", { class: "inline-field" }, autoScroll, h("label", { for: "log-autoscroll" }, "Auto-scroll")),
          olderButton,
        ),
      ),
      logBox),
  );

  function isCrawl() {
    return state.job && state.job.job_type === "crawl";
  }

  function renderJob(job) {
    const first = !state.job;
    const statusChanged = !state.job || state.job.overall_status !== job.overall_status ||
      state.job.status !== job.status;
    state.job = job;
    document.title = `${job.name || job.job_type} · quaero`;
    if (first || statusChanged) renderHead(job);
    if (first) {
      renderCrumbs(job);
      renderChildHead();
    }
    renderProgress(countsOf(job), job.overall_status);
    renderRate(job);
    renderDetails(job);
    configPre.textContent = JSON.stringify(job.config, null, 2);
    childSection.hidden = !job.children.total;
    if (job.crawl) {
      if (!crawl) {
        crawl = crawlPanel(id);
        crawlSlot.replaceChildren(crawl.el);
      }
      crawl.update(job);
    }
  }

  function renderHead(job) {
    head.replaceChildren(
      h("h1", {}, job.name || job.job_type, " ", h("span", { class: "muted" }, `#${job.id}`)),
      h("div", { class: "page-head-actions" },
        h("span", { class: "status-cell" }, badge(job.overall_status)),
        jobActions(job, {
          onDone: (kind, result) => {
            if (kind === "rerun") window.location.hash = `#/jobs/${result.id}`;
            else if (kind === "delete") window.location.hash = job.parent_id ? `#/jobs/${job.parent_id}` : "#/jobs";
            else refreshJob();
          },
          onError: (e) => notice(msg, e),
        })),
    );
  }

  /** A child's way back is its parent (named), then the jobs list. */
  async function renderCrumbs(job) {
    if (!job.parent_id) return;
    let parentName = `job #${job.parent_id}`;
    try {
      const parent = await api(`/api/jobs/${job.parent_id}`);
      parentName = `${parent.name || parent.job_type} #${parent.id}`;
    } catch {
      /* deleted parent: the id still names it */
    }
    crumbs.replaceChildren(
      h("a", { href: `#/jobs/${job.parent_id}`, class: "back-parent" }, `← ${parentName}`),
      h("span", { class: "muted" }, " · "),
      h("a", { href: "#/jobs" }, "All jobs"),
    );
  }

  function renderDetails(job) {
    const row = (k, v, testid) => [h("dt", {}, k), h("dd", testid ? { dataset: { testid } } : {}, v)];
    const link = (jobId) => (jobId ? h("a", { href: `#/jobs/${jobId}` }, `#${jobId}`) : "—");
    const own = job.status !== job.overall_status
      ? row("Own work", `${job.status}${job.waiting_for_children ? ", waiting for its children" : ""}`)
      : [];
    details.replaceChildren(
      ...row("Type", job.job_type),
      ...own,
      ...row("Attempts", `${fmtNumber(job.attempts)} of ${fmtNumber(job.max_attempts)}`),
      ...row("Created", fmtTime(job.created_at)),
      ...row("Started", fmtTime(job.started_at)),
      ...row("Finished", fmtTime(job.completed_at)),
      ...row("Duration", fmtDuration(durationOf(job)), "duration"),
      ...(job.result_count || job.crawl ? row("Documents", fmtNumber(job.result_count), "details-documents") : []),
      ...row("Parent", link(job.parent_id)),
      ...row("Root", job.root_id === job.id ? "this job" : link(job.root_id)),
      ...(job.error ? row("Error", h("span", { class: "error-text" }, job.error)) : []),
    );
  }

  /** Show the children with this status (from a count or the select); other filters stay. */
  function filterChildren(status) {
    setFilter({ status });
  }

  /** Change the children list's filters ({status, job_type, error_group}); the URL follows. */
  function setFilter(f) {
    if ("status" in f) state.childStatus = f.status;
    if ("job_type" in f) state.childType = f.job_type;
    if ("error_group" in f) state.errorGroup = f.error_group;
    state.childOffset = 0;
    childStatusSelect.value = state.childStatus;
    syncFilterOptions();
    const q = new URLSearchParams();
    if (state.childStatus) q.set("status", state.childStatus);
    if (state.childType) q.set("job_type", state.childType);
    if (state.errorGroup) q.set("error_group", state.errorGroup);
    const hash = `#/jobs/${id}${q.toString() ? `?${q}` : ""}`;
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
    bulk.clear();
    loadChildren().then(() => childSection.scrollIntoView({ block: "start" }));
  }

  /** "status failed, error group http_503" — what the filters select, in words. */
  function filterLabel() {
    const parts = [];
    if (state.childStatus) parts.push(`status ${state.childStatus}`);
    if (state.childType) parts.push(`type ${state.childType}`);
    if (state.errorGroup) parts.push(`error group ${state.errorGroup}`);
    return parts.join(", ");
  }

  /** An error group's failures below the children (a nested tree): links to a few. */
  function deeperSamples() {
    if (state.childType || (state.childStatus && state.childStatus !== "failed")) return "";
    const g = state.errorGroup && errors.groups().find((x) => x.key === state.errorGroup);
    if (!g || !g.sample_job_ids.length) return "";
    return h("p", { class: "hint deeper-samples" }, `Its ${fmtNumber(g.count)} failed jobs are deeper in the tree, e.g. `,
      g.sample_job_ids.slice(0, 5).flatMap((sid, i) => [i ? ", " : "", h("a", { href: `#/jobs/${sid}` }, `#${sid}`)]), ".");
  }

  /** The Type and Error group selects list what exists (and keep a value from the URL). */
  function syncFilterOptions(types) {
    if (types) {
      childTypeSelect.replaceChildren(h("option", { value: "" }, "All types"),
        types.map((t) => h("option", { value: t }, t)));
    }
    const keys = errors.groups().map((g) => g.key);
    errorGroupSelect.replaceChildren(h("option", { value: "" }, "Any error"),
      keys.map((k) => h("option", { value: k }, k)));
    for (const [select, value] of [[childTypeSelect, state.childType], [errorGroupSelect, state.errorGroup]]) {
      if (value && ![...select.options].some((o) => o.value === value)) select.append(h("option", { value }, value));
      select.value = value;
    }
  }

  /** After an action: the job, its children, the error groups and the explanation. */
  function refreshAll() {
    refreshJob().then(loadChildren);
    errors.load().then(() => syncFilterOptions());
    explain.load();
  }

  /** The rate line: the server's figures when it sends them, else the estimate here. */
  function renderRate(source, status) {
    const job = state.job;
    const running = job && !TERMINAL.has(status || job.overall_status) && job.children.total > 0;
    const r = serverRate(source) || serverRate(job) || estimator.estimate();
    rateLine.hidden = !running || !r;
    sparkWrap.hidden = !running;
    if (running && r) {
      rateLine.textContent = `${rateText(r)}${r.server ? "" : " (estimated here)"}`;
      rateLine.title = "Children finished per second over the last 30 s, and the time left at that rate";
    }
  }

  /** A leaf job: its own state, duration and reported progress (no children to count). */
  function renderOwn(job) {
    const p = job.progress || null;
    const parts = [badge(job.overall_status), " ", h("span", { dataset: { testid: "own-duration" } },
      job.started_at ? `${TERMINAL.has(job.overall_status) ? "ran" : "running for"} ${fmtDuration(durationOf(job))}` : "not started yet")];
    const lines = [h("p", { class: "big-progress" }, parts)];
    if (p) {
      const total = typeof p.total === "number" && p.total > 0 ? p.total : null;
      lines.push(h("p", { class: "own-progress-text", dataset: { testid: "own-progress-text" } },
        total ? `${fmtNumber(p.current)} of ${fmtNumber(total)}` : `${fmtNumber(p.current)} done`,
        p.message ? ` · ${p.message}` : ""));
      if (total) {
        const pct = Math.min(100, Math.floor((p.current / total) * 1000) / 10);
        const b = progressBar({ total: 1 });
        updateBar(b, { total, completed: Math.min(p.current, total) });
        b.setAttribute("aria-label", `${fmtNumber(p.current)} of ${fmtNumber(total)} (${pct}%)`);
        lines.push(b);
      }
    } else if (!TERMINAL.has(job.overall_status)) {
      lines.push(h("p", { class: "hint" }, job.started_at ? "It has not reported progress." : "Waiting for a worker."));
    }
    if (job.error) lines.push(h("p", { class: "error-text" }, job.error));
    ownPanel.replaceChildren(...lines);
  }

  function renderProgress(c, status) {
    const leaf = !c.total && state.job && !state.job.waiting_for_children;
    ownPanel.hidden = !leaf;
    childPanel.hidden = leaf;
    if (leaf) renderOwn(state.job);
    progressText_.replaceChildren(...progressNodes(c, (st) => `#/jobs/${id}?status=${st}`));
    for (const a of progressText_.querySelectorAll("a")) {
      a.addEventListener("click", (e) => {
        e.preventDefault();
        filterChildren(a.classList.contains("count-link-failed") ? "failed" : "cancelled");
      });
    }
    updateBar(bar, c);
    const job = state.job;
    const d = job && job.descendants;
    const nested = d && d.total !== c.total;
    rollup.hidden = !nested;
    if (nested) {
      rollup.textContent = `${fmtNumber(d.total)} jobs in the tree: ${fmtNumber(d.pending)} pending, ` +
        `${fmtNumber(d.running)} running, ${fmtNumber(d.completed)} completed, ${fmtNumber(d.failed)} failed` +
        `${d.cancelled ? `, ${fmtNumber(d.cancelled)} cancelled` : ""}`;
    }
    retry.update(nested ? d : c);
    // buttons made once and updated in place: a live update never steals the focus
    for (const k of ["total", ...STATUSES]) {
      let b = counts.querySelector(`.count-${k}`);
      if (!b) {
        b = h("button", {
          type: "button", class: `count count-${k}`,
          title: k === "total" ? "Show all children" : `Show the ${k} children`,
          onclick: () => filterChildren(k === "total" ? "" : k),
        }, h("strong", {}), ` ${k}`);
        counts.append(b);
      }
      b.querySelector("strong").textContent = fmtNumber(c[k] || 0);
      b.classList.toggle("count-attention", (k === "failed" || k === "cancelled") && c[k] > 0);
      b.setAttribute("aria-pressed", String(state.childStatus === (k === "total" ? "" : k)));
      b.disabled = !c.total;
    }
    if (status) {
      const cell = head.querySelector(".status-cell");
      if (cell && (!cell.firstChild || cell.firstChild.dataset.status !== status)) cell.replaceChildren(badge(status));
    }
  }

  // Reads of the job (and of its children) are answered in any order: several are in
  // flight at once under load. An answer is shown only if no read issued after it was
  // shown already; else it would put back what that one replaced (a finished job shown
  // running, a crawl's documents and "Discovery open") until the next event, which for
  // a finished job never comes.
  const reads = { job: 0, jobShown: 0, children: 0, childrenShown: 0 };

  async function refreshJob() {
    const mine = ++reads.job;
    try {
      const job = await api(`/api/jobs/${id}`);
      if (mine < reads.jobShown) return;
      reads.jobShown = mine;
      renderJob(job);
    } catch (err) {
      notice(msg, err.status === 404 ? `Job ${id} does not exist (or was deleted).` : `Could not load job ${id}: ${err.detail || err.message}`);
    }
  }

  function renderChildHead() {
    const reload = () => { state.childOffset = 0; loadChildren(); };
    const crawlCols = isCrawl();
    childHead.replaceChildren(h("tr", {},
      sortHeader("ID", "id", state, reload, { class: "col-id" }),
      sortHeader(crawlCols ? "URL" : "Name", "name", state, reload),
      sortHeader("Status", "status", state, reload),
      crawlCols ? [
        h("th", { scope: "col", class: "col-num", title: "HTTP status" }, "HTTP"),
        h("th", { scope: "col", class: "col-num col-optional" }, "Size"),
        h("th", { scope: "col", class: "col-optional" }, "Title"),
      ] : h("th", { scope: "col", class: "col-num col-optional" }, "Attempts"),
      h("th", { scope: "col", class: "col-num col-duration" }, "Duration"),
      sortHeader("Finished", "completed_at", state, reload, { class: "col-time" }),
      h("th", { scope: "col", class: "col-error" }, "Error"),
    ));
  }

  function childRow(c) {
    const r = c.result && typeof c.result === "object" ? c.result : {};
    const name = isCrawl() && typeof r.document_id === "number"
      ? h("a", { href: `#/documents/${r.document_id}`, title: "Read the saved document" }, c.name)
      : c.name;
    return h("tr", { dataset: { jobId: c.id } },
      h("td", { class: "col-num col-id" }, h("a", { href: `#/jobs/${c.id}`, "aria-label": `Job ${c.id}` }, String(c.id))),
      // on a phone the Error column is hidden and the error shows under the name
      h("td", { class: isCrawl() ? "col-url" : "col-name" }, name,
        c.error ? h("span", { class: "child-error-inline error-text" }, c.error) : ""),
      h("td", {}, badge(c.overall_status)),
      isCrawl() ? [
        h("td", { class: "col-num http-cell" }, typeof r.status === "number" ? String(r.status) : "—"),
        h("td", { class: "col-num col-optional size-cell" }, typeof r.bytes === "number" ? fmtBytes(r.bytes) : "—"),
        h("td", { class: "col-optional title-cell" }, typeof r.title === "string" ? r.title : ""),
      ] : h("td", { class: "col-num col-optional" }, fmtNumber(c.attempts)),
      h("td", { class: "col-num col-duration" }, fmtDuration(durationOf(c))),
      h("td", { class: "col-time" }, fmtTime(c.completed_at)),
      h("td", { class: "error-text col-error" }, c.error || ""),
    );
  }

  /** The children list's request: its filters, page and order. */
  function childParams() {
    return {
      status: state.childStatus, job_type: state.childType, error_group: state.errorGroup,
      limit: CHILD_PAGE, offset: state.childOffset, order_by: state.orderBy, direction: state.direction,
    };
  }

  async function loadChildren() {
    if (!state.job || !state.job.children.total) return;
    const mine = ++reads.children;
    const params = childParams();
    const asked = JSON.stringify(params);
    try {
      const page = await api(`/api/jobs/${id}/children`, { params });
      // an older read, or one made for filters or a page no longer chosen, is not shown
      if (mine < reads.childrenShown || asked !== JSON.stringify(childParams())) return;
      reads.childrenShown = mine;
      state.childTotal = page.children_pruned ? 0 : page.total;
      bulk.update();
      if (page.children_pruned) {
        // retention pruned them: the counts above are the summary they left
        const when = fmtTime(state.job.children_pruned_at);
        childrenBody.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" },
          `The ${state.job.children.total} children were pruned (retention) at ${when}; the counts above are their exact summary.`)));
        childPager.replaceChildren();
        return;
      }
      markSorted(childTable, state);
      childrenBody.replaceChildren(...page.items.map(childRow));
      childTable.parentElement.hidden = page.total === 0;
      childEmpty.hidden = page.total > 0;
      if (!page.total) {
        childEmpty.replaceChildren(
          h("p", {}, state.childStatus && !state.childType && !state.errorGroup
            ? `No ${state.childStatus} children${TERMINAL.has(state.job.overall_status) ? "" : " yet"}.`
            : filterLabel() ? `No children match (${filterLabel()}).` : "No children yet."),
          deeperSamples(),
          filterLabel()
            ? h("button", { type: "button", class: "primary", onclick: () => setFilter({ status: "", job_type: "", error_group: "" }) }, "Show all children")
            : "",
        );
      }
      childPager.replaceChildren(page.total > CHILD_PAGE ? pager({
        offset: state.childOffset, limit: CHILD_PAGE, total: page.total, label: "Children pages",
        onPage: (o) => { state.childOffset = o; loadChildren(); },
      }) : "");
      for (const b of counts.querySelectorAll("button.count")) {
        const k = b.classList.contains("count-total") ? "" : b.className.match(/count-(\w+)/)[1];
        b.setAttribute("aria-pressed", String(k === state.childStatus));
      }
    } catch (err) {
      notice(msg, `Could not load children: ${err.detail || err.message}`);
    }
  }
  const refreshChildren = throttle(loadChildren, 1000);
  const refreshSoon = throttle(() => refreshJob(), 1000);
  const refreshErrors = throttle(() => errors.load().then(() => syncFilterOptions()), 3000);

  function logLine(e) {
    const who = e.job_id !== id ? h("a", { class: "log-job", href: `#/jobs/${e.job_id}` }, `#${e.job_id}`) : "";
    return h("li", { class: `log log-${e.level}`, dataset: { id: String(e.id) } },
      h("time", { datetime: e.timestamp }, fmtTime(e.timestamp)), " ",
      h("span", { class: "log-level" }, e.level.toUpperCase()), " ", who, who ? " " : "",
      h("span", { class: "log-message" }, e.message));
  }
  const logPath = () => `/api/jobs/${id}/logs${state.aggregated ? "/aggregated" : ""}`;

  async function loadLogs() {
    try {
      const page = await api(logPath(), { params: { level: state.level, order: "desc", limit: LOG_PAGE } });
      const items = page.items.slice().reverse();
      resetTail(items);
      state.olderCursor = page.next_cursor;
      state.trimmed = false;
      logList.replaceChildren(...items.map(logLine));
      olderButton.disabled = !state.olderCursor;
      logBox.scrollTop = logBox.scrollHeight;
      return page;
    } catch (err) {
      notice(msg, `Could not load the log: ${err.detail || err.message}`);
      return null;
    }
  }

  async function loadOlder() {
    if (!state.olderCursor) return;
    const page = await api(logPath(), {
      params: { level: state.level, order: "desc", limit: LOG_PAGE, cursor: state.olderCursor },
    });
    const before = logBox.scrollHeight;
    logList.prepend(...page.items.slice().reverse().map(logLine));
    logBox.scrollTop += logBox.scrollHeight - before;
    state.olderCursor = page.next_cursor;
    olderButton.disabled = !state.olderCursor || state.trimmed;
  }

  // The live tail: log and status events say "there is more"; the lines themselves come
  // from the REST log, so they are complete. A line takes its id when its transaction
  // writes it and shows when that commits: on PostgreSQL (several processes commit at
  // once) a line can show after lines with higher ids were read, so each read starts at
  // a floor LOG_SETTLE_MS of reads behind the last line shown (as `jobs logs --follow`
  // does), and a line not shown yet goes in at its id's place: the list stays in id
  // order, and each job's lines in their order.
  function resetTail(items) {
    tailState.settled = items.length ? items[0].id - 1 : null;
    tailState.shown = new Set(items.map((e) => e.id));
    tailState.marks = [];
    tailState.last = items.length ? items[items.length - 1].id : null;
  }

  function tailFloor() {
    const now = performance.now();
    let moved = false;
    while (tailState.marks.length && now - tailState.marks[0][0] >= LOG_SETTLE_MS) {
      const mark = tailState.marks.shift()[1];
      if (mark !== null) { tailState.settled = mark; moved = true; }
    }
    if (moved) {
      for (const i of tailState.shown) if (i <= tailState.settled) tailState.shown.delete(i);
    }
    tailState.marks.push([now, tailState.last]);
    return tailState.settled;
  }

  function insertLine(e) {
    const li = logLine(e);
    let after = logList.lastElementChild;
    while (after && Number(after.dataset.id) > e.id) after = after.previousElementSibling;
    if (after) after.after(li);
    else if (!state.trimmed) logList.prepend(li);
    else return; // older than the oldest line kept: it is in the log, not in the view
    tailState.shown.add(e.id);
    tailState.last = tailState.last === null ? e.id : Math.max(tailState.last, e.id);
  }

  async function fetchNew() {
    let cursor = tailFloor();
    for (let round = 0; round < 20; round += 1) {
      let page;
      try {
        page = await api(logPath(), {
          params: { level: state.level, order: "asc", limit: 1000, cursor: cursor ?? undefined },
        });
      } catch {
        return;
      }
      let added = 0;
      for (const e of page.items) {
        if (tailState.shown.has(e.id) || (tailState.settled !== null && e.id <= tailState.settled)) continue;
        insertLine(e);
        added += 1;
      }
      while (logList.childElementCount > MAX_LOG_LINES) {
        logList.firstElementChild.remove();
        state.trimmed = true;
        olderButton.disabled = true;
      }
      if (added && autoScroll.checked) logBox.scrollTop = logBox.scrollHeight;
      if (!page.next_cursor) return;
      cursor = page.items[page.items.length - 1].id;
    }
  }
  const tail = throttle(fetchNew, 500);

  function onEvent(m) {
    const p = m.payload;
    if (m.type === "parent_job_progress" && p.job_id === id) {
      const c = countsOf(p);
      const before = state.job ? state.job.children : null;
      if (state.job) {
        state.job.children = c;
        if (typeof p.rate === "number") Object.assign(state.job, { rate: p.rate, eta_seconds: p.eta_seconds });
        childSection.hidden = !p.total_children;
      }
      estimator.add(c);
      spark.push(c);
      renderProgress(c, p.status);
      renderRate(p, p.status);
      explain.onProgress(p.status);
      if (!before || before.failed !== c.failed) refreshErrors();
      refreshChildren();
      refreshSoon(); // Details (documents, times) follow within a second
      if (crawl) crawl.onProgress(countsOf(p));
    } else if (m.type === "job_status_change") {
      if (p.job_id === id) refreshJob();
      else if (p.parent_id === id) refreshChildren();
      if (p.job_id === id || state.aggregated) tail();
    } else if (m.type === "log") {
      if (state.aggregated || p.job_id === id) tail();
    } else if (m.type === "job_progress" && p.job_id === id) {
      refreshJob();
    } else if (m.type === "job_deleted" && p.job_id === id) {
      notice(msg, `Job ${id} was deleted.`);
    }
  }

  function follow(logPage) {
    const job = state.job;
    live.open({
      after: logPage ? logPage.seq : live.lastSeq ?? undefined,
      filter: {
        types: ["parent_job_progress", "job_status_change", "log", "job_progress", "job_deleted"],
        jobIds: [id],
        tree: state.aggregated && job && job.root_id === job.id,
      },
      onEvent,
      onResync: () => { refreshJob().then(loadChildren); tail(); },
      poll: () => { refreshJob().then(loadChildren); tail(); },
    });
  }

  (async () => {
    const logPage = await loadLogs(); // first: its seq is where the live stream starts
    await refreshJob();
    if (state.job) {
      estimator.add(state.job.children);
      spark.push(state.job.children);
      renderRate(state.job);
    }
    await errors.load();
    syncFilterOptions();
    await loadChildren();
    follow(logPage);
    explain.load();
    api("/api/job-types").then((t) => syncFilterOptions(t.items)).catch(() => {});
  })();

  // a running job's Duration counts up
  const ticker = setInterval(() => {
    const job = state.job;
    if (!job || !job.started_at || job.completed_at) return;
    const cell = details.querySelector("[data-testid=duration]");
    if (cell) cell.textContent = fmtDuration(durationOf(job));
    if (!ownPanel.hidden) renderOwn(job);
  }, 1000);

  return {
    destroy() {
      live.close();
      refreshChildren.cancel();
      refreshSoon.cancel();
      clearInterval(ticker);
      tail.cancel();
      refreshErrors.cancel();
      explain.destroy();
      spark.destroy();
      if (crawl) crawl.destroy();
    },
  };
}
