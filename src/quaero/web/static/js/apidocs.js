// The API page (#/api): the guide (docs/api.md, served at /docs/api.md, rendered with the
// documents' markdown renderer) and the reference generated from /openapi.json, with a
// table of contents. No CDN; descriptions written in reST (``code``, :func:`x`) are
// rendered, never shown raw.

import { renderMarkdown } from "./markdown.js";
import { api } from "./api.js";
import { h } from "./util.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

function resolve(spec, schema) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 10; i += 1) {
    s = s.$ref.split("/").slice(1).reduce((o, k) => (o ? o[k] : undefined), spec) || {};
  }
  return s;
}

function typeOf(spec, schema) {
  const s = resolve(spec, schema);
  if (schema && schema.$ref) return schema.$ref.split("/").pop();
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).join(" | ");
  if (s.type === "array") return `${typeOf(spec, s.items)}[]`;
  return s.type || "any";
}

/** Inline reST: ``literal``, `x`, :role:`x`, **strong**, *em* → nodes (text only, no HTML). */
export function restInline(text) {
  const out = [];
  const re = /``(.+?)``|:[a-z]+:`~?([^`]+)`|`([^`]+)`|\*\*(.+?)\*\*|\*([^*\s][^*]*)\*/g;
  let last = 0;
  for (const m of String(text).matchAll(re)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("code", {}, m[1]));
    else if (m[2] !== undefined) out.push(h("code", {}, m[2].split(".").pop()));
    else if (m[3] !== undefined) out.push(h("code", {}, m[3]));
    else if (m[4] !== undefined) out.push(h("strong", {}, m[4]));
    else out.push(h("em", {}, m[5]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/** A reST docstring → paragraphs and "- " lists; "::" blocks as code. */
export function restBlocks(text) {
  const nodes = [];
  const paras = String(text || "").replace(/\r\n?/g, "\n").split(/\n\s*\n/);
  let literalNext = false;
  for (const raw of paras) {
    const para = raw.replace(/^\n+|\s+$/g, "");
    if (!para) continue;
    if (literalNext) {
      nodes.push(h("pre", { class: "code" }, para.replace(/^ {4}/gm, "")));
      literalNext = false;
      continue;
    }
    let body = para;
    if (/::$/.test(body)) {
      literalNext = true;
      body = body.replace(/::$/, ":").replace(/ :$/, "");
    }
    const lines = body.split("\n").map((l) => l.trim());
    if (lines.every((l) => /^[-*] /.test(l) || !l)) {
      nodes.push(h("ul", {}, lines.filter(Boolean).map((l) => h("li", {}, restInline(l.slice(2))))));
    } else {
      nodes.push(h("p", {}, restInline(lines.join(" "))));
    }
  }
  return nodes;
}

function schemaTable(spec, schema) {
  const s = resolve(spec, schema);
  if (!s.properties) return h("p", {}, h("code", {}, typeOf(spec, schema)));
  const required = new Set(s.required || []);
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Type"), h("th", {}, "Description"))),
    h("tbody", {}, Object.entries(s.properties).map(([name, p]) => h("tr", {},
      h("td", {}, h("code", {}, name), required.has(name) ? " *" : ""),
      h("td", {}, h("code", {}, typeOf(spec, p))),
      h("td", {}, p.description ? restInline(p.description) : (p.default !== undefined ? `default ${JSON.stringify(p.default)}` : ""))))));
}

function anchor(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

function operation(spec, path, method, op) {
  const params = op.parameters || [];
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  const id = anchor(`${method}-${path}`);
  return h("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    h("h3", { id: `${id}-title` }, h("span", { class: `badge method-${method}` }, method.toUpperCase()), " ",
      h("code", {}, path), " ", h("span", { class: "muted" }, op.summary || "")),
    op.description ? h("div", { class: "op-description" }, restBlocks(op.description)) : "",
    params.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), h("th", {}, "In"), h("th", {}, "Type"), h("th", {}, "Description"))),
      h("tbody", {}, params.map((p) => h("tr", {},
        h("td", {}, h("code", {}, p.name), p.required ? " *" : ""),
        h("td", {}, p.in),
        h("td", {}, h("code", {}, typeOf(spec, p.schema))),
        h("td", {}, p.description ? restInline(p.description)
          : (p.schema && p.schema.default !== undefined ? `default ${JSON.stringify(p.schema.default)}` : ""))))))) : "",
    body ? [h("h4", {}, "Request body (JSON)"), h("div", { class: "table-wrap" }, schemaTable(spec, body.schema))] : "",
    h("h4", {}, "Responses"),
    h("ul", {}, Object.entries(op.responses || {}).map(([code, r]) => {
      const content = r.content && r.content["application/json"];
      return h("li", {}, h("code", {}, code), " ", r.description || "",
        content && content.schema ? [" → ", h("code", {}, typeOf(spec, content.schema))] : "");
    })),
  );
}

