// The job page's operator actions (issue "operate a job tree"): retry failed in place,
// bulk cancel / retry / delete on the filtered children, the Errors panel (error groups)
// and the Explain panel ("why isn't this done?").

import { api } from "../api.js";
import { TERMINAL, fmtNumber, fmtTime, h, notice, throttle } from "../util.js";

const plural = (n, one, many = `${one}s`) => `${fmtNumber(n)} ${n === 1 ? one : many}`;

/** "Retried 6 jobs; 2 matching jobs were not failed or cancelled (refused)." */
function bulkSentence(verb, r) {
  const refused = r.refused
    ? `; ${plural(r.refused, "matching job was", "matching jobs were")} left as they were (refused: the action does not apply to them)`
    : "";
  return `${verb} ${plural(r.changed, "job")} of ${plural(r.matched, "match", "matches")}${refused}.`;
}

/**
 * "Retry failed" and "Retry failed and cancelled": every such job of the tree, in place
 * (same ids; the parent reopens). The confirmation states how many, from the counters.
 */
export function retryButtons(id, { msg, onDone }) {
  const el = h("div", { class: "retry-actions", hidden: true });
  let counts = { failed: 0, cancelled: 0 };
  const run = async (button, children, n) => {
    const what = children === "failed" ? "failed" : "failed and cancelled";
    if (!window.confirm(`Retry ${plural(n, `${what} job`)} of this tree in place? They keep their ids; this job reopens and runs until they finish.`)) return;
    button.disabled = true;
    try {
      const r = await api(`/api/jobs/${id}/retry`, { method: "POST", body: { children } });
      notice(msg, bulkSentence("Retried", r), "ok");
      onDone();
    } catch (err) {
      notice(msg, `Retry failed: ${err.detail || err.message}`);
    } finally {
      button.disabled = false;
    }
  };
  const failedButton = h("button", {
    type: "button", class: "small", dataset: { testid: "retry-failed" },
    onclick: () => run(failedButton, "failed", counts.failed),
  });
  const bothButton = h("button", {
    type: "button", class: "small", dataset: { testid: "retry-failed-cancelled" },
    onclick: () => run(bothButton, "failed_and_cancelled", counts.failed + counts.cancelled),
  });
  el.append(failedButton, bothButton);
  return {
    el,
    /** The tree's counts (descendants, else children). */
    update(c) {
      counts = { failed: c.failed || 0, cancelled: c.cancelled || 0 };
      failedButton.textContent = `Retry ${fmtNumber(counts.failed)} failed`;
      bothButton.textContent = `Retry ${fmtNumber(counts.failed + counts.cancelled)} failed and cancelled`;
      failedButton.hidden = !counts.failed;
      bothButton.hidden = !counts.cancelled;
      el.hidden = !counts.failed && !counts.cancelled;
    },
  };
}

/**
 * Cancel / Retry / Delete for every child the list's filters match (all pages, not only
 * the one shown). filters() → {status, job_type, error_group, label, total}.
 */
export function bulkBar(id, { msg, filters, onDone }) {
  const info = h("span", { class: "bulk-info muted" });
  const result = h("div", { class: "bulk-result", role: "status", "aria-live": "polite" });
  const VERBS = { cancel: ["Cancel", "Cancelled"], retry: ["Retry", "Retried"], delete: ["Delete", "Deleted"] };
  const buttons = Object.entries(VERBS).map(([action, [verb, done]]) => {
    const b = h("button", {
      type: "button", class: action === "delete" ? "small danger" : "small", dataset: { action },
      onclick: async () => {
        const f = filters();
        const what = `${plural(f.total, "child", "children")}${f.label ? ` (${f.label})` : ""}`;
        const extra = action === "delete" ? " with their subtrees and logs" : "";
        if (!window.confirm(`${verb} the ${what}${extra}?`)) return;
        for (const x of buttons) x.disabled = true;
        try {
          const body = {};
          if (f.status) body.status = [f.status];
          if (f.job_type) body.job_type = f.job_type;
          if (f.error_group) body.error_group = f.error_group;
          const r = await api(`/api/jobs/${id}/children/${action}`, { method: "POST", body });
          notice(result, bulkSentence(done, r), "ok");
          onDone(action, r);
        } catch (err) {
          notice(result, `${verb} refused: ${err.detail || err.message}`);
        } finally {
          for (const x of buttons) x.disabled = false;
        }
      },
    }, `${verb} all`);
    return b;
  });
  const row = h("div", { class: "bulk-row" }, info, h("div", { class: "actions" }, buttons));
  const el = h("div", { class: "bulk-bar" }, row, result);
  // an action that empties its own list (cancel every running child) keeps its result
  // in sight: the buttons go, the sentence stays until the filters change
  const show = () => {
    const f = filters();
    row.hidden = !f.total;
    el.hidden = !f.total && !result.childElementCount;
  };
  return {
    el,
    result,
    update() {
      const f = filters();
      info.textContent = `${plural(f.total, "matching child", "matching children")}${f.label ? ` (${f.label})` : ""}:`;
      for (const b of buttons) {
        b.setAttribute("aria-label", `${b.textContent} ${plural(f.total, "matching child", "matching children")}`);
      }
      show();
    },
    clear() {
      notice(result, "");
      show();
    },
  };
}

