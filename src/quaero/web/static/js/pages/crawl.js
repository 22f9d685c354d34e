// The crawler in the dashboard: the "New crawl" form (a job form for "crawl") and the
// crawl panel of a crawl's job page (pages by status, skipped URLs by reason, discovery
// open or closed, its documents, the failed URLs with their reasons).

import { api } from "../api.js";
import { fmtNumber, fmtTime, h, notice, pager, throttle } from "../util.js";
import { registerJobForm } from "./new.js";

const FAILURE_PAGE = 25;

// ------------------------------------------------------------------ the New crawl form

const lines = (textarea) => textarea.value.split("\n").map((s) => s.trim()).filter(Boolean);

class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/** A field: label, control, hint and an error line bound to it by aria-describedby. */
function field(key, label, control, hint = "") {
  control.id = `crawl-${key}`;
  control.name = key;
  const hintEl = hint ? h("span", { class: "hint", id: `crawl-${key}-hint` }, hint) : null;
  const error = h("span", { class: "field-error", id: `crawl-${key}-error`, role: "alert", hidden: true });
  control.setAttribute("aria-describedby", [hintEl && hintEl.id, error.id].filter(Boolean).join(" "));
  const checkbox = control.type === "checkbox";
  const labelEl = h("label", { for: control.id }, label);
  const box = h("div", { class: checkbox ? "field field-check" : "field", dataset: { field: key } },
    checkbox ? h("span", { class: "inline-field" }, control, labelEl) : [labelEl, control],
    hintEl, error);
  return { key, box, control, error };
}

function numberInput(value, min, max, step = 1) {
  return h("input", { type: "number", inputmode: step === 1 ? "numeric" : "decimal", value, min, max, step });
}

/** The crawl form; renders into ``container``, returns {getConfig, defaultName, showError}. */
export function renderCrawlForm(container) {
  const fields = [
    field("start_urls", "Start URLs", h("textarea", { rows: 3, spellcheck: "false", required: true, placeholder: "https://example.com/docs/" }),
      "One http(s) URL per line. The crawl stays on these hosts."),
    field("max_depth", "Max depth", numberInput(3, 0, 1000), "Links followed from a start URL (0: the start pages only)."),
    field("max_pages", "Max pages", numberInput(1000, 1, 10000000), "The page budget of the whole crawl."),
    field("concurrency", "Concurrency", numberInput(8, 1, 1024), "Pages fetched at once."),
    field("delay", "Delay (seconds)", numberInput(0, 0, 3600, 0.1), "From the end of one request to a host to the start of the next, across all workers."),
    field("include_patterns", "Include patterns", h("textarea", { rows: 2, spellcheck: "false", placeholder: "/docs/" }),
      "Regular expressions, one per line: a URL must match one of them."),
    field("exclude_patterns", "Exclude patterns", h("textarea", { rows: 2, spellcheck: "false", placeholder: "\\?print=" }),
      "Regular expressions, one per line: a URL matching one is skipped."),
    field("follow_robots_txt", "Follow robots.txt", h("input", { type: "checkbox", checked: true })),
    field("allow_private_networks", "Allow private networks", h("input", { type: "checkbox" }),
      "Allow localhost and private addresses (off: refused, to protect the server's network)."),
  ];
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const [urls, depth, pages, concurrency, delay, include, exclude, robots, priv] = fields;
  container.append(h("fieldset", { class: "crawl-form" },
    h("legend", {}, "Crawl"),
    urls.box,
    h("div", { class: "field-grid" }, depth.box, pages.box, concurrency.box, delay.box),
    h("div", { class: "field-grid" }, include.box, exclude.box),
    robots.box, priv.box));

  function clearErrors() {
    for (const f of fields) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.control.removeAttribute("aria-invalid");
    }
  }

  function mark(f, message) {
    f.error.textContent = message;
    f.error.hidden = false;
    f.control.setAttribute("aria-invalid", "true");
    f.control.focus();
  }

  function num(f) {
    if (f.control.validity.badInput) throw new FieldError(f, `${f.box.querySelector("label").textContent} must be a number.`);
    return f.control.value === "" ? undefined : Number(f.control.value);
  }

  return {
    getConfig() {
      clearErrors();
      try {
        const starts = lines(urls.control);
        if (!starts.length) throw new FieldError(urls, "Give at least one start URL.");
        return {
          start_urls: starts,
          max_depth: num(depth),
          max_pages: num(pages),
          concurrency: num(concurrency),
          delay: num(delay),
          include_patterns: lines(include.control),
          exclude_patterns: lines(exclude.control),
          follow_robots_txt: robots.control.checked,
          allow_private_networks: priv.control.checked,
        };
      } catch (err) {
        if (err instanceof FieldError) mark(err.field, err.message);
        throw err;
      }
    },
    defaultName() {
      const first = lines(urls.control)[0];
      return first ? `crawl ${first}`.slice(0, 500) : "";
    },
    /** Put the server's 422 message next to the field it names. */
    showError(detail) {
      clearErrors();
      const text = String(detail || "");
      const key = /start URL/i.test(text) ? "start_urls" : fields.map((f) => f.key).find((k) => text.includes(k));
      if (key) mark(byKey.get(key), text);
    },
  };
}

registerJobForm("crawl", { render: renderCrawlForm });

// ------------------------------------------------------------------ the crawl panel

