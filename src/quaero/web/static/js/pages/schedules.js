// The Schedules page (#/schedules): the job definitions (jobs/*.toml) with their schedule,
// next start and last run; run now, enable / disable, edit, create and delete. Every
// change goes through /api/definitions, and its validation message is shown as the API
// words it.

import { api } from "../api.js";
import { live } from "../live.js";
import { badge, debounce, fmtTime, h, notice } from "../util.js";

const ID_RE = /^[a-z0-9_-]+$/;

/** "in 3 h 5 min", "in 40 s", "2 min ago". */
export function relative(iso, now = Date.now()) {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const d = Math.round((t - now) / 1000);
  const a = Math.abs(d);
  let text;
  if (a < 60) text = `${a} s`;
  else if (a < 3600) text = `${Math.round(a / 60)} min`;
  else if (a < 172800) text = `${Math.floor(a / 3600)} h ${Math.round((a % 3600) / 60)} min`;
  else text = `${Math.round(a / 86400)} days`;
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

export function schedulesPage(view) {
  const msg = h("div", { class: "messages" });
  const tbody = h("tbody");
  const table = h("table", { class: "schedules-table", "aria-label": "Job definitions" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Definition"),
      h("th", { scope: "col", class: "col-type" }, "Type"),
      h("th", { scope: "col" }, "Schedule"),
      h("th", { scope: "col" }, "Next start"),
      h("th", { scope: "col" }, "Last run"),
      h("th", { scope: "col" }, "Enabled"),
      h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
    )),
    tbody);
  const tableWrap = h("div", { class: "table-wrap" }, table);
  const empty = h("div", { class: "empty", hidden: true });
  const errors = h("section", { class: "card", "aria-labelledby": "def-errors-title", hidden: true });
  const where = h("p", { class: "hint" });
  const editor = h("section", { class: "card", "aria-labelledby": "def-form-title", hidden: true });
  const newButton = h("button", { type: "button", class: "primary", onclick: () => openEditor(null) }, "New definition");
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Schedules"), h("div", { class: "page-head-actions" }, newButton)),
    where, msg, editor, empty, tableWrap, errors,
  );
  let types = [];

  function row(d, detail) {
    const last = detail && detail.last_run;
    const active = detail && detail.active_run_id;
    const toggle = h("input", {
      type: "checkbox", class: "switch", checked: d.enabled, id: `def-enabled-${d.id}`,
      "aria-label": `Schedule of ${d.name} enabled`, disabled: !d.schedule,
      title: d.schedule ? "" : "No schedule: it runs only by hand",
    });
    toggle.addEventListener("change", () => setEnabled(d, toggle));
    return h("tr", { dataset: { definitionId: d.id } },
      h("td", { class: "col-name" },
        h("strong", {}, d.name), h("span", { class: "muted def-id" }, ` ${d.id}`),
        d.description ? h("span", { class: "hint def-description" }, d.description) : ""),
      h("td", { class: "col-type", dataset: { label: "Type" } }, d.job_type),
      h("td", { dataset: { label: "Schedule" } }, d.schedule ? [h("code", {}, d.schedule), h("span", { class: "hint" }, ` ${d.timezone}`)] : h("span", { class: "muted" }, "by hand only")),
      h("td", { class: "next-cell", dataset: { label: "Next start" } }, d.next_run_at
        ? [fmtTime(d.next_run_at), h("span", { class: "hint" }, ` (${relative(d.next_run_at)})`)]
        : h("span", { class: "muted" }, d.schedule && !d.enabled ? "disabled" : "—")),
      h("td", { class: "last-cell", dataset: { label: "Last run" } }, last
        ? [h("a", { href: `#/jobs/${last.id}` }, `#${last.id}`), " ", badge(last.overall_status), " ",
          h("span", { class: "hint" }, fmtTime(last.created_at))]
        : h("span", { class: "muted" }, "never ran"),
        active && (!last || active !== last.id) ? h("span", { class: "hint" }, " · running ", h("a", { href: `#/jobs/${active}` }, `#${active}`)) : ""),
      h("td", { dataset: { label: "Enabled" } }, toggle),
      h("td", { class: "actions-cell" }, h("div", { class: "actions" },
        h("button", { type: "button", class: "small", "aria-label": `Run ${d.name} now`, onclick: (e) => runNow(d, e.currentTarget) }, "Run now"),
        h("button", { type: "button", class: "small", "aria-label": `Edit ${d.name}`, onclick: () => openEditor(d) }, "Edit"),
        h("button", { type: "button", class: "small danger", "aria-label": `Delete ${d.name}`, onclick: () => remove(d) }, "Delete"))),
    );
  }

  async function runNow(d, button) {
    button.disabled = true;
    try {
      const res = await api(`/api/definitions/${encodeURIComponent(d.id)}/execute`, { method: "POST" });
      notice(msg, h("span", {}, `Started ${d.name}: `, h("a", { href: `#/jobs/${res.job_id}` }, `job #${res.job_id}`), "."), "ok");
      load();
    } catch (err) {
      notice(msg, `Could not run ${d.name}: ${err.detail || err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  function bodyOf(d, changes = {}) {
    return {
      job_type: d.job_type, name: d.name, description: d.description || "", config: d.config,
      schedule: d.schedule, timezone: d.timezone, enabled: d.enabled, ...changes,
    };
  }

  async function setEnabled(d, toggle) {
    toggle.disabled = true;
    try {
      await api(`/api/definitions/${encodeURIComponent(d.id)}`, { method: "PUT", body: bodyOf(d, { enabled: toggle.checked }) });
      notice(msg, `${d.name}: schedule ${toggle.checked ? "enabled" : "disabled"}.`, "ok");
      load();
    } catch (err) {
      toggle.checked = !toggle.checked;
      notice(msg, `Could not change ${d.name}: ${err.detail || err.message}`);
    } finally {
      toggle.disabled = false;
    }
  }

  async function remove(d) {
    if (!window.confirm(`Delete the definition ${d.name} (${d.id}.toml)? Its runs stay in the job list.`)) return;
    try {
      await api(`/api/definitions/${encodeURIComponent(d.id)}`, { method: "DELETE" });
      notice(msg, `Deleted ${d.name}.`, "ok");
      load();
    } catch (err) {
      notice(msg, `Could not delete ${d.name}: ${err.detail || err.message}`);
    }
  }

  function openEditor(d) {
    const editing = Boolean(d);
    notice(msg, "");
    const formMsg = h("div", { class: "messages" });
    const field = (id, label, control, hint) => h("div", { class: "field" },
      h("label", { for: id }, label), control, hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : "");
    const idInput = h("input", {
      id: "def-id", type: "text", required: true, value: d ? d.id : "", disabled: editing, pattern: "[a-z0-9_-]+",
      "aria-describedby": "def-id-hint", autocomplete: "off",
    });
    const nameInput = h("input", { id: "def-name", type: "text", value: d ? d.name : "", maxlength: 500 });
    const typeSelect = h("select", { id: "def-type" }, types.map((t) => h("option", { value: t, selected: d && d.job_type === t }, t)));
    const scheduleInput = h("input", {
      id: "def-schedule", type: "text", value: d && d.schedule ? d.schedule : "", placeholder: "0 3 * * *",
      "aria-describedby": "def-schedule-hint", autocomplete: "off", spellcheck: "false",
    });
    const tzInput = h("input", { id: "def-timezone", type: "text", value: d ? d.timezone : "UTC", spellcheck: "false" });
    const enabledBox = h("input", { id: "def-enabled", type: "checkbox", checked: d ? d.enabled : true });
    const descInput = h("input", { id: "def-description", type: "text", value: d ? d.description : "" });
    const configInput = h("textarea", { id: "def-config", rows: 8, spellcheck: "false" }, JSON.stringify(d ? d.config : {}, null, 2));
    const save = h("button", { type: "submit", class: "primary" }, editing ? "Save" : "Create");
    const form = h("form", { class: "form", novalidate: true },
      h("h2", { id: "def-form-title" }, editing ? `Edit ${d.name}` : "New definition"),
      formMsg,
      h("div", { class: "field-grid" },
        field("def-id", "Id", idInput, "The file name: a-z, 0-9, _ and -."),
        field("def-name", "Name", nameInput),
        field("def-type", "Job type", typeSelect)),
      h("div", { class: "field-grid" },
        field("def-schedule", "Schedule (cron)", scheduleInput, "minute hour day-of-month month day-of-week, or @daily; empty: by hand only."),
        field("def-timezone", "Time zone", tzInput),
        h("div", { class: "field field-check" }, h("span", { class: "inline-field" }, enabledBox, h("label", { for: "def-enabled" }, "Enabled")))),
      field("def-description", "Description", descInput),
      field("def-config", "Config (JSON object)", configInput),
      h("div", { class: "form-actions" }, save,
        h("button", { type: "button", onclick: () => { editor.hidden = true; editor.replaceChildren(); newButton.focus(); } }, "Cancel")),
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const id = editing ? d.id : idInput.value.trim();
      if (!ID_RE.test(id)) {
        notice(formMsg, "The id may use only a-z, 0-9, _ and - (it is the file name).");
        idInput.focus();
        return;
      }
      let config;
      try {
        config = JSON.parse(configInput.value || "{}");
      } catch (err) {
        notice(formMsg, `The config is not valid JSON: ${err.message}`);
        configInput.focus();
        return;
      }
      save.disabled = true;
      try {
        await api(`/api/definitions/${encodeURIComponent(id)}`, {
          method: "PUT",
          body: {
            job_type: typeSelect.value, name: nameInput.value.trim() || null, description: descInput.value,
            config, schedule: scheduleInput.value.trim() || null, timezone: tzInput.value.trim() || "UTC",
            enabled: enabledBox.checked,
          },
        });
        editor.hidden = true;
        editor.replaceChildren();
        notice(msg, `Saved ${id}.`, "ok");
        load();
      } catch (err) {
        // the API's own sentence (bad cron, unknown type, config refused by the type...)
        notice(formMsg, err.detail || err.message);
      } finally {
        save.disabled = false;
      }
    });
    editor.replaceChildren(form);
    editor.hidden = false;
    (editing ? nameInput : idInput).focus();
  }

  let loading = null;
  async function load() {
    const mine = {};
    loading = mine;
    try {
      const [list, jobTypes] = await Promise.all([api("/api/definitions"), types.length ? null : api("/api/job-types")]);
      if (jobTypes) types = jobTypes.items;
      const details = await Promise.all(list.items.map((d) => api(`/api/definitions/${encodeURIComponent(d.id)}`).catch(() => null)));
      if (loading !== mine) return;
      where.textContent = `Definitions are the TOML files in ${list.directory}; a schedule starts a run of one at its next start time.`;
      tbody.replaceChildren(...list.items.map((d, i) => row(d, details[i])));
      tableWrap.hidden = list.items.length === 0;
      empty.hidden = list.items.length > 0;
      empty.replaceChildren(
        h("h2", {}, "No job definitions yet"),
        h("p", {}, "A definition is a saved job with an optional schedule (cron)."),
        h("button", { type: "button", class: "primary", onclick: () => openEditor(null) }, "Create one"),
      );
      errors.hidden = list.errors.length === 0;
      errors.replaceChildren(
        h("h2", { id: "def-errors-title" }, "Files that could not be loaded"),
        h("ul", {}, list.errors.map((e) => h("li", {}, h("code", {}, e.file), ": ", h("span", { class: "error-text" }, e.error)))),
      );
    } catch (err) {
      notice(msg, `Could not load the definitions: ${err.detail || err.message}`);
    }
  }
  const reload = debounce(load, 500);

  load();
  live.open({
    filter: { types: ["job_created", "job_status_change", "job_deleted"], topLevel: true },
    onEvent: reload,
    onResync: reload,
    poll: reload,
  });
  // next start times move on: refresh the relative times each minute
  const ticker = setInterval(load, 60000);
  return { destroy() { live.close(); reload.cancel(); clearInterval(ticker); } };
}
