// Tributary's web console: hash-routed pages over the JSON API, signed in with a session
// cookie. The server decides everything (roles, validation); this file only shows what the
// API answers. Text is always set with textContent, never as HTML.

const state = { me: null, csrf: "", timer: null };
const roles = { viewer: 1, operator: 2, admin: 3 };
const can = (role) => state.me && roles[state.me.role] >= roles[role];

// h builds an element: h("a", {href: "#/"}, "text", child…). Attributes starting with "on"
// are listeners; other values are set as attributes; children are strings or nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function when(t) { return t ? new Date(t).toLocaleString() : "—"; }
function duration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  return s < 120 ? s.toFixed(1) + " s" : Math.round(s / 60) + " min";
}
function status(s) { return h("span", { class: "status " + s }, s); }
function counts(c) { return Object.entries(c || {}).map(([k, v]) => k + " " + v).join(", ") || "—"; }

function toast(msg, bad, link) {
  const el = h("div", { class: bad ? "bad" : "" }, msg, link ? [" ", link] : []);
  document.getElementById("toast").append(el);
  setTimeout(() => el.remove(), 8000);
}

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || "HTTP " + status);
    this.status = status;
    this.body = body && body.error;
  }
}

async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (resp.status === 401 && path !== "/api/v1/session") {
    state.me = null;
    location.hash = "#/login";
    throw new APIError(401, data);
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

function page(title, ...content) {
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...content);
  document.title = title + " · Tributary";
}

function failed(err) {
  page("Something went wrong", h("p", { class: "error" }, err.message));
}

// ---- sign-in ----
function loginPage(reason) {
  document.getElementById("top").hidden = true;
  const err = h("p", { class: "field-error", id: "token-error", role: "alert" }, reason || "");
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-error" });
  const form = h("form", { class: "login", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    try {
      const s = await api("POST", "/api/v1/session", { token: input.value.trim() });
      signedIn(s);
      location.hash = "#/";
    } catch (x) {
      err.textContent = x.status === 429 ? "Too many failed attempts; wait a minute." : "That token is not valid (unknown, expired or revoked).";
    }
  } },
  h("h1", {}, "Sign in to Tributary"),
  h("label", { for: "token" }, "API token", input), err,
  h("p", { class: "muted" }, "Create one with tributary-migrate token NAME, or ask an admin. The console keeps it in an HttpOnly session cookie for 12 hours."),
  h("button", { type: "submit", id: "signin" }, "Sign in"));
  document.getElementById("main").replaceChildren(form);
  input.focus();
}

function signedIn(s) {
  state.me = s;
  state.csrf = s.csrf_token;
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = s.name + " (" + s.role + ")";
}

// ---- overview ----
async function overviewPage() {
  const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
  const [tasks, conns] = await Promise.all([api("GET", "/api/v1/tasks"), api("GET", "/api/v1/connectors")]);
  const byStatus = {};
  let cursor = "", n = 0;
  for (let i = 0; i < 10; i++) { // at most 2,000 runs of the last day
    const p = await api("GET", "/api/v1/runs?limit=200&started_after=" + encodeURIComponent(since) + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    for (const r of p.items) { byStatus[r.status] = (byStatus[r.status] || 0) + 1; n++; }
    if (!p.next_cursor) break;
    cursor = p.next_cursor;
  }
  const max = Math.max(1, ...Object.values(byStatus));
  page("Overview",
    h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "n" }, tasks.items.length), h("div", { class: "l" }, "integration tasks")),
      h("div", { class: "card" }, h("div", { class: "n" }, conns.items.length), h("div", { class: "l" }, "connectors")),
      h("div", { class: "card" }, h("div", { class: "n" }, n), h("div", { class: "l" }, "runs in the last 24 hours")),
      h("div", { class: "card" }, h("div", { class: "n", id: "failed-24h" }, byStatus.failed || 0), h("div", { class: "l" }, "failed in the last 24 hours"))),
    h("h2", {}, "Runs by status, last 24 hours"),
    n === 0 ? h("p", { class: "muted" }, "No runs in the last 24 hours.") :
      h("div", { class: "bars", role: "img", "aria-label": "Runs by status" }, Object.entries(byStatus).sort().map(([s, c]) =>
        h("div", { class: "bar" }, h("a", { href: "#/runs?status=" + s }, s),
          h("div", { class: "fill " + s, style: null, "data-w": c / max }), h("span", {}, c)))));
  // widths without inline style attributes (the policy allows no inline styles)
  for (const f of document.querySelectorAll(".fill[data-w]")) f.style.width = (100 * f.dataset.w).toFixed(1) + "%";
}

