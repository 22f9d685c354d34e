// A small, safe markdown renderer for crawled documents: markdown text → DOM nodes.
//
// It builds elements with createElement and text with text nodes, never innerHTML, so
// nothing in a document can inject markup or script. Links keep only http(s) targets
// (relative ones resolved against the document's URL); images are shown as links, never
// loaded. Covers what quaero's crawler writes (quaero/crawler/markdown.py): ATX
// headings, paragraphs (a newline is a line break), nested - / 1. lists, fenced code
// blocks, blockquotes, GFM pipe tables, horizontal rules, `code`, **strong**, *em*,
// definition lists (term / ": definition"), ~~del~~, [links](url), ![images](url),
// <autolinks> and backslash escapes.

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
const HEADING = /^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])(?:\s+|$)(.*)$/;
const DEFINITION = /^: /;
const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
const PUNCT = /[!-/:-@[-`{-~]/;
const MAX_DEPTH = 20;
// how far a "[" looks for its "]" and "(" for its ")" (keeps long paragraphs linear)
const MAX_LINK = 4000;
const RUN = /`+|\*+|_+|~+/y;

/** Render markdown to a DocumentFragment; ``baseUrl`` resolves relative links. */
export function renderMarkdown(text, baseUrl) {
  const frag = document.createDocumentFragment();
  const lines = String(text || "").replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n");
  blocks(lines, frag, { base: baseUrl, depth: 0 });
  return frag;
}

/** An http(s) URL for ``href`` (resolved against ``base``), or null. */
export function safeUrl(href, base) {
  try {
    const url = new URL(String(href).trim(), base || undefined);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function nextNonBlank(lines, from) {
  for (let k = from; k < lines.length; k += 1) if (lines[k].trim()) return lines[k];
  return undefined;
}

/** The run of one delimiter character starting at ``i`` (``**``, ``` `` ```, ...). */
function runAt(text, i) {
  RUN.lastIndex = i;
  const m = RUN.exec(text);
  return m ? m[0] : text[i];
}

function el(tag, ...children) {
  const node = document.createElement(tag);
  for (const c of children) node.append(c);
  return node;
}

// ------------------------------------------------------------------------ blocks

function startsBlock(line, next) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) ||
    ITEM.test(line) || isTableStart(line, next) || DEFINITION.test(next || "");
}

function isTableStart(line, next) {
  return line.includes("|") && next !== undefined && next.includes("-") && TABLE_SEP.test(next);
}

function blocks(lines, parent, ctx) {
  if (ctx.depth > MAX_DEPTH) { // pathological nesting: the rest as plain text
    parent.append(el("p", lines.join("\n")));
    return;
  }
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) { i += 1; continue; }
    let m = line.match(FENCE);
    if (m) { i = codeBlock(lines, i, m, parent); continue; }
    m = line.match(HEADING);
    if (m) {
      parent.append(inlineInto(el(`h${m[1].length}`), m[2] || "", ctx));
      i += 1;
      continue;
    }
    if (RULE.test(line)) { parent.append(el("hr")); i += 1; continue; }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && lines[i].trim() && QUOTE.test(lines[i])) {
        inner.push(lines[i].replace(QUOTE, ""));
        i += 1;
      }
      const quote = el("blockquote");
      blocks(inner, quote, { ...ctx, depth: ctx.depth + 1 });
      parent.append(quote);
      continue;
    }
    if (isTableStart(line, lines[i + 1])) { i = table(lines, i, parent, ctx); continue; }
    if (ITEM.test(line)) { i = list(lines, i, parent, ctx); continue; }
    if (DEFINITION.test(lines[i + 1] || "")) { i = definitions(lines, i, parent, ctx); continue; }
    const para = [];
    while (i < lines.length && lines[i].trim() && (!para.length || !startsBlock(lines[i], lines[i + 1]))) {
      para.push(lines[i].trim());
      i += 1;
    }
    parent.append(inlineInto(el("p"), para.join("\n"), ctx));
  }
}

