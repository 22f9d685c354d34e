// The documents page: search (live as you type) or the newest documents, optionally of
// one crawl (#/documents?job_id=12), paginated; and one document with its markdown
// rendered (#/documents/5).

import { api } from "../api.js";
import { renderMarkdown, safeUrl } from "../markdown.js";
import { debounce, fmtNumber, fmtTime, h, notice, pager } from "../util.js";

const PAGE_SIZE = 20;
const BACK_KEY = "quaero.documentsHash";

/** Where "← Documents" goes: the list (search, crawl, page) last shown in this tab. */
function documentsHash() {
  try {
    const hash = sessionStorage.getItem(BACK_KEY);
    if (hash && hash.startsWith("#/documents")) return hash;
  } catch {
    /* storage off: the plain list */
  }
  return "#/documents";
}

function rememberDocumentsHash(hash) {
  try {
    sessionStorage.setItem(BACK_KEY, hash);
  } catch {
    /* storage off */
  }
}

/** "6 links on the page, 2 of them new pages for the crawl" (what links_* mean). */
export function linksText(found, followed) {
  if (!found) return "No links on the page.";
  const links = `${fmtNumber(found)} link${found === 1 ? "" : "s"} on the page`;
  if (!followed) return `${links}; none added to the crawl (already queued, out of scope, too deep or over the page budget).`;
  if (followed === found) return `${links}; all added to the crawl as new pages.`;
  return `${links}; ${fmtNumber(followed)} added to the crawl as new pages, the rest already queued, out of scope, too deep or over the page budget.`;
}

/**
 * A search snippet as nodes: the server sends escaped text with matches in <mark>.
 * It is split on the <mark> tags and unescaped into text nodes (never innerHTML).
 */
export function snippetNodes(snippetHtml) {
  const unescape = (s) => s.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (_, e) => (
    { amp: "&", lt: "<", gt: ">", quot: "\"", "#x27": "'", "#39": "'" }[e]));
  const out = [];
  String(snippetHtml || "").split(/(<mark>.*?<\/mark>)/s).forEach((part) => {
    const m = part.match(/^<mark>(.*)<\/mark>$/s);
    if (m) out.push(h("mark", {}, unescape(m[1])));
    else if (part) out.push(unescape(part));
  });
  return out;
}

function externalLink(url, text) {
  const safe = safeUrl(url);
  return safe
    ? h("a", { href: safe, class: "doc-url", rel: "noopener noreferrer nofollow" }, text || url)
    : h("span", { class: "doc-url" }, text || url);
}

