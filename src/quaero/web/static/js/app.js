// The dashboard shell: navigation, hash routes, the connection indicator, the token dialog.
//
// A page is a function (view, match, query) → {destroy()} registered with a route.
// To add one: write pages/<noun>.js, import it here, call
// registerPage({path: "#/documents", pattern: /^#\/documents$/, title: "Documents", nav: true, render}).

import { setToken } from "./api.js";
import { live } from "./live.js";
import { h } from "./util.js";
import "./pages/crawl.js"; // registers the "crawl" job form
import { documentPage, documentsPage } from "./pages/documents.js";
import { jobPage } from "./pages/job.js";
import { jobsPage } from "./pages/jobs.js";
import { newJobPage } from "./pages/new.js";

const routes = [];

export function registerPage(route) {
  routes.push(route);
  renderNav();
}

registerPage({ path: "#/jobs", pattern: /^#\/(jobs)?$/, title: "Jobs", nav: true, render: jobsPage });
registerPage({ path: "#/jobs/", pattern: /^#\/jobs\/(\d+)$/, title: "Job", render: jobPage });
registerPage({ path: "#/new", pattern: /^#\/new$/, title: "New job", nav: true, render: newJobPage });
registerPage({
  path: "#/crawl/new", pattern: /^#\/crawl\/new$/, title: "New crawl", nav: true,
  render: (view, match) => newJobPage(view, match, new URLSearchParams("type=crawl"), { title: "New crawl" }),
});
registerPage({ path: "#/documents", pattern: /^#\/documents$/, title: "Documents", nav: true, render: documentsPage });
registerPage({ path: "#/documents/", pattern: /^#\/documents\/(\d+)$/, title: "Document", render: documentPage });

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
    h("a", { href: "/docs" }, "API"),
  );
}

function route() {
  const full = window.location.hash || "#/jobs";
  const [hash, qs] = full.split("?");
  const query = new URLSearchParams(qs || "");
  if (current && current.destroy) current.destroy();
  current = null;
  renderNav();
  for (const r of routes) {
    const match = hash.match(r.pattern);
    if (match) {
      document.title = `${r.title} · quaero`;
      current = r.render(view, match, query);
      return;
    }
  }
  view.replaceChildren(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "#/jobs" }, "Back to jobs")));
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
  conn.hidden = state === "idle"; // pages without a live stream (forms) show nothing
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

window.addEventListener("hashchange", route);
route();