/**
 * The Errors panel: the tree's failures grouped by error (key, count, last seen), each
 * with "Retry this group" and "View samples" (the children filtered by that group).
 */
export function errorsPanel(id, { msg, onView, onDone }) {
  const body = h("tbody");
  const table = h("table", { class: "errors-table", "aria-label": "Error groups" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Error group"),
      h("th", { scope: "col", class: "col-num" }, "Failed"),
      h("th", { scope: "col", class: "col-time col-optional" }, "Last seen"),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
    body);
  const el = h("section", { class: "card errors-card", "aria-labelledby": "errors-title", hidden: true },
    h("h2", { id: "errors-title" }, "Errors"),
    h("p", { class: "hint" }, "Failed jobs of this tree, grouped by error (numbers, ids and URLs masked)."),
    h("div", { class: "table-wrap" }, table));
  let groups = [];

  async function retryGroup(g, button) {
    if (!window.confirm(`Retry the ${plural(g.count, "failed job")} of error group “${g.key}” in place?`)) return;
    button.disabled = true;
    try {
      const r = await api(`/api/jobs/${id}/children/retry`, {
        method: "POST", body: { error_group: g.key, status: ["failed"], subtree: true },
      });
      notice(msg, `${bulkSentence("Retried", r)} (error group “${g.key}”)`, "ok");
      onDone();
    } catch (err) {
      notice(msg, `Retry failed: ${err.detail || err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  function row(g) {
    const retry = h("button", { type: "button", class: "small", "aria-label": `Retry error group ${g.key}` }, "Retry this group");
    retry.addEventListener("click", () => retryGroup(g, retry));
    return h("tr", { dataset: { key: g.key } },
      h("td", { class: "error-key" }, h("code", {}, g.key),
        g.sample_job_ids.length
          ? h("span", { class: "samples muted" }, " e.g. ", g.sample_job_ids.slice(0, 3).flatMap((sid, i) => [
            i ? ", " : "", h("a", { href: `#/jobs/${sid}` }, `#${sid}`)]))
          : ""),
      h("td", { class: "col-num error-count" }, fmtNumber(g.count)),
      h("td", { class: "col-time col-optional" }, fmtTime(g.last_seen)),
      h("td", {}, h("div", { class: "actions" },
        retry,
        h("button", {
          type: "button", class: "small", "aria-label": `View samples of error group ${g.key}`,
          onclick: () => onView(g.key),
        }, "View samples"))));
  }

  // reads answer in any order: one older than the groups shown is not shown
  const reads = { issued: 0, shown: 0 };
  async function load() {
    const mine = ++reads.issued;
    let items;
    try {
      items = (await api(`/api/jobs/${id}/errors`, { params: { limit: 50 } })).items;
    } catch (err) {
      if (err.status !== 404) notice(msg, `Could not load the error groups: ${err.detail || err.message}`);
      return;
    }
    if (mine < reads.shown) return;
    reads.shown = mine;
    groups = items;
    body.replaceChildren(...groups.map(row));
    el.hidden = !groups.length;
  }

  return { el, load, refresh: throttle(load, 3000), groups: () => groups };
}

/** The Explain panel: GET /api/jobs/{id}/explain, its sentences and the numbers behind them. */
export function explainPanel(id) {
  const summary = h("ul", { class: "explain-summary", dataset: { testid: "explain-summary" } });
  const facts = h("dl", { class: "details explain-facts" });
  const stamp = h("span", { class: "muted explain-stamp" });
  const title = h("h2", { id: "explain-title" }, "Why isn't this done?");
  const button = h("button", { type: "button", class: "small", onclick: () => load() }, "Refresh");
  const el = h("section", { class: "card explain-card", "aria-labelledby": "explain-title" },
    h("div", { class: "section-head" },
      title,
      h("div", { class: "inline-field" }, stamp, button)),
    summary, facts);
  let busy = false;

  function render(x) {
    summary.replaceChildren(...x.summary.map((s) => h("li", {}, s)));
    el.classList.toggle("explain-done", x.done);
    title.textContent = x.done ? "Why it is done" : "Why isn't this done?";
    const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
    const out = [];
    const w = x.workers;
    out.push(...row("Workers", `${fmtNumber(w.live)} live of ${fmtNumber(w.registered)} registered` +
      (w.job_types.length ? ` · serving ${w.job_types.join(", ")}` : "")));
    if (x.handler) {
      const hd = x.handler;
      out.push(...row("Own handler", `attempt ${hd.attempt} of ${hd.max_attempts} on ${hd.worker_id || "?"}` +
        ` (${hd.worker_live ? "live" : "not live"}${hd.lease_expired ? ", lease expired" : ""})`));
    }
    const p = x.children && x.children.pending;
    if (p) {
      // counts read in an index stop at a cap: "at least" / "at most" where not exact,
      // and no "at least 0 not due" (nothing counted says nothing)
      const due = p.due === null ? `at most ${fmtNumber(p.count - p.not_due)}` : fmtNumber(p.due);
      const notDue = p.exact ? `, ${fmtNumber(p.not_due)} not due` : p.not_due ? `, at least ${fmtNumber(p.not_due)} not due` : "";
      out.push(...row("Pending children", `${fmtNumber(p.count)} (${due} due now${notDue})` +
        (p.next_available_at ? ` (next at ${fmtTime(p.next_available_at)})` : "")));
      if (p.by_type.length) {
        out.push(...row("By type", h("ul", { class: "plain" }, p.by_type.map((t) => h("li", { class: t.served ? "" : "unserved" },
          h("code", {}, t.job_type), ` ${t.exact ? "" : "at least "}${fmtNumber(t.count)} ${t.served ? "· served" : "· no live worker serves this type"}`)))));
        if (!p.types_complete) out.push(...row("", "more types not listed"));
      }
    }
    const r = x.children && x.children.running;
    if (r) {
      out.push(...row("Running children", `${fmtNumber(r.count)} (${fmtNumber(r.handlers_running)} in their handlers, ` +
        `${fmtNumber(r.waiting_for_children)} waiting for their own children` +
        (r.expired_leases ? `, ${fmtNumber(r.expired_leases)} with an expired lease` : "") + ")"));
    }
    facts.replaceChildren(...out);
    stamp.textContent = `as of ${fmtTime(x.generated_at)}`;
  }

  let again = false;
  async function load() {
    // a change that arrives while a read is in flight asks once more when it ends, so
    // the answer never stays older than the page's last progress event
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    button.disabled = true;
    try {
      do {
        again = false;
        try {
          render(await api(`/api/jobs/${id}/explain`));
        } catch (err) {
          summary.replaceChildren(h("li", { class: "error-text" }, `Could not explain: ${err.detail || err.message}`));
        }
      } while (again);
    } finally {
      busy = false;
      button.disabled = false;
    }
  }

  // live progress asks again, at most every 5 s; a finished job's answer stays
  const refresh = throttle(load, 5000);
  return {
    el,
    load,
    onProgress(status) {
      if (!TERMINAL.has(status) || !el.classList.contains("explain-done")) refresh();
    },
    destroy() {
      refresh.cancel();
    },
  };
}
