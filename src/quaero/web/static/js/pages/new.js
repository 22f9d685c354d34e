// The "New job" form: a registered job type, a name and a JSON config.
//
// Job types may register a form of their own (the crawler adds one for "crawl"):
//   registerJobForm("crawl", {render(container) → {getConfig() → object,
//                                                   defaultName?() → string,
//                                                   showError?(serverDetail)}})
// getConfig may throw an Error whose message is shown as is. Types without a form get
// the generic JSON editor, prefilled from CONFIG_EXAMPLES.

import { api } from "../api.js";
import { h, notice } from "../util.js";

export const CONFIG_EXAMPLES = {
  fanout: { children: 200, child_config: { sleep_ms: 200 } },
  noop: { sleep_ms: 500 },
};

const customForms = new Map();

/** Use a dedicated form for a job type instead of the JSON editor. */
export function registerJobForm(jobType, form) {
  customForms.set(jobType, form);
}

/** The form page; ``title`` names it ("New crawl" when opened with ?type=crawl). */
export function newJobPage(view, _params, query, { title = "New job" } = {}) {
  const msg = h("div", { class: "messages" });
  const typeSelect = h("select", { id: "job-type", name: "job_type", required: true });
  const description = h("p", { class: "hint", id: "job-type-hint" });
  const name = h("input", { id: "job-name", name: "name", type: "text", maxlength: 500, placeholder: "optional" });
  const config = h("textarea", {
    id: "job-config", name: "config", rows: 10, spellcheck: "false", "aria-describedby": "config-hint",
  });
  const configField = h("div", { class: "field" },
    h("label", { for: "job-config" }, "Config (JSON object)"), config,
    h("p", { class: "hint", id: "config-hint" }, "Validated by the job type on submit."));
  const customBox = h("div", { class: "custom-form" });
  const submit = h("button", { type: "submit", class: "primary" }, "Start job");
  let custom = null;

  const form = h("form", { class: "card form", onsubmit: onSubmit, novalidate: true },
    h("div", { class: "field" },
      h("label", { for: "job-type" }, "Job type"), typeSelect, description),
    h("div", { class: "field" }, h("label", { for: "job-name" }, "Name"), name),
    customBox,
    configField,
    h("div", { class: "form-actions" }, submit, h("a", { href: "#/jobs" }, "Back to jobs")),
  );
  view.replaceChildren(h("div", { class: "page-head" }, h("h1", {}, title)), msg, form);

  let details = new Map();
  typeSelect.addEventListener("change", () => selectType(typeSelect.value));

  function selectType(type) {
    description.textContent = details.get(type) || "";
    customBox.replaceChildren();
    custom = null;
    const registered = customForms.get(type);
    if (registered) {
      custom = registered.render(customBox);
      configField.hidden = true;
    } else {
      configField.hidden = false;
      config.value = JSON.stringify(CONFIG_EXAMPLES[type] || {}, null, 2);
    }
  }

  async function onSubmit(event) {
    event.preventDefault();
    let cfg;
    try {
      cfg = custom ? custom.getConfig() : JSON.parse(config.value || "{}");
    } catch (err) {
      if (custom) {
        notice(msg, err.message);
        return;
      }
      notice(msg, `The config is not valid JSON: ${err.message}`);
      config.focus();
      return;
    }
    if (cfg === null || typeof cfg !== "object" || Array.isArray(cfg)) {
      notice(msg, "The config must be a JSON object, e.g. {\"children\": 100}.");
      return;
    }
    submit.disabled = true;
    try {
      const job = await api("/api/jobs", {
        method: "POST",
        body: {
          job_type: typeSelect.value,
          name: name.value.trim() || (custom && custom.defaultName ? custom.defaultName() : ""),
          config: cfg,
        },
      });
      window.location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      notice(msg, `Could not start the job: ${err.detail || err.message}`);
      if (custom && custom.showError && err.status === 422) custom.showError(err.detail);
    } finally {
      submit.disabled = false;
    }
  }

  (async () => {
    try {
      const types = await api("/api/job-types");
      details = new Map(types.details.map((d) => [d.name, d.description]));
      typeSelect.replaceChildren(...types.items.map((t) => h("option", { value: t }, t)));
      const wanted = query.get("type");
      typeSelect.value = wanted && details.has(wanted) ? wanted : (details.has("fanout") ? "fanout" : types.items[0]);
      selectType(typeSelect.value);
    } catch (err) {
      notice(msg, `Could not load job types: ${err.detail || err.message}`);
    }
  })();

  return { destroy() {} };
}