/** Give every h2/h3 of ``root`` an id and return a nested table of contents for them. */
function tocFor(root, prefix) {
  const list = h("ol", { class: "toc-list" });
  let sub = null;
  for (const el of root.querySelectorAll("h2, h3")) {
    if (!el.id) el.id = `${prefix}-${anchor(el.textContent)}`;
    const item = h("li", {}, h("a", { href: `#/api?at=${encodeURIComponent(el.id)}`, dataset: { target: el.id } }, el.textContent));
    if (el.tagName === "H2" || !sub) {
      list.append(item);
      sub = h("ol", {});
      item.append(sub);
    } else {
      sub.append(item);
    }
  }
  for (const ol of list.querySelectorAll("ol")) if (!ol.childElementCount) ol.remove();
  return list;
}

/**
 * Join hard-wrapped lines into their paragraph or list item (docs/api.md wraps at ~90
 * columns; the renderer keeps a newline as a line break). Code fences, tables, headings
 * and quotes are left as they are.
 */
export function unwrap(text) {
  const out = [];
  let fence = false;
  for (const line of String(text).replace(/\r\n?/g, "\n").split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) {
      fence = !fence;
      out.push(line);
      continue;
    }
    const prev = out.length ? out[out.length - 1] : "";
    const startsBlock = /^\s*([-*+] |\d+[.)] |#|>|\||: |$)/.test(line);
    const prevJoinable = !fence && prev.trim() !== "" && !/^\s*(#|\||```|~~~|>)/.test(prev);
    if (!fence && !startsBlock && prevJoinable) out[out.length - 1] = `${prev.replace(/\s+$/, "")} ${line.trim()}`;
    else out.push(line);
  }
  return out.join("\n");
}

async function loadGuide(box) {
  const response = await fetch("/docs/api.md", { headers: { Accept: "text/markdown" } });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const text = await response.text();
  box.replaceChildren(renderMarkdown(unwrap(text), `${window.location.origin}/`));
  // the guide's own "# quaero API" heading is the section's
  const first = box.querySelector("h1");
  if (first) first.remove();
}

async function loadReference(box) {
  const spec = await api("/openapi.json");
  const byTag = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(spec, path, method, item[method]));
    }
  }
  const schemas = Object.entries((spec.components && spec.components.schemas) || {})
    .filter(([name]) => !name.startsWith("HTTPValidation") && name !== "ValidationError");
  box.replaceChildren(
    h("p", {}, `${spec.info.title} ${spec.info.version}. Errors are JSON {"detail": "..."}. `,
      "Machine-readable: ", h("a", { href: "/openapi.json" }, "/openapi.json"), "."),
    ...[...byTag.entries()].map(([tag, ops]) => h("section", {}, h("h2", { class: "tag-title" }, tag), ...ops)),
    h("h2", {}, "Schemas"),
    ...schemas.map(([name, s]) => h("section", { class: "card", id: `schema-${name}` },
      h("h3", {}, name), s.description ? h("div", {}, restBlocks(s.description)) : "",
      h("div", { class: "table-wrap" }, schemaTable(spec, s)))),
  );
}

/** The #/api page. ``?at=<id>`` scrolls to a heading (hash routes leave no room for #id). */
export function apiDocsPage(view, _match, query) {
  const guide = h("div", { class: "markdown api-guide", id: "guide", "aria-live": "polite" }, "Loading the guide…");
  const reference = h("div", { id: "reference", "aria-live": "polite" }, "Loading /openapi.json…");
  const toc = h("nav", { class: "toc card", "aria-label": "Contents" }, h("h2", {}, "Contents"));
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "API")),
    h("p", { class: "hint" }, "The REST API and the WebSocket protocol: the guide (",
      h("a", { href: "/docs/api.md" }, "docs/api.md"), "), then every endpoint from ",
      h("a", { href: "/openapi.json" }, "/openapi.json"), "."),
    h("div", { class: "apidocs" },
      toc,
      h("div", { class: "apidocs-body" },
        h("section", { "aria-labelledby": "guide-title" }, h("h2", { id: "guide-title", class: "part-title" }, "Guide"), guide),
        h("section", { "aria-labelledby": "reference-title" }, h("h2", { id: "reference-title", class: "part-title" }, "Reference"), reference))),
  );
  toc.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-target]");
    if (!a) return;
    e.preventDefault();
    const el = document.getElementById(a.dataset.target);
    if (el) {
      el.scrollIntoView({ block: "start" });
      el.setAttribute("tabindex", "-1");
      el.focus({ preventScroll: true });
      history.replaceState(null, "", a.getAttribute("href"));
    }
  });

  (async () => {
    const results = await Promise.allSettled([loadGuide(guide), loadReference(reference)]);
    if (results[0].status === "rejected") guide.textContent = `Could not load /docs/api.md: ${results[0].reason.message}`;
    if (results[1].status === "rejected") {
      const err = results[1].reason;
      reference.textContent = `Could not load /openapi.json: ${err.detail || err.message}`;
    }
    toc.replaceChildren(h("h2", {}, "Contents"),
      h("p", { class: "toc-part" }, "Guide"), tocFor(guide, "guide"),
      h("p", { class: "toc-part" }, "Reference"), tocFor(reference, "ref"));
    const at = query && query.get("at");
    const target = at && document.getElementById(at);
    if (target) target.scrollIntoView({ block: "start" });
  })();

  return { destroy() {} };
}