function codeBlock(lines, start, m, parent) {
  const fence = m[1];
  const body = [];
  let i = start + 1;
  while (i < lines.length) {
    const close = lines[i].trim();
    if (close.startsWith(fence[0].repeat(fence.length)) && /^(`+|~+)$/.test(close)) { i += 1; break; }
    body.push(lines[i]);
    i += 1;
  }
  const code = el("code", body.join("\n"));
  const lang = m[2].replace(/[^\w+#.-]/g, "").slice(0, 30);
  if (lang) {
    code.className = `language-${lang}`;
    code.dataset.lang = lang;
  }
  parent.append(el("pre", code));
  return i;
}

function list(lines, start, parent, ctx) {
  const first = lines[start].match(ITEM);
  const indent = first[1].length;
  const ordered = /\d/.test(first[2]);
  const listEl = el(ordered ? "ol" : "ul");
  if (ordered) {
    const n = parseInt(first[2], 10);
    if (n !== 1) listEl.setAttribute("start", String(n));
  }
  let i = start;
  while (i < lines.length) {
    const m = lines[i].match(ITEM);
    if (!m || m[1].length !== indent || /\d/.test(m[2]) !== ordered) break;
    const pad = indent + m[2].length + 1;
    const body = [m[3]];
    i += 1;
    // the item's continuation: lines indented past its marker, blank lines between them
    while (i < lines.length) {
      const line = lines[i];
      const lead = line.length - line.trimStart().length;
      if (!line.trim()) {
        const next = nextNonBlank(lines, i + 1);
        if (next === undefined || next.length - next.trimStart().length <= indent) break;
        body.push("");
      } else if (lead > indent) {
        body.push(line.slice(Math.min(lead, pad)));
      } else {
        break;
      }
      i += 1;
    }
    const li = el("li");
    blocks(body, li, { ...ctx, depth: ctx.depth + 1 });
    // a tight item: its one paragraph's content goes straight into the <li>
    if (li.firstElementChild && li.firstElementChild.tagName === "P" && !body.includes("")) {
      li.firstElementChild.replaceWith(...li.firstElementChild.childNodes);
    }
    listEl.append(li);
    while (i < lines.length && !lines[i].trim()) {
      const next = nextNonBlank(lines, i);
      const nm = next && next.match(ITEM);
      if (!nm || nm[1].length !== indent) break;
      i += 1;
    }
  }
  parent.append(listEl);
  return i;
}

// "term" lines, each followed by ": definition" (continued by lines indented 2 spaces);
// groups separated by blank lines
function definitions(lines, start, parent, ctx) {
  const dl = el("dl");
  let i = start;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      let k = i;
      while (k < lines.length && !lines[k].trim()) k += 1;
      if (k < lines.length && (DEFINITION.test(lines[k]) || DEFINITION.test(lines[k + 1] || ""))) {
        i = k;
        continue;
      }
      break;
    }
    if (DEFINITION.test(line)) {
      const body = [line.slice(2)];
      i += 1;
      while (i < lines.length && (lines[i].startsWith("  ") || (!lines[i].trim() && (lines[i + 1] || "").startsWith("  ")))) {
        body.push(lines[i].slice(2));
        i += 1;
      }
      const dd = el("dd");
      blocks(body, dd, { ...ctx, depth: ctx.depth + 1 });
      if (dd.childElementCount === 1 && dd.firstElementChild.tagName === "P") {
        dd.firstElementChild.replaceWith(...dd.firstElementChild.childNodes);
      }
      dl.append(dd);
    } else if (DEFINITION.test(lines[i + 1] || "")) {
      dl.append(inlineInto(el("dt"), line.trim(), ctx));
      i += 1;
    } else {
      break;
    }
  }
  parent.append(dl);
  return i;
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells = [];
  let cell = "";
  for (let k = 0; k < s.length; k += 1) {
    if (s[k] === "\\" && s[k + 1] === "|") { cell += "|"; k += 1; } else if (s[k] === "|") { cells.push(cell.trim()); cell = ""; } else cell += s[k];
  }
  cells.push(cell.trim());
  return cells;
}

function table(lines, start, parent, ctx) {
  const header = splitRow(lines[start]);
  const aligns = splitRow(lines[start + 1]).map((c) => {
    if (c.startsWith(":") && c.endsWith(":")) return "center";
    if (c.endsWith(":")) return "right";
    return c.startsWith(":") ? "left" : "";
  });
  const row = (cells, tag) => el("tr", ...header.map((_, k) => {
    const cell = inlineInto(el(tag), cells[k] || "", ctx);
    if (tag === "th") cell.setAttribute("scope", "col");
    if (aligns[k]) cell.style.textAlign = aligns[k];
    return cell;
  }));
  const body = el("tbody");
  let i = start + 2;
  while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
    body.append(row(splitRow(lines[i]), "td"));
    i += 1;
  }
  const wrap = el("div", el("table", el("thead", row(header, "th")), body));
  wrap.className = "md-table";
  parent.append(wrap);
  return i;
}

// ------------------------------------------------------------------------ inline

function inlineInto(parent, text, ctx) {
  inline(text, parent, ctx, 0);
  return parent;
}

function isCloser(text, j, delim) {
  const ch = delim[0];
  const partOfLongerRun = text[j + delim.length] === ch || text[j - 1] === ch;
  if (/\s/.test(text[j - 1] || " ") || text[j - 1] === "\\" || partOfLongerRun) return false;
  return ch !== "_" || !/\w/.test(text[j + delim.length] || "");
}

/**
 * The next `delim` after `from` that can close emphasis, or -1. Whether a position can
 * close does not depend on `from`, so the last answer per delimiter is remembered
 * (`memo`): a paragraph full of unclosed `*` stays linear.
 */
function closingRun(text, from, delim, memo) {
  const last = memo.get(delim);
  if (last && from >= last.from && (last.j < 0 || from < last.j)) return last.j;
  const j = findCloser(text, from, delim);
  memo.set(delim, { from, j });
  return j;
}

function findCloser(text, from, delim) {
  let k = from + 1;
  while (k < text.length) {
    const j = text.indexOf(delim, k);
    if (j < 0) return -1;
    if (isCloser(text, j, delim)) return j;
    k = j + 1;
  }
  return -1;
}

function matchBracket(text, open, lastClose) {
  if (open > lastClose) return -1; // no "]" after it at all
  let depth = 0;
  for (let k = open; k < Math.min(text.length, open + MAX_LINK); k += 1) {
    if (text[k] === "\\") { k += 1; continue; }
    if (text[k] === "[") depth += 1;
    else if (text[k] === "]") { depth -= 1; if (depth === 0) return k; }
  }
  return -1;
}

function linkTarget(text, at) {
  // "(url)" or "(url "title")" starting at `at`; balanced parentheses in the URL
  if (text[at] !== "(") return null;
  let depth = 0;
  for (let k = at; k < Math.min(text.length, at + MAX_LINK); k += 1) {
    if (text[k] === "(") depth += 1;
    else if (text[k] === ")") {
      depth -= 1;
      if (depth === 0) {
        const inner = text.slice(at + 1, k).trim();
        const url = inner.replace(/\s+"[^"]*"$/, "").replace(/^<(.*)>$/, "$1");
        return { url, end: k + 1 };
      }
    }
  }
  return null;
}

function link(href, ctx, children) {
  const url = safeUrl(href, ctx.base);
  if (!url) return null;
  const a = el("a", ...children);
  a.href = url;
  a.rel = "noopener noreferrer nofollow";
  return a;
}

function inline(text, parent, ctx, depth) {
  let buf = "";
  const flush = () => {
    if (!buf) return;
    const parts = buf.split("\n");
    parts.forEach((p, k) => {
      if (k) parent.append(el("br"));
      if (p) parent.append(document.createTextNode(p));
    });
    buf = "";
  };
  const nested = (tag, inner) => {
    const node = el(tag);
    if (depth < MAX_DEPTH) inline(inner, node, ctx, depth + 1);
    else node.textContent = inner;
    return node;
  };
  const memo = new Map(); // closingRun's answers
  const noCode = new Set(); // backtick runs with no closing run after some position
  const lastClose = text.lastIndexOf("]");
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === "\\" && PUNCT.test(text[i + 1] || "")) { buf += text[i + 1]; i += 2; continue; }
    if (ch === "`") {
      const run = runAt(text, i);
      const end = noCode.has(run) ? -1 : text.indexOf(run, i + run.length);
      if (end < 0) noCode.add(run);
      if (end > 0 && text[end + run.length] !== "`") {
        let code = text.slice(i + run.length, end).replace(/\n/g, " ");
        if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ")) code = code.slice(1, -1);
        flush();
        parent.append(el("code", code));
        i = end + run.length;
        continue;
      }
      buf += run;
      i += run.length;
      continue;
    }
    if (ch === "[" || (ch === "!" && text[i + 1] === "[")) {
      const open = ch === "!" ? i + 1 : i;
      const close = matchBracket(text, open, lastClose);
      const target = close > 0 ? linkTarget(text, close + 1) : null;
      if (target) {
        const label = text.slice(open + 1, close);
        const node = ch === "!"
          ? link(target.url, ctx, [`[image: ${label || "untitled"}]`])
          : link(target.url, ctx, [nested("span", label)]);
        flush();
        if (node) parent.append(node);
        else if (ch === "!") parent.append(document.createTextNode(label));
        else parent.append(nested("span", label));
        i = target.end;
        continue;
      }
    }
    if (ch === "<") {
      const m = text.slice(i, i + MAX_LINK).match(/^<(https?:\/\/[^\s<>]+)>/);
      const node = m && link(m[1], ctx, [m[1]]);
      if (node) { flush(); parent.append(node); i += m[0].length; continue; }
    }
    if (ch === "*" || ch === "_" || ch === "~") {
      const run = runAt(text, i);
      const delim = ch === "~" ? "~~" : run.length === 3 ? run : run.length === 2 ? run : ch;
      const intraword = ch === "_" && /\w/.test(text[i - 1] || "");
      const after = text[i + delim.length] || "";
      if ((ch !== "~" || run.length >= 2) && !intraword && after && !/\s/.test(after)) {
        const end = closingRun(text, i + delim.length - 1, delim, memo);
        if (end > 0) {
          const inner = text.slice(i + delim.length, end);
          flush();
          if (ch === "~") parent.append(nested("del", inner));
          else if (delim.length === 3) parent.append(el("strong", nested("em", inner)));
          else parent.append(nested(delim.length === 2 ? "strong" : "em", inner));
          i = end + delim.length;
          continue;
        }
      }
      buf += run;
      i += run.length;
      continue;
    }
    buf += ch;
    i += 1;
  }
  flush();
}