// ---- runs ----
function runsTable(items) {
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Started", "Subject", "Type", "Trigger", "Status", "Duration", "Counts"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, items.map((r) => h("tr", {},
      h("td", {}, h("a", { href: "#/runs/" + r.id }, when(r.started_at))),
      h("td", {}, r.subject_name), h("td", {}, r.task_type || r.kind.replace("connector_", "")), h("td", {}, r.trigger),
      h("td", {}, status(r.status)), h("td", {}, duration(r.duration_ms)), h("td", {}, counts(r.counts))))));
}

async function runsPage(params) {
  const q = new URLSearchParams(params);
  const items = await api("GET", "/api/v1/runs?" + q.toString());
  const sel = (name, opts) => h("select", { name, id: "f-" + name }, h("option", { value: "" }, "any"),
    opts.map((o) => h("option", { value: o, selected: params.get(name) === o }, o)));
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const f = new URLSearchParams();
    for (const [k, v] of new FormData(e.target)) if (v) f.set(k, v);
    location.hash = "#/runs?" + f.toString();
  } },
  h("label", {}, "Status", sel("status", ["running", "succeeded", "failed", "skipped", "cancelled", "timed_out"])),
  h("label", {}, "Kind", sel("kind", ["task", "connector_discover", "connector_sync"])),
  h("label", {}, "Trigger", sel("trigger", ["scheduled", "manual", "api"])),
  params.get("task_id") ? h("input", { type: "hidden", name: "task_id", value: params.get("task_id") }) : null,
  params.get("connector_id") ? h("input", { type: "hidden", name: "connector_id", value: params.get("connector_id") }) : null,
  h("button", { type: "submit" }, "Filter"));
  const more = items.next_cursor ? h("p", {}, h("a", { href: "#/runs?" + (() => { const n = new URLSearchParams(params); n.set("cursor", items.next_cursor); return n.toString(); })() }, "Older runs →")) : null;
  page("Runs", form, items.items.length ? runsTable(items.items) : h("p", { class: "muted" }, "No runs match."), more);
}

async function runPage(id) {
  let r;
  try {
    r = await api("GET", "/api/v1/runs/" + encodeURIComponent(id));
    state.waited = 0;
  } catch (x) {
    // A run just started is recorded by its workflow a moment later: wait for it a while.
    if (x.status !== 404 || (state.waited = (state.waited || 0) + 1) > 30) throw x;
    page("Run", h("p", { class: "muted", id: "run-waiting" }, "Starting the run…"));
    state.timer = setTimeout(() => { if (location.hash === "#/runs/" + id) route(); }, 1000);
    return;
  }
  const kv = (k, v) => [h("dt", {}, k), h("dd", {}, v)];
  const parts = [h("dl", { class: "kv" },
    kv("Status", h("span", { id: "run-status" }, status(r.status))),
    kv("Subject", r.task_id ? h("a", { href: "#/runs?task_id=" + r.task_id }, r.subject_name) : h("a", { href: "#/runs?connector_id=" + r.connector_id }, r.subject_name)),
    kv("Kind / type", r.kind + (r.task_type ? " · " + r.task_type : "")),
    kv("Trigger", r.trigger + (r.triggered_by ? " by " + r.triggered_by : "")),
    kv("Started", when(r.started_at)), kv("Ended", when(r.ended_at)), kv("Duration", duration(r.duration_ms)),
    kv("Attempt", r.attempt), kv("Counts", counts(r.counts)),
    kv("Temporal", r.temporal_ui_url ? h("a", { href: r.temporal_ui_url, target: "_blank", rel: "noopener" }, r.workflow_id) : r.workflow_id))];
  if (r.error) parts.push(h("h2", {}, "Error"), h("pre", { class: "error", id: "run-error" }, r.error));
  if (r.status === "running") {
    const p = r.progress;
    const hb = (p && p.heartbeat) || {};
    const done = hb.done ?? hb.entries ?? hb.rows ?? hb.stored;
    const total = hb.total;
    parts.push(h("h2", {}, "Progress"),
      p ? h("div", { id: "progress" },
        total > 0 ? h("progress", { max: total, value: Math.min(done || 0, total) }) : null,
        h("p", {}, [hb.phase, done !== undefined ? done + (total ? " of " + total : "") : "",
          "activity " + p.activity + " (" + p.state + ", attempt " + p.attempt + ")",
          p.last_heartbeat_at ? "last heartbeat " + when(p.last_heartbeat_at) : ""].filter(Boolean).join(" · ")),
        p.last_failure ? h("p", { class: "error" }, "Previous attempt: " + p.last_failure) : null)
        : h("p", { class: "muted" }, "Waiting for a worker…"));
    // refresh until the run ends, without reloading the page
    state.timer = setTimeout(() => { if (location.hash === "#/runs/" + id) route(); }, 1500);
  }
  if (r.details && Object.keys(r.details).length) parts.push(h("h2", {}, "Details"), h("pre", {}, JSON.stringify(r.details, null, 2)));
  page("Run of " + r.subject_name, ...parts);
}

