// A small, dependency-free API reference rendered from /openapi.json (no CDN).

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

function schemaTable(spec, schema) {
  const s = resolve(spec, schema);
  if (!s.properties) return h("p", {}, h("code", {}, typeOf(spec, schema)));
  const required = new Set(s.required || []);
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Type"), h("th", {}, "Description"))),
    h("tbody", {}, Object.entries(s.properties).map(([name, p]) => h("tr", {},
      h("td", {}, h("code", {}, name), required.has(name) ? " *" : ""),
      h("td", {}, h("code", {}, typeOf(spec, p))),
      h("td", {}, p.description || (p.default !== undefined ? `default ${JSON.stringify(p.default)}` : ""))))));
}

function operation(spec, path, method, op) {
  const params = op.parameters || [];
  const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, "-");
  return h("section", { class: "card", id, "aria-labelledby": `${id}-title` },
    h("h3", { id: `${id}-title` }, h("span", { class: `badge method-${method}` }, method.toUpperCase()), " ",
      h("code", {}, path), " ", h("span", { class: "muted" }, op.summary || "")),
    op.description ? h("p", {}, op.description) : "",
    params.length ? h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", {}, "Parameter"), h("th", {}, "In"), h("th", {}, "Type"), h("th", {}, "Description"))),
      h("tbody", {}, params.map((p) => h("tr", {},
        h("td", {}, h("code", {}, p.name), p.required ? " *" : ""),
        h("td", {}, p.in),
        h("td", {}, h("code", {}, typeOf(spec, p.schema))),
        h("td", {}, p.description || (p.schema && p.schema.default !== undefined ? `default ${JSON.stringify(p.schema.default)}` : ""))))))) : "",
    body ? [h("h4", {}, "Request body (JSON)"), h("div", { class: "table-wrap" }, schemaTable(spec, body.schema))] : "",
    h("h4", {}, "Responses"),
    h("ul", {}, Object.entries(op.responses || {}).map(([code, r]) => {
      const content = r.content && r.content["application/json"];
      return h("li", {}, h("code", {}, code), " ", r.description || "",
        content && content.schema ? [" → ", h("code", {}, typeOf(spec, content.schema))] : "");
    })),
  );
}

async function main() {
  const box = document.getElementById("apidocs");
  try {
    const spec = await (await fetch("/openapi.json")).json();
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
      h("p", {}, `${spec.info.title} ${spec.info.version}. Errors are JSON {"detail": "..."}.`),
      ...[...byTag.entries()].map(([tag, ops]) => h("section", {}, h("h2", {}, tag), ...ops)),
      h("h2", {}, "Schemas"),
      ...schemas.map(([name, s]) => h("section", { class: "card", id: `schema-${name}` },
        h("h3", {}, name), s.description ? h("p", {}, s.description) : "",
        h("div", { class: "table-wrap" }, schemaTable(spec, s)))),
    );
  } catch (err) {
    box.textContent = `Could not load /openapi.json: ${err.message}`;
  }
}

main();