export function documentsPage(view, _params, query) {
  const state = {
    q: query.get("q") || "",
    jobId: Number(query.get("job_id")) || null,
    offset: Number(query.get("offset")) || 0,
  };
  const msg = h("div", { class: "messages" });
  const status = h("p", { class: "stats", role: "status", "aria-live": "polite" });
  const results = h("ol", { class: "doc-results", "aria-label": "Documents" });
  const pagerBox = h("div");
  const input = h("input", {
    id: "doc-q", type: "search", name: "q", value: state.q, autocomplete: "off", "aria-keyshortcuts": "/",
    placeholder: "Words to search for…", "aria-describedby": "doc-q-hint",
  });
  const live = debounce(() => setQuery(input.value), 300);
  input.addEventListener("input", live);
  const form = h("form", {
    class: "filters doc-search", role: "search",
    onsubmit: (e) => { e.preventDefault(); live.cancel(); setQuery(input.value); },
  },
  h("label", { for: "doc-q" }, "Search documents"), input,
  h("button", { type: "submit", class: "primary" }, "Search"),
  h("span", { class: "hint", id: "doc-q-hint" }, "Every word must match; titles rank higher."));
  const scope = h("p", { class: "crumbs" });
  const empty = h("div", { class: "empty", hidden: true });
  view.replaceChildren(
    h("div", { class: "page-head" }, h("h1", {}, "Documents")),
    scope, form, msg, status, empty, results, pagerBox,
  );

  function setQuery(value) {
    const q = value.trim();
    if (q === state.q) return;
    state.q = q;
    state.offset = 0;
    syncUrl();
    load();
  }

  function syncUrl() {
    const p = new URLSearchParams();
    if (state.q) p.set("q", state.q);
    if (state.jobId) p.set("job_id", String(state.jobId));
    if (state.offset) p.set("offset", String(state.offset));
    const hash = `#/documents${p.toString() ? `?${p}` : ""}`;
    rememberDocumentsHash(hash);
    if (window.location.hash !== hash) history.replaceState(null, "", hash);
  }

  function renderScope() {
    scope.replaceChildren();
    if (!state.jobId) return;
    scope.append(
      "Documents of crawl ", h("a", { href: `#/jobs/${state.jobId}` }, `#${state.jobId}`), " · ",
      h("a", { href: "#/documents" }, "all documents"),
    );
  }

  function hitItem(hit) {
    return h("li", { class: "doc-result", dataset: { documentId: hit.id } },
      h("h2", {}, h("a", { href: `#/documents/${hit.id}` }, hit.title || hit.url)),
      externalLink(hit.url),
      h("p", { class: "snippet" }, ...snippetNodes(hit.snippet_html)));
  }

  function docItem(doc) {
    return h("li", { class: "doc-result", dataset: { documentId: doc.id } },
      h("h2", {}, h("a", { href: `#/documents/${doc.id}` }, doc.title || doc.url)),
      externalLink(doc.url),
      h("p", { class: "hint" },
        `${fmtNumber(doc.word_count)} words · fetched ${fmtTime(doc.fetched_at)}`,
        doc.description ? ` · ${doc.description}` : ""));
  }

  let loading = null;
  async function load() {
    const mine = {};
    loading = mine;
    renderScope();
    try {
      const page = await api("/api/documents", {
        params: { q: state.q, job_id: state.jobId, limit: PAGE_SIZE, offset: state.offset },
      });
      if (loading !== mine) return;
      notice(msg, "");
      results.replaceChildren(...page.items.map(state.q ? hitItem : docItem));
      const n = fmtNumber(page.total);
      status.textContent = state.q
        ? `${n} result${page.total === 1 ? "" : "s"} for “${state.q}”`
        : `${n} document${page.total === 1 ? "" : "s"}${state.jobId ? "" : ", newest first"}`;
      empty.hidden = page.total > 0;
      empty.replaceChildren();
      if (!page.total && state.q) {
        status.textContent = `No results for “${state.q}”`;
        empty.append(
          h("p", {}, `No document${state.jobId ? ` of crawl #${state.jobId}` : ""} contains every word of “${state.q}”. ` +
            "Try fewer or other words."),
          h("button", { type: "button", class: "primary", onclick: () => { input.value = ""; setQuery(""); input.focus(); } },
            "Clear the search"),
          state.jobId ? [" ", h("a", { class: "button", href: `#/documents?q=${encodeURIComponent(state.q)}` }, "Search all documents")] : "",
        );
      } else if (!page.total) {
        status.textContent = state.jobId ? `Crawl #${state.jobId} has saved no documents yet.` : "No documents yet.";
        empty.append(
          h("p", {}, state.jobId ? "Its pages may still be running, or they all failed." : "Documents are the pages a crawl saves."),
          h("a", { class: "button primary", href: state.jobId ? `#/jobs/${state.jobId}` : "#/crawl/new" },
            state.jobId ? `Open crawl #${state.jobId}` : "Start a crawl"),
        );
      }
      pagerBox.replaceChildren(page.total > PAGE_SIZE ? pager({
        offset: state.offset, limit: PAGE_SIZE, total: page.total, label: "Result pages",
        onPage: (o) => { state.offset = o; syncUrl(); load(); window.scrollTo(0, 0); },
      }) : "");
    } catch (err) {
      if (loading !== mine) return;
      results.replaceChildren();
      pagerBox.replaceChildren();
      status.textContent = "";
      notice(msg, err.status === 422 ? `Cannot search for that: ${err.detail}` : `Could not load documents: ${err.detail || err.message}`);
    }
  }

  syncUrl();
  load();
  if (!state.q) input.focus();
  return { destroy() { live.cancel(); } };
}

export function documentPage(view, params) {
  const id = Number(params[1]);
  const msg = h("div", { class: "messages" });
  const head = h("div", { class: "page-head" }, h("h1", {}, `Document ${id}`));
  const meta = h("dl", { class: "details" });
  const body = h("article", { class: "markdown", "aria-labelledby": "doc-title" });
  const source = h("pre", { class: "code markdown-source", tabindex: 0, hidden: true });
  const toggle = h("button", {
    type: "button", class: "small", "aria-pressed": "false",
    onclick: () => {
      const showSource = source.hidden;
      source.hidden = !showSource;
      body.hidden = showSource;
      toggle.setAttribute("aria-pressed", String(showSource));
      toggle.textContent = showSource ? "Show rendered" : "Show markdown source";
    },
  }, "Show markdown source");
  view.replaceChildren(
    h("p", { class: "crumbs" }, h("a", { href: documentsHash(), class: "back-documents" }, "← Documents")),
    head, msg,
    h("section", { class: "card", "aria-label": "About this document" }, meta),
    h("section", { class: "card doc-body" },
      h("div", { class: "section-head" }, h("h2", {}, "Content"), toggle), body, source),
  );

  (async () => {
    try {
      const doc = await api(`/api/documents/${id}`);
      document.title = `${doc.title || doc.url} · quaero`;
      head.replaceChildren(h("h1", { id: "doc-title" }, doc.title || doc.url));
      const row = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
      meta.replaceChildren(
        ...row("URL", externalLink(doc.url)),
        ...(doc.description ? row("Description", doc.description) : []),
        ...row("Fetched", fmtTime(doc.fetched_at)),
        ...row("Words", fmtNumber(doc.word_count)),
        ...(doc.language ? row("Language", doc.language) : []),
        ...row("Links", linksText(doc.links_found, doc.links_followed)),
        ...(doc.status_code ? row("HTTP status", String(doc.status_code)) : []),
        ...row("Crawls", doc.job_ids.length
          ? doc.job_ids.flatMap((j, k) => [k ? ", " : "", h("a", { href: `#/jobs/${j}` }, `#${j}`)])
          : "—"),
      );
      body.replaceChildren(renderMarkdown(doc.markdown, doc.url));
      source.textContent = doc.markdown;
    } catch (err) {
      notice(msg, err.status === 404 ? `Document ${id} does not exist.` : `Could not load document ${id}: ${err.detail || err.message}`);
    }
  })();

  return { destroy() {} };
}
