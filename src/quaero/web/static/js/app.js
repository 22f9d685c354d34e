// The dashboard shell: navigation, hash routes, the connection indicator, the token dialog.
//
// A page is a function (view, match, query) → {destroy()} registered with a route.
// To add one: write pages/<noun>.js, import it here, call
// registerPage({path: "#/documents", pattern: /^#\/documents$/, title: "Documents", nav: true, render}).

import { setToken } from "./api.js";
import { apiDocsPage } from "./apidocs.js";
import { live } from "./live.js";
import { h } from "./util.js";
import "./pages/crawl.js"; // registers the "crawl" job form
import { documentPage, documentsPage } from "./pages/documents.js";
import { jobPage } from "./pages/job.js";
import { jobsPage } from "./pages/jobs.js";
import { newJobPage } from "./pages/new.js";
import { schedulesPage } from "./pages/schedules.js";
import { workersPage } from "./pages/workers.js";

const routes = [];

export function registerPage(route) {
  routes.push(route);
  renderNav();
}

registerPage({ path: "#/jobs", pattern: /^#\/(jobs)?$/, title: "Jobs", nav: true, ownLive: true, render: jobsPage });
registerPage({ path: "#/jobs/", pattern: /^#\/jobs\/(\d+)$/, title: "Job", ownLive: true, render: jobPage });
registerPage({ path: "#/new", pattern: /^#\/new$/, title: "New job", nav: true, render: newJobPage });
registerPage({
  path: "#/crawl/new", pattern: /^#\/crawl\/new$/, title: "New crawl", nav: true,
  render: (view, match) => newJobPage(view, match, new URLSearchParams("type=crawl"), { title: "New crawl" }),
});
registerPage({ path: "#/documents", pattern: /^#\/documents$/, title: "Documents", nav: true, render: documentsPage });
registerPage({ path: "#/documents/", pattern: /^#\/documents\/(\d+)$/, title: "Document", render: documentPage });
registerPage({ path: "#/schedules", pattern: /^#\/schedules$/, title: "Schedules", nav: true, ownLive: true, render: schedulesPage });
registerPage({ path: "#/workers", pattern: /^#\/workers$/, title: "Workers", nav: true, render: workersPage });
registerPage({ path: "#/api", pattern: /^#\/api$/, title: "API", nav: true, render: apiDocsPage });

const view = document.getElementById("view");
let current = null;

function renderNav() {
  const nav = document.getElementById("nav");
  if (!nav) return;
  const here = (window.location.hash || "#/jobs").split("?")[0];
  nav.replaceChildren(
    ...routes.filter((r) => r.nav).map((r) => h("a", {
      href: r.path,
      "aria-current": here === r.path || here.startsWith(`${r.path}/`) ? "page" : false,
    }, r.title)),
  );
}

function route() {
  const full = window.location.hash || "#/jobs";
  const [hash, qs] = full.split("?");
  const query = new URLSearchParams(qs || "");
  if (current && current.destroy) current.destroy();
  current = null;
  // the previous page's subscription (and its Live state) must not outlive it
  live.close();
  renderNav();
  for (const r of routes) {
    const match = hash.match(r.pattern);
    if (match) {
      document.title = `${r.title} · quaero`;
      current = r.render(view, match, query);
      // pages without a live stream of their own still show whether the server is live
      if (!r.ownLive) live.open({ filter: { types: ["job_created"], topLevel: true } });
      return;
    }
  }
  view.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/jobs" }, "Back to jobs")));
  live.open({ filter: { types: ["job_created"], topLevel: true } });
}

// ----------------------------------------------------------------- connection indicator
const conn = document.getElementById("conn");
const banner = document.getElementById("banner");
const LABELS = {
  idle: "Not connected",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Disconnected",
};
live.onState((state) => {
  conn.dataset.state = state;
  conn.textContent = LABELS[state] || state;
  const down = state === "offline" || state === "reconnecting";
  banner.hidden = !down;
  banner.textContent = down
    ? "Live updates are disconnected. Reconnecting; meanwhile the page refreshes every 5 seconds."
    : "";
});

// ----------------------------------------------------------------- API token
const dialog = document.getElementById("token-dialog");
const tokenInput = document.getElementById("token-input");
const tokenButton = document.getElementById("token-button");
window.addEventListener("quaero:auth-required", () => {
  tokenButton.hidden = false;
  if (!dialog.open) {
    tokenInput.value = "";
    dialog.showModal();
  }
});
tokenButton.addEventListener("click", () => dialog.showModal());
document.getElementById("token-cancel").addEventListener("click", () => dialog.close());
document.getElementById("token-form").addEventListener("submit", () => {
  setToken(tokenInput.value.trim());
  route();
});

// "/" focuses the page's search box (as on GitHub, GitLab...), unless typing already
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  const box = view.querySelector('input[type="search"]');
  if (!box) return;
  e.preventDefault();
  box.focus();
  box.select();
});

window.addEventListener("hashchange", route);
route();
