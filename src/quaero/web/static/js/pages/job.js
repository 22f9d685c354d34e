// The job page: details, config, live progress and counts, children, a live log tail;
// for a crawl also the crawl panel (pages/crawl.js).

import { api } from "../api.js";
import { live } from "../live.js";
import {
  STATUSES, badge, countsOf, fmtNumber, fmtTime, h, notice, pager, progressBar,
  progressText, throttle, updateBar,
} from "../util.js";
import { jobActions } from "./actions.js";
import { crawlPanel } from "./crawl.js";

const CHILD_PAGE = 25;
const LOG_PAGE = 200;
const MAX_LOG_LINES = 5000;
const LEVELS = ["debug", "info", "warning", "error"];

export function jobPage(view, params) {
  const id = Number(params[1]);
  const state = {
    job: null,
    childStatus: "",
    childOffset: 0,
    level: "info",
    aggregated: false,
    olderCursor: null,
    lastId: null,
    trimmed: false,
  };
  const msg = h("div", { class: "messages" });
  const head = h("div", { class: "page-head" });
  const details = h("dl", { class: "details" });
  const progressText_ = h("p", { class: "progress-text big-progress", dataset: { testid: "job-progress" } });
  const bar = progressBar({ total: 0 });
  const counts = h("div", { class: "counts" });
  const configPre = h("pre", { class: "code", tabindex: 0 });
  const childrenBody = h("tbody");
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
    onchange: () => { state.childStatus = childStatusSelect.value; state.childOffset = 0; loadChildren(); },
  }, h("option", { value: "" }, "All statuses"), STATUSES.map((s) => h("option", { value: s }, s)));

  childSection.append(
    h("div", { class: "section-head" },
      h("h2", { id: "children-title" }, "Children"),
      h("div", { class: "inline-field" }, h("label", { for: "child-status" }, "Status"), childStatusSelect),
    ),
    h("div", { class: "table-wrap" }, h("table", { class: "children-table", "aria-label": "Children" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "ID"), h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "col-num" }, "Attempts"),
        h("th", { scope: "col", class: "col-time col-optional" }, "Started"),
        h("th", { scope: "col", class: "col-time" }, "Finished"), h("th", { scope: "col" }, "Error"),
      )),
      childrenBody)),
    childPager,
  );

  view.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "← Jobs")),
    head, msg,
    h("section", { class: "card", "aria-labelledby": "progress-title" },
      h("h2", { id: "progress-title" }, "Progress"), progressText_, bar, counts),
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

  function renderJob(job) {
    state.job = job;
    document.title = `${job.name || job.job_type} · quaero`;
    head.replaceChildren(
      h("h1", {}, job.name || job.job_type, " ", h("span", { class: "muted" }, `#${job.id}`)),
      h("div", { class: "page-head-actions" },
        h("span", { class: "status-cell" }, badge(job.overall_status)),
        jobActions(job, {
          onDone: (kind, result) => {
            if (kind === "rerun") window.location.hash = `#/jobs/${result.id}`;
            else if (kind === "delete") window.location.hash = "#/jobs";
            else refreshJob();
          },
          onError: (e) => notice(msg, e),
        })),
    );
    renderProgress(countsOf(job), job.progress_text, job.overall_status);
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    const link = (jobId) => (jobId ? h("a", { href: `#/jobs/${jobId}` }, `#${jobId}`) : "—");
    details.replaceChildren(
      ...row("Type", job.job_type),
      ...row("Stored status", job.status),
      ...row("Attempts", `${job.attempts} of ${job.max_attempts}`),
      ...row("Created", fmtTime(job.created_at)),
      ...row("Started", fmtTime(job.started_at)),
      ...row("Finished", fmtTime(job.completed_at)),
      ...row("Documents", fmtNumber(job.result_count)),
      ...row("Parent", link(job.parent_id)),
      ...row("Root", job.root_id === job.id ? "this job" : link(job.root_id)),
      ...(job.progress ? row("Own progress", `${job.progress.current}/${job.progress.total ?? "?"} ${job.progress.message || ""}`) : []),
      ...(job.error ? row("Error", h("span", { class: "error-text" }, job.error)) : []),
    );
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

  function renderProgress(c, text, status) {
    progressText_.textContent = text || progressText(c);
    updateBar(bar, c);
    counts.replaceChildren(...["total", ...STATUSES].map((k) =>
      h("span", { class: `count count-${k}` }, h("strong", {}, fmtNumber(c[k] || 0)), ` ${k}`)));
    if (status) {
      const cell = head.querySelector(".status-cell");
      if (cell) cell.replaceChildren(badge(status));
    }
  }

  async function refreshJob() {
    try {
      renderJob(await api(`/api/jobs/${id}`));
    } catch (err) {
      notice(msg, err.status === 404 ? `Job ${id} does not exist (or was deleted).` : `Could not load job ${id}: ${err.detail || err.message}`);
    }
  }

  async function loadChildren() {
    if (!state.job || !state.job.children.total) return;
    try {
      const page = await api(`/api/jobs/${id}/children`, {
        params: { status: state.childStatus, limit: CHILD_PAGE, offset: state.childOffset },
      });
      if (page.children_pruned) {
        // retention pruned them: the counts above are the summary they left
        const when = fmtTime(state.job.children_pruned_at);
        childrenBody.replaceChildren(h("tr", {}, h("td", { colspan: 7, class: "muted" },
          `The ${state.job.children.total} children were pruned (retention) at ${when}; the counts above are their exact summary.`)));
        childPager.replaceChildren();
        return;
      }
      childrenBody.replaceChildren(...page.items.map((c) => h("tr", { dataset: { jobId: c.id } },
        h("td", { class: "col-num" }, h("a", { href: `#/jobs/${c.id}` }, String(c.id))),
        h("td", {}, c.name),
        h("td", {}, badge(c.overall_status)),
        h("td", { class: "col-num" }, String(c.attempts)),
        h("td", { class: "col-time col-optional" }, fmtTime(c.started_at)),
        h("td", { class: "col-time" }, fmtTime(c.completed_at)),
        h("td", { class: "error-text" }, c.error || ""),
      )));
      childPager.replaceChildren(pager({
        offset: state.childOffset, limit: CHILD_PAGE, total: page.total, label: "Children pages",
        onPage: (o) => { state.childOffset = o; loadChildren(); },
      }));
    } catch (err) {
      notice(msg, `Could not load children: ${err.detail || err.message}`);
    }
  }
  const refreshChildren = throttle(loadChildren, 1000);

  function logLine(e) {
    const who = e.job_id !== id ? h("a", { class: "log-job", href: `#/jobs/${e.job_id}` }, `#${e.job_id}`) : "";
    return h("li", { class: `log log-${e.level}` },
      h("time", { datetime: e.timestamp }, fmtTime(e.timestamp)), " ",
      h("span", { class: "log-level" }, e.level.toUpperCase()), " ", who, who ? " " : "",
      h("span", { class: "log-message" }, e.message));
  }
  const logPath = () => `/api/jobs/${id}/logs${state.aggregated ? "/aggregated" : ""}`;

  async function loadLogs() {
    try {
      const page = await api(logPath(), { params: { level: state.level, order: "desc", limit: LOG_PAGE } });
      const items = page.items.slice().reverse();
      state.lastId = items.length ? items[items.length - 1].id : null;
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
  // from the REST log after the last line shown, so they are complete and in order.
  async function fetchNew() {
    for (let round = 0; round < 10; round += 1) {
      let page;
      try {
        page = await api(logPath(), {
          params: { level: state.level, order: "asc", limit: 500, cursor: state.lastId ?? undefined },
        });
      } catch {
        return;
      }
      if (!page.items.length) return;
      logList.append(...page.items.map(logLine));
      state.lastId = page.items[page.items.length - 1].id;
      while (logList.childElementCount > MAX_LOG_LINES) {
        logList.firstElementChild.remove();
        state.trimmed = true;
        olderButton.disabled = true;
      }
      if (autoScroll.checked) logBox.scrollTop = logBox.scrollHeight;
      if (!page.next_cursor) return;
    }
  }
  const tail = throttle(fetchNew, 500);

  function onEvent(m) {
    const p = m.payload;
    if (m.type === "parent_job_progress" && p.job_id === id) {
      renderProgress(countsOf(p), p.progress_text, p.status);
      if (state.job) {
        state.job.children = countsOf(p);
        childSection.hidden = !p.total_children;
      }
      refreshChildren();
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
    await loadChildren();
    follow(logPage);
  })();

  return {
    destroy() {
      live.close();
      refreshChildren.cancel();
      tail.cancel();
      if (crawl) crawl.destroy();
    },
  };
}