// ---- tasks ----
async function startRun(path, button) {
  button.disabled = true;
  try {
    const t = await api("POST", path);
    location.hash = "#/runs/" + t.run_id;
  } catch (x) {
    button.disabled = false;
    if (x.status === 409 && x.body && x.body.running_run_id) {
      toast("Already running.", true, h("a", { href: "#/runs/" + x.body.running_run_id }, "See the running run"));
    } else toast(x.message, true);
  }
}

async function tasksPage() {
  const tasks = await api("GET", "/api/v1/tasks");
  page("Integration tasks", tasks.items.length === 0 ? h("p", { class: "muted" }, "No tasks yet.") :
    h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Type", "Schedule", "Enabled", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, tasks.items.map((t) => h("tr", { "data-task": t.name },
        h("td", {}, h("a", { href: "#/runs?task_id=" + t.id }, t.name)), h("td", {}, t.type),
        h("td", {}, t.schedule ? t.schedule + (t.timezone && t.timezone !== "UTC" ? " (" + t.timezone + ")" : "") : "—"),
        h("td", {}, t.enabled ? "yes" : "no"),
        h("td", {}, can("operator") ? h("button", { type: "button", class: "run-now", onclick: (e) => startRun("/api/v1/tasks/" + t.id + "/runs", e.target) }, "Run now") : null))))));
}

// ---- connectors ----
async function connectorsPage() {
  const conns = await api("GET", "/api/v1/connectors");
  page("Connectors", conns.items.length === 0 ? h("p", { class: "muted" }, "No connectors yet.") :
    h("table", {},
      h("thead", {}, h("tr", {}, ["Name", "Tool", "Server", "Schedules", "Enabled", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, conns.items.map((c) => h("tr", { "data-connector": c.name },
        h("td", {}, h("a", { href: "#/runs?connector_id=" + c.id }, c.name)), h("td", {}, c.tool_type), h("td", {}, c.base_url),
        h("td", {}, "discover " + (c.discover_schedule || "—") + " · sync " + (c.sync_schedule || "—")),
        h("td", {}, c.enabled ? "yes" : "no"),
        h("td", {}, can("operator") ? h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary discover", onclick: (e) => startRun("/api/v1/connectors/" + c.id + "/discover", e.target) }, "Discover"),
          h("button", { type: "button", class: "secondary sync", onclick: (e) => startRun("/api/v1/connectors/" + c.id + "/sync", e.target) }, "Sync")) : null))))));
}

// ---- routing ----
// One page is built at a time: a hash change while a page loads is taken up once it is done,
// so a slow page never replaces a later one.
let routing = null, again = false;
async function route() {
  if (routing) { again = true; return; }
  routing = (async () => { do { again = false; await routeOnce(); } while (again); })();
  try { await routing; } finally { routing = null; }
}

async function routeOnce() {
  clearTimeout(state.timer);
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  if (path === "/login") return loginPage();
  if (!state.me) {
    try { signedIn(await api("GET", "/api/v1/session")); } catch { return loginPage(); }
  }
  for (const a of document.querySelectorAll("header nav a")) {
    const target = a.getAttribute("href").slice(1);
    a.classList.toggle("active", target === "/" ? path === "/" : path.startsWith(target));
  }
  try {
    if (path === "/") await overviewPage();
    else if (path === "/runs") await runsPage(params);
    else if (path.startsWith("/runs/")) await runPage(path.slice(6));
    else if (path === "/tasks") await tasksPage();
    else if (path === "/connectors") await connectorsPage();
    else page("Not found", h("p", {}, "No such page."));
  } catch (x) {
    if (x.status !== 401) failed(x);
  }
}

document.getElementById("signout").addEventListener("click", async () => {
  try { await api("DELETE", "/api/v1/session"); } catch { /* signed out anyway */ }
  state.me = null;
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