function reasonText(byReason) {
  const parts = Object.entries(byReason || {}).filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason.replace(/_/g, " ")} ${fmtNumber(n)}`);
  return parts.length ? parts.join(", ") : "none";
}

/** The crawl panel of job ``jobId``: {el, update(job), onProgress(counts), destroy()}. */
export function crawlPanel(jobId) {
  const state = { crawl: null, failuresOffset: 0, failedShown: -1 };
  const stat = (key, label) => {
    const value = h("strong", { dataset: { testid: `crawl-${key}` } }, "—");
    return { key, value, el: h("div", { class: `crawl-stat crawl-stat-${key}` }, h("span", { class: "crawl-stat-label" }, label), value) };
  };
  const stats = ["discovered", "pending", "running", "completed", "failed", "skipped", "documents"]
    .map((k) => stat(k, k));
  const statMap = new Map(stats.map((s) => [s.key, s.value]));
  const reasons = h("p", { class: "hint", dataset: { testid: "crawl-skipped-reasons" } });
  const discovery = h("span", { class: "discovery", dataset: { testid: "crawl-discovery" } });
  const docsLink = h("a", { href: `#/documents?job_id=${jobId}`, class: "button small" }, "Browse its documents");
  const failBody = h("tbody");
  const failPager = h("div");
  const failMsg = h("div");
  const failEmpty = h("p", { class: "hint" }, "No failed URLs.");
  const failTable = h("div", { class: "table-wrap" }, h("table", { class: "failures-table", "aria-label": "Failed URLs" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "URL"), h("th", { scope: "col" }, "Reason"), h("th", { scope: "col" }, "Message"),
      h("th", { scope: "col", class: "col-time col-optional" }, "Failed"))),
    failBody));
  const el = h("section", { class: "card crawl-panel", "aria-labelledby": "crawl-title" },
    h("div", { class: "section-head" }, h("h2", { id: "crawl-title" }, "Crawl"), h("div", { class: "page-head-actions" }, discovery, docsLink)),
    h("div", { class: "crawl-stats" }, stats.map((s) => s.el)),
    h("p", { class: "hint" }, "Skipped (never fetched): ", reasons),
    h("h3", { id: "failures-title" }, "Failed URLs"),
    failMsg, failEmpty, failTable, failPager);

  function render(c) {
    for (const key of ["discovered", "pending", "running", "completed", "failed", "skipped", "documents"]) {
      const el = statMap.get(key);
      if (key === "failed" && c.failed > 0) {
        // the failed pages are one click away, as on every job page
        el.replaceChildren(h("a", { href: `#/jobs/${jobId}?status=failed`, class: "count-link count-link-failed" }, fmtNumber(c[key])));
      } else {
        el.textContent = fmtNumber(c[key]);
      }
    }
    reasons.textContent = reasonText(c.skipped_by_reason);
    discovery.textContent = c.discovery_open ? "Discovery open" : "Discovery closed";
    discovery.dataset.open = String(Boolean(c.discovery_open));
    discovery.title = c.discovery_open
      ? "Pages still running may discover more URLs"
      : "The crawl is finished: no more URLs will be discovered";
    if (c.failed !== state.failedShown) refreshFailures();
  }

  // reads answer in any order: an older one, or one for another page, is not shown
  const reads = { issued: 0, shown: 0 };
  async function loadFailures() {
    const mine = ++reads.issued;
    const offset = state.failuresOffset;
    try {
      const page = await api(`/api/jobs/${jobId}/failures`, { params: { limit: FAILURE_PAGE, offset } });
      if (mine < reads.shown || offset !== state.failuresOffset) return;
      reads.shown = mine;
      state.failedShown = page.total;
      failBody.replaceChildren(...page.items.map((f) => h("tr", { dataset: { jobId: f.job_id } },
        h("td", { class: "col-url" }, h("a", { href: `#/jobs/${f.job_id}` }, f.url || f.name)),
        h("td", {}, h("code", { class: "reason" }, f.reason)),
        h("td", { class: "error-text" }, f.message,
          f.reason === "ssrf_blocked" && !/allow/i.test(f.message)
            ? h("span", { class: "hint" }, " To crawl private addresses, start the crawl again with “Allow private networks” ticked (CLI: quaero crawl --allow-private-networks).")
            : ""),
        h("td", { class: "col-time col-optional" }, fmtTime(f.completed_at)))));
      failEmpty.hidden = page.total > 0;
      failTable.hidden = page.total === 0;
      failPager.replaceChildren(page.total > FAILURE_PAGE ? pager({
        offset: state.failuresOffset, limit: FAILURE_PAGE, total: page.total, label: "Failed URL pages",
        onPage: (o) => { state.failuresOffset = o; loadFailures(); },
      }) : "");
      notice(failMsg, "");
    } catch (err) {
      notice(failMsg, `Could not load the failed URLs: ${err.detail || err.message}`);
    }
  }
  const refreshFailures = throttle(loadFailures, 1000);

  function update(job) {
    state.crawl = job.crawl;
    render(job.crawl);
  }

  /**
   * Live counts from parent_job_progress; stats and documents follow within a second,
   * with the job page's next read of the job (update). The panel makes no read of its
   * own: with two, an older answer could land after a newer one.
   */
  function onProgress(counts) {
    if (!state.crawl) return;
    const budget = (state.crawl.skipped_by_reason || {}).budget || 0;
    render({ ...state.crawl, ...counts, discovered: counts.total + budget });
  }

  return {
    el, update, onProgress,
    destroy() { refreshFailures.cancel(); },
  };
}
