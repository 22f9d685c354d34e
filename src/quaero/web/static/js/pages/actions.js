// Cancel / Rerun / Delete buttons for a job (the jobs table and the job page share them).

import { api } from "../api.js";
import { TERMINAL, h } from "../util.js";

/**
 * Buttons for one job. onDone(kind, job) after success ("cancel", "rerun" with the new
 * job, "delete"); onError(message) on failure.
 */
export function jobActions(job, { compact = false, onDone = () => {}, onError = () => {} } = {}) {
  const active = !TERMINAL.has(job.status) || !TERMINAL.has(job.overall_status);
  const label = (verb) => `${verb} job ${job.id}${job.name ? ` (${job.name})` : ""}`;
  const run = async (button, kind, fn) => {
    button.disabled = true;
    try {
      const result = await fn();
      onDone(kind, result);
    } catch (err) {
      onError(`${kind} failed: ${err.detail || err.message}`);
    } finally {
      button.disabled = false;
    }
  };
  const cancel = h("button", {
    type: "button", class: "small", "aria-label": label("Cancel"), disabled: !active,
    onclick: () => {
      if (!window.confirm(`Cancel job ${job.id} and all its pending and running children?`)) return;
      run(cancel, "cancel", () => api(`/api/jobs/${job.id}/cancel`, { method: "POST" }));
    },
  }, "Cancel");
  const rerun = h("button", {
    type: "button", class: "small", "aria-label": label("Rerun"),
    onclick: () => run(rerun, "rerun", () => api(`/api/jobs/${job.id}/rerun`, { method: "POST" })),
  }, "Rerun");
  const del = h("button", {
    type: "button", class: "small danger", "aria-label": label("Delete"),
    onclick: () => {
      const question = active
        ? `Job ${job.id} is still running. Cancel it and delete it with all its children and logs?`
        : `Delete job ${job.id} with all its children and logs?`;
      if (!window.confirm(question)) return;
      run(del, "delete", () => api(`/api/jobs/${job.id}`, {
        method: "DELETE", params: active ? { cancel: "true" } : {},
      }));
    },
  }, "Delete");
  return h("div", { class: compact ? "actions compact" : "actions" }, cancel, rerun, del);
}
